"""Edit and continue (docs/ARCHITECTURE.md §2): the RunManager's continue_run, continue_offer and plans, for
either executor (the run goes back to the queue with a launch that starts it from its checkpoint)."""

from __future__ import annotations

from pathlib import Path

import torch

from builder.analysis.validate import analyze
from builder.spec.spec import GraphSpec
from engine.compile.fx_module import compile_analysis
from engine.errors import BundleError, ConfigError, NetCanvasError
from engine.runs.bundle import META_FILE
from engine.runs.checkpoint import CarryPlan, checkpoint_shapes, checkpoint_spec, model_shapes, plan_carry, spec_ops
from engine.runs.run_checks import refusal
from engine.runs.store import to_json
from engine.train.config import TrainConfig
from engine.train.pipeline import planned_epochs_of
from engine.train.rule_card import stored_config

STOP_WAIT_SECONDS = 60.0


class ContinueRuns:
    """Mixed into RunManager: it has store, queue, check, checked_config, status, stop, wait and _watch."""

    def continue_run(self, run_id: str, spec: GraphSpec, config: TrainConfig | None = None) -> CarryPlan:
        """Continue a paused, stopped, interrupted or finished run with a (possibly edited) network and settings:
        it joins the end of the queue (SessionFull when its owner has no room for another active run)."""
        record = self.status(run_id)
        if record is None:
            raise ConfigError(f"there is no run '{run_id}' to continue")
        if record.waiting:
            raise ConfigError(f"run '{run_id}' has not started yet (it is in the queue); resume or stop it instead")
        if record.status in ("queued", "running"):
            raise ConfigError(f"run '{run_id}' is {record.status}; pause or stop it before continuing")
        if config is None:
            config, _ = TrainConfig.from_dict(record.config)
        self.queue.check_session(record.owner, excluding=run_id)
        if record.status == "paused":
            self.stop(run_id)
            record = self.wait(run_id, STOP_WAIT_SECONDS)
        bundle = self.store.bundle_dir(run_id)
        if not (bundle / META_FILE).is_file():
            why = f"it was {record.status} before one was saved"
            raise ConfigError(f"run '{run_id}' has no checkpoint to continue from ({why})")
        step, epoch = int(record.progress.get("step", 0)), int(record.progress.get("epoch", 0))
        self.check(spec, self.checked_config(config))
        plan = self.plan(run_id, spec)  # BundleError when the checkpoint cannot be read
        why = refusal(record, spec, config, plan)
        if why:
            raise ConfigError(f"run '{run_id}' cannot be continued: {why}")
        changed = spec.to_dict() != checkpoint_spec(bundle)
        message = f"continuing from step {step}: {plan.summary()}"
        launch = {"weights_from": str(bundle), "resume": True}
        # the old plan's total and speed are not this one's: the worker writes them when it starts
        progress = {**record.progress, "epochs": planned_epochs_of(spec, config), "total_steps": None}
        progress.update(steps_per_s=None, eta_s=None)
        self.queue.requeue(
            run_id,
            record.owner,
            message,
            launch,
            spec=spec.to_dict(),
            config=stored_config(spec.to_dict(), config.to_dict()),  # the settings its rule reads
            ended=None,
            progress=to_json(progress),  # requeue's columns go in as they are
        )
        self.store.add_edit(
            run_id, step, epoch, {**plan.to_dict(), "graph_changed": changed, "summary": plan.summary()}
        )
        self._watch()
        return plan

    def continue_offer(self, run_id: str, spec: GraphSpec, config: TrainConfig) -> tuple[CarryPlan | None, str]:
        """(what continuing `run_id` with `spec` and `config` would keep, "") when it may be continued: the same
        data, more epochs than it has trained, and at least one node that keeps its trained weights; else
        (None, why not) in one line. Checks neither its status nor its checkpoint (continue_run does)."""
        record = self.status(run_id)
        if record is None:
            return None, f"there is no run '{run_id}'"
        try:
            plan = self.plan(record.id, spec)
        except NetCanvasError as err:
            return None, str(err)
        why = refusal(record, spec, config, plan)
        return (None, why) if why else (plan, "")

    def plan(self, run_id: str, spec: GraphSpec) -> CarryPlan:
        """What continuing `run_id` with `spec` would keep, without starting anything."""
        return self.plan_from(self.store.bundle_dir(run_id), spec, f"the checkpoint of run '{run_id}'")

    def plan_from(self, bundle: Path, spec: GraphSpec, what: str | None = None) -> CarryPlan:
        """Which nodes of `spec` would take their weights from the bundle directory `bundle`."""
        with torch.device("meta"):  # shapes only: no weights allocated in the app's process
            new_shapes = model_shapes(compile_analysis(analyze(spec)))
        try:
            old_ops, old_shapes = spec_ops(checkpoint_spec(bundle)), checkpoint_shapes(bundle)
        except Exception as err:  # a missing, truncated or foreign file: safetensors, OSError, JSON, KeyError
            raise BundleError(f"{what or f'bundle {bundle}'} cannot be read ({type(err).__name__}: {err})") from None
        return plan_carry(old_ops, old_shapes, spec_ops(spec), new_shapes)

"""A run's counters, counted one way everywhere: whole epochs finished (the trainer's `epoch`), over the whole
run and per phase. The worker writes them into the run's progress, the trainer into its final metrics; the
Train page's Run tab and Your runs, the Export page and the CLI print them with `counter_text`.

    phases = phase_counts(trainer.plan(), trainer.epoch)
    counter_text(phases)   # "fine-tuning 7 / 15 · pretraining done 20 / 20"; one phase: "7 / 15 epochs"

A run stopped part-way through an epoch counts the epochs it finished: "stopped at step 1,234 in epoch 8,828
(8,827 / 40,000 epochs done)", and 8,827 is what every counter shows.
"""

from __future__ import annotations

LABELS = {"train": "training", "pretrain": "pretraining", "finetune": "fine-tuning", "module": "module"}


def phase_counts(plan: list, done: int) -> list[dict]:
    """[{"label", "layer", "epochs", "done"}] per phase of `plan` (engine.train.trainer_base.Phase), `done`
    whole epochs into the run; a DSN's modules are labelled "module 1", "module 2", ..."""
    counts, first = [], 0
    for phase in plan:
        label = LABELS.get(phase.name, phase.name)
        if phase.name == "module":
            label = f"module {phase.index}"
        finished = max(0, min(phase.epochs, done - first))
        counts.append({"label": label, "layer": phase.layer, "epochs": phase.epochs, "done": finished})
        first += phase.epochs
    return counts


def _groups(phases: list[dict]) -> list[dict]:
    """The phases of one label together (a DBN's RBMs are one "pretraining"), in order of first appearance."""
    groups: dict[str, dict] = {}
    for p in phases:
        group = groups.setdefault(p["label"], {"label": p["label"], "epochs": 0, "done": 0, "layer": None})
        group["epochs"] += p["epochs"]
        group["done"] += p["done"]
        if group["layer"] is None and p["done"] < p["epochs"]:
            group["layer"] = p["layer"]  # the phase in progress (or next) of the group
    return list(groups.values())


def counter_text(phases: list[dict]) -> str:
    """The counter of a run: "7 / 15 epochs" for one phase; for several, the phase in progress first, then
    the finished ones ("done") and those still to come, each in training order: "fine-tuning 7 / 15 ·
    pretraining done 20 / 20", "module 2 (m2) 3 / 8 · module 1 done 8 / 8 · module 3 0 / 8". A run with
    every phase done lists them all in training order: "module 1 done 1 / 1 · module 2 done 1 / 1 · ..."."""
    if not phases:
        return "0 epochs"
    groups = _groups(phases)
    if len(groups) == 1:
        g = groups[0]
        return f"{g['done']:,} / {g['epochs']:,} epochs"
    current = next((g for g in groups if g["done"] < g["epochs"]), None)
    if current is None:  # all done: no phase in progress to put first
        return " · ".join(_group_text(g) for g in groups)
    finished = [g for g in groups if g is not current and g["done"] == g["epochs"]]
    coming = [g for g in groups if g is not current and g["done"] < g["epochs"]]
    return " · ".join([_group_text(current, current=True)] + [_group_text(g) for g in finished + coming])


def _group_text(g: dict, current: bool = False) -> str:
    where = f" ({g['layer']})" if current and g["layer"] else ""
    state = " done" if g["done"] == g["epochs"] else ""
    return f"{g['label']}{where}{state} {g['done']:,} / {g['epochs']:,}"


def epochs_text(progress: dict) -> str:
    """A run's counter from its stored progress (or final metrics): the phase text when the worker wrote one,
    else whole epochs over the planned total."""
    if progress.get("counter"):
        return str(progress["counter"])
    done, total = int(progress.get("epoch", progress.get("epochs_done", 0)) or 0), progress.get("epochs")
    return f"{done:,} / {int(total):,} epochs" if total else f"{done:,} epoch" + ("" if done == 1 else "s")

"""Ray is optional (issue 24): with `ray` unimportable, every module of builder/, engine/ and ui/ imports (but the
Ray executor's own modules, which say they need Ray), the app's pages draw, and a run through the default (local)
executor trains to its end without any process, the app's or its worker's, even trying to import ray.

The blocker is a package named `ray` put first on PYTHONPATH in a subprocess: it writes down who tried to import
it (the process id and the importing frame) into the file NETCANVAS_TEST_RAY_TRIES, then raises the same
ModuleNotFoundError a machine without Ray gives. PYTHONPATH reaches the run's worker too (the fork server is a
fresh interpreter with the app's environment), which a meta-path hook in the app's process would not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRIES_ENV = "NETCANVAS_TEST_RAY_TRIES"
RAY_ONLY = {"engine.runs.ray_actor", "engine.runs.ray_executor"}  # the Ray executor itself: it needs Ray

BLOCKER = """
import os, sys
frame = sys._getframe(1)
while frame is not None and "importlib" in frame.f_code.co_filename:
    frame = frame.f_back
where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"
with open(os.environ["NETCANVAS_TEST_RAY_TRIES"], "a") as out:
    out.write(f"{os.getpid()} {where}\\n")
raise ModuleNotFoundError("No module named 'ray'", name="ray")
"""


def _modules(package: str) -> list[str]:
    modules = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] != "__main__":
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _run_without_ray(
    tmp_path: Path, code: str, timeout: float = 300, **environ: str
) -> tuple[subprocess.CompletedProcess, str]:
    """Run `code` in a fresh interpreter that cannot import ray (NETCANVAS_RAY_ADDRESS unset unless `environ`
    sets it); its result and the import tries written down."""
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(BLOCKER)
    tries = tmp_path / "ray-tries.txt"
    tries.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "NETCANVAS_RAY_ADDRESS"}
    env.update(
        PYTHONPATH=os.pathsep.join([str(shadow.parent), str(ROOT)]),
        NETCANVAS_RUNS_DIR=str(tmp_path / "runs"),
        OMP_NUM_THREADS="1",
        **{TRIES_ENV: str(tries)},
        **environ,
    )
    args = [sys.executable, "-c", textwrap.dedent(code)]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            returncode = child.wait(timeout)
        finally:
            _end_leftovers(child.pid)
    done = subprocess.CompletedProcess(args, returncode, out.read_text(), err.read_text())
    return done, tries.read_text()


def _end_leftovers(group: int) -> None:
    """End what the child left running in its process group: the fork server the app starts in the background
    (engine.runs.page_jobs.warm_up) goes on importing its preloads for seconds after the child exits. Its output
    goes to files, not pipes, so the child's end is not held up by them either."""
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:  # nothing left
        pass


def test_the_blocker_blocks(tmp_path):
    done, tries = _run_without_ray(tmp_path, "import ray")
    assert done.returncode != 0 and "No module named 'ray'" in done.stderr, done.stderr[-2000:]
    assert "<string>:1" in tries, tries


def test_every_module_and_page_without_ray(tmp_path):
    modules = [m for p in ("builder", "engine", "ui") for m in _modules(p)]
    assert "engine.runs.manager" in modules and "ui.train.settings" in modules
    code = f"""
        import importlib
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as err:
                if name not in {sorted(RAY_ONLY)!r} or err.name != "ray":
                    raise
                print("needs ray:", name)
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file("app.py", default_timeout=120).run()
        assert not at.exception, at.exception
        for page in ("build", "train", "export", "backprop"):
            at.switch_page(f"app_pages/{{page}}.py").run()
            assert not at.exception, (page, at.exception)
            print("page drawn:", page)
        """
    done, _ = _run_without_ray(tmp_path, code)
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("build", "train", "export", "backprop"):
        assert f"page drawn: {page}" in done.stdout, done.stdout


def test_a_local_run_never_tries_to_import_ray(tmp_path):
    """The default executor (NETCANVAS_RAY_ADDRESS unset): the app's process and the run's worker, start to end."""
    code = """
        import sys
        from builder.library.templates import TEMPLATES
        from engine.runs.manager import RunManager
        from engine.runs.store import RunStore
        from engine.train.config import TrainConfig

        manager = RunManager(RunStore(), workers=1)  # the store under NETCANVAS_RUNS_DIR
        config = TrainConfig(dataset="iris", batch_size=16, epochs=2, device="cpu")
        run_id = manager.start_run("no-ray", TEMPLATES["mlp_iris"].spec(), config)
        record = manager.wait(run_id, 240)
        manager.close()
        print("ended:", record.status, record.message)
        print("epoch rows:", [r.epoch for r in manager.metrics(run_id) if r.kind == "epoch"])
        print("ray in sys.modules:", "ray" in sys.modules)
        """
    done, tries = _run_without_ray(tmp_path, code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ended: finished" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "epoch rows: [1, 2]" in done.stdout, done.stdout
    assert "ray in sys.modules: False" in done.stdout, done.stdout
    assert tries == "", f"a local run tried to import ray:\n{tries}"


def test_a_ray_address_without_ray_is_one_line_on_the_train_page(tmp_path):
    """NETCANVAS_RAY_ADDRESS set on a machine without Ray: the Train page says what to install, no traceback."""
    code = """
        from streamlit.testing.v1 import AppTest
        from builder.library.templates import TEMPLATES
        at = AppTest.from_file("app.py", default_timeout=120).run()
        at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
        at.switch_page("app_pages/train.py").run()
        print("exceptions:", [str(e.value) for e in at.exception])
        for error in at.error:
            print("error:", error.value)
        """
    done, _ = _run_without_ray(tmp_path, code, NETCANVAS_RAY_ADDRESS="local")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "exceptions: []" in done.stdout, done.stdout
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stdout
    assert "NETCANVAS_RAY_ADDRESS is 'local', but Ray is not installed" in errors[0], errors
    assert "scripts/setup.sh --ray" in errors[0], errors

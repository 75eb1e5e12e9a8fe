"""Issue 20's hostile inputs against today's code, class by class: how many cases, how many end cleanly, the worst
wall time and the worst peak memory, as a markdown table for the issue's closing note.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_shared_server            # every case (a few minutes)
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_shared_server --quick    # the smaller cases only
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_shared_server --only 3   # one class (1-7)

Every case runs in a fresh Python process (the server stand-in, or the CLI itself) under a wall-clock timeout.
Its peak memory is the max RSS that os.wait4 reports for that process: its own and that of every descendant it
waited for, so a page job's child (forked from the forkserver, which the stand-in stops and waits for before it
exits) is included. The time is the case's own call inside the stand-in (for the CLI: the whole process). A
case is clean when it gives the expected one-line refusal or message (or, where the input is accepted, does
nothing it should not), nothing prints a traceback, the stand-in is still alive afterwards (it exits 0 after
running its next check), and all within the timeout. The cases reuse the tests' builders: tests/test_meta_schema.py
(the exploit zip), tests/test_codegen_literal.py (model.py's shape), tests/spec_bombs.py, tests/test_page_jobs.py
(page job limits), tests/test_session_secrets.py (every byte of a bundle's files), bench/bench_canvas_hostile.py
and tests/test_cli_hostile.py (the CLI's commands).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_shared_server"
TEST_FLAGS = ("--som-sigma 1e308", "--som-sigma nan", f"--epochs {10**12}")
QUICK_CLI = ("spec /dev/zero", "spec FIFO", "csv /dev/zero", "csv FIFO", "--out under /proc", "--out 300-char name")
PAYLOAD = 'X"""; import pathlib; pathlib.Path({marker!r}).write_text("ran") #'


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text and len(text) < 1000


def summary(results: list[tuple[bool, str, float]]) -> dict:
    """A case's items (clean?, line, seconds) as the stand-in reports them."""
    return {
        "tried": len(results),
        "clean": sum(ok for ok, _, _ in results),
        "worst_s": max((s for _, _, s in results), default=0.0),
        "lines": [line for _, line, _ in results],
        "failed": [line for ok, line, _ in results if not ok],
    }


def timed(call):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


# --- 1. generated code -------------------------------------------------------------------------------------


def case_make_bundle(args: dict) -> dict:
    from tests.bundles import trained_bundle

    trained_bundle(Path(args["folder"]), "mlp_iris", steps=2)
    return summary([(True, "bundle written", 0.0)])


def case_exploit_refused(args: dict) -> dict:
    """Metadata that closes model.py's docstring, in each field the schema holds to a pattern: one line, no marker."""
    from engine.errors import BundleError
    from engine.export.exporter import describe_bundle, load_trained
    from engine.export.zip_import import import_bundle_zip
    from engine.runs.bundle import read_bundle_head
    from tests.test_meta_schema import exploit_zip, zip_with_meta

    bundle, tmp = Path(args["bundle"]), Path(args["tmp"])
    marker = tmp / "marker"
    closing = f'1.0\n"""\nimport pathlib; pathlib.Path({str(marker)!r}).write_text("ran")\n"""'
    meta = json.loads((bundle / "meta.json").read_text())
    zips = [("version", check, exploit_zip(bundle, marker)) for check in (read_bundle_head, describe_bundle)]
    zips.append(("version", load_trained, exploit_zip(bundle, marker)))
    for field in ("torch_version", "input_dtype", "dataset", "task", "created"):
        zips.append((field, load_trained, zip_with_meta(bundle, {**meta, field: closing})))
    zips.append(("class_names", load_trained, zip_with_meta(bundle, {**meta, "class_names": [closing] * 3})))
    results = []
    for i, (field, check, data) in enumerate(zips):
        started = time.perf_counter()
        try:
            import_bundle_zip("evil.zip", data, tmp / f"imports{i}", check=check)
            line = f"{field}: accepted"
        except BundleError as err:
            line = str(err)
        seconds = time.perf_counter() - started
        ok = line.startswith("evil.zip: meta.json field") and one_line(line) and not marker.exists()
        results.append((ok, line, seconds))
    return summary(results)


def _export_python(path: Path, marker: Path, expect_names: list[str] | None) -> tuple[bool, str]:
    """Export `path`'s bundle as model.py (checked in the bounded child): (it ran nothing of the payload, a line)."""
    import ast

    from engine.export.exporter import export_trained, load_trained

    report = export_trained(load_trained(path), ["python"])
    result = report.results["python"]
    tree = ast.parse((path / "model.py").read_text())
    names = [s.value for s in tree.body if isinstance(s, ast.Assign) and s.targets[0].id == "CLASS_NAMES"]
    read_back = list(ast.literal_eval(names[0])) if names else None
    ok = result.ok and not marker.exists() and (expect_names is None or read_back == expect_names)
    return ok, f"model.py exported and checked ({'ok' if result.ok else result.problem}); marker written: " + str(
        marker.exists()
    )


def case_exploit_accepted(args: dict) -> dict:
    """Printable one-line payloads the schema lets through (class names, the dataset's name), and the version
    exploit with the schema bypassed: model.py is written and run in its bounded child, and runs nothing."""
    import engine.runs.bundle as bundle_module
    from engine.export.exporter import load_trained
    from engine.export.zip_import import import_bundle_zip
    from tests.test_meta_schema import exploit_zip, zip_with_meta

    bundle, tmp = Path(args["bundle"]), Path(args["tmp"])
    marker = tmp / "marker"
    payload = PAYLOAD.format(marker=str(marker))
    meta = json.loads((bundle / "meta.json").read_text())
    names = [payload, "b" + payload[:90], "'''" + payload[:80]]
    results = []
    for i, (label, data, expect) in enumerate(
        [
            ("class_names", zip_with_meta(bundle, {**meta, "class_names": names}), names),
            ("dataset", zip_with_meta(bundle, {**meta, "dataset": payload}), None),
        ]
    ):
        started = time.perf_counter()
        path, _ = import_bundle_zip("evil.zip", data, tmp / f"accepted{i}", check=load_trained)
        ok, line = _export_python(path, marker, expect)
        results.append((ok, f"{label}: {line}", time.perf_counter() - started))
    if args.get("bypass"):
        bundle_module.meta_problem = lambda meta: None  # as the test's monkeypatch: the schema switched off
        started = time.perf_counter()
        path, _ = import_bundle_zip("evil.zip", exploit_zip(bundle, marker), tmp / "bypassed", check=load_trained)
        ok, line = _export_python(path, marker, None)
        results.append((ok, f"version, schema bypassed: {line}", time.perf_counter() - started))
    return summary(results)


def _hostile_text(rng: random.Random) -> str:
    from tests.test_codegen_literal import FRAGMENTS

    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 5)))


def case_hostile_names(args: dict) -> dict:
    """N hostile names and metadata through model.py's and README's generation, each parsed back by ast."""
    import ast

    from builder.analysis.validate import analyze
    from engine.compile.fx_module import compile_analysis
    from tests.helpers import chain
    from tests.test_codegen_literal import N_CLASSES, _class_names, _generated, _meta, _shape

    spec = chain(("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": N_CLASSES}))
    spec.name = "plain"
    analysis = analyze(spec)
    network = compile_analysis(analysis).eval(), analysis
    plain_source, plain_readme = _generated(network, "plain", _meta("1.0", "float32", ["a", "b", "c"], "iris"))
    plain_shape, plain_lines = _shape(ast.parse(plain_source)), len(plain_readme.splitlines())
    rng, results = random.Random(args["seed"]), []
    for _ in range(args["n"]):
        texts = [_hostile_text(rng) for _ in range(4 + N_CLASSES)]
        started = time.perf_counter()
        try:
            meta = _meta(texts[1], texts[2], texts[4:], texts[3])
            source, readme = _generated(network, texts[0], meta)
            tree = ast.parse(source)
            ok = _shape(tree) == plain_shape and list(_class_names(tree)) == texts[4:]
            ok = ok and len(readme.splitlines()) == plain_lines
            line = "model.py holds only what is generated" if ok else f"model.py changed for {texts!r}"
        except Exception as err:  # a bench counts failures instead of stopping at the first
            ok, line = False, f"{type(err).__name__}: {err}"
        results.append((ok, line, time.perf_counter() - started))
    return summary(results)


# --- 2. caps before the work -------------------------------------------------------------------------------


def case_spec_bomb(args: dict) -> dict:
    """A bomb through parse_spec + analyze (the engine's route) or read_spec_upload + analyze (the Build page's)."""
    from builder.analysis.upload import read_spec_upload
    from builder.analysis.validate import analyze
    from builder.spec.spec import parse_spec
    from tests.spec_bombs import duplicate_edge_bomb, nested_block_bomb

    maker = {"nested": nested_block_bomb, "edges": duplicate_edge_bomb}[args["kind"]]
    raw = maker(*args["params"])
    started = time.perf_counter()
    if args["route"] == "parse_spec":
        spec, issues = parse_spec(raw)
        line = "; ".join(i.message for i in issues[:1])
    else:
        spec, line = read_spec_upload("bomb.json", json.dumps(raw).encode("utf-8"))
    if spec is not None:
        errors = [i.message for i in analyze(spec).issues if i.severity == "error"]
        line = errors[0] if errors else "accepted"
    seconds = time.perf_counter() - started
    return summary([("at most" in line and one_line(line), line, seconds)])


# --- 3. heavy work out of the server -----------------------------------------------------------------------


def _sequence_csv(folder: Path, steps: int, rows: int = 8) -> Path:
    """A CSV of `steps` feature columns and a class column: fit_to_input reshapes it to the LSTM's [T, 1]."""
    path = folder / f"seq{steps}.csv"
    header = ",".join(f"t{i}" for i in range(steps)) + ",kind\n"
    body = "".join(",".join(str((r * 7 + i) % 5) for i in range(steps)) + f",c{r % 2}\n" for r in range(rows))
    path.write_text(header + body)
    return path


def case_page_job(args: dict) -> dict:
    """One page job run by this process (the server stand-in); then a next job must still work."""
    from engine.errors import NetCanvasError
    from engine.runs.page_jobs import JobLimits, run_page_job

    job, job_args = args["job"], dict(args.get("job_args", {}))
    if job == "autograd_graph":
        from builder.library.block_library import cell_net
        from engine.train.config import TrainConfig

        steps = args["steps"]
        csv = _sequence_csv(Path(args["tmp"]), steps)
        config, _ = TrainConfig.from_dict({"dataset": f"csv:{csv}", "batch_size": 4, "epochs": 1, "val_split": 0.25})
        job_args = {"spec": cell_net("long", [steps, 1], "lstm_cell", 8, False, 2), "config": config.to_dict()}
    limits = JobLimits(*args["limits"]) if args.get("limits") else None
    (result, error), seconds = timed(lambda: run_page_job(job, job_args, limits))
    line = str(error) if error is not None else f"result: {str(result)[:100]}"
    ok = isinstance(error, NetCanvasError) and one_line(line)
    if args.get("result_ok") and error is None:
        ok = True
    after, next_error = run_page_job("probe_sleep", {"seconds": 0})
    ok = ok and next_error is None and after == {"slept": 0}
    return summary([(ok, line, seconds)])


# --- 4. session secrets ------------------------------------------------------------------------------------


def case_session_secrets(args: dict) -> dict:
    """A CSV run under a session's upload path, its bundle written and exported: no byte of any file holds the key,
    the runs folder or 'uploads/'; then read_csv's messages for bad files under that path name no key."""
    import secrets

    from builder.library.templates import TEMPLATES
    from engine.data.csv_dataset import read_csv
    from engine.errors import DataError
    from engine.export.exporter import export_bundle
    from engine.runs.bundle import write_bundle
    from engine.runs.session_state import save_upload
    from engine.train.config import TrainConfig
    from engine.train.pipeline import prepare_run
    from tests.test_session_secrets import all_bytes, holding, wine_csv

    root, results = Path(args["tmp"]) / "runs", []
    for key in (secrets.token_urlsafe(32), "K" * 64):
        started = time.perf_counter()
        kept = save_upload(root, key, "wine.csv", wine_csv())
        template = TEMPLATES["mlp_iris"]
        config = TrainConfig(**{**template.train, "dataset": f"csv:{kept.path}", "device": "cpu", "epochs": 1})
        run = prepare_run(template.spec(), config)
        for _ in run.trainer.run():
            pass
        bundle = write_bundle(root / "bundles" / key[:8], template.spec(), config, run.model, run.dataset, {})
        report = export_bundle(bundle, tuple(args["formats"]), make_zip=True)
        files = {}
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            files.update(all_bytes(path))
        leaks = holding(files, [key, str(root.resolve()), str(root), "sessions/", "uploads/"])
        line = f"{len(files)} files, export ok={report.ok}, leaks: {leaks[:2] or 'none'}"
        results.append((report.ok and not leaks, line, time.perf_counter() - started))
        for bad in (kept.path.parent / "gone.csv", kept.path.parent):
            started = time.perf_counter()
            try:
                read_csv(str(bad))
                message = "read"
            except DataError as err:
                message = str(err)
            ok = key not in message and str(root) not in message and one_line(message) and message != "read"
            results.append((ok, message, time.perf_counter() - started))
    return summary(results)


# --- 6. canvas events --------------------------------------------------------------------------------------


def case_canvas(args: dict) -> dict:
    from bench.bench_canvas_hostile import _classes, residual_mlp, run_class

    graph = residual_mlp(200)
    ids = [n.id for n in graph.nodes]
    edges = [f"{e.source}->{e.target}:{e.port or 0}" for e in graph.edges]
    tried, clean, worst, _ = run_class(graph, _classes(ids, edges)[args["name"]])
    return {"tried": tried, "clean": clean, "worst_s": worst, "lines": [], "failed": []}


CASES = {name.removeprefix("case_"): fn for name, fn in globals().items() if name.startswith("case_")}


def stand_in(name: str, args_json: str) -> None:
    """The child: run one case, stop the forkserver (so its page jobs count in our wait4), print the JSON."""
    outcome = CASES[name](json.loads(args_json))
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # waits for it: its children's peak RSS joins ours
    outcome["self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(outcome))


# --- the parent: measuring ---------------------------------------------------------------------------------


def measure(argv: list[str], timeout: float, env: dict | None = None, preexec=None) -> dict:
    """Run `argv` from the repository root: rc, seconds, peak RSS (MB) of it and its waited-for descendants,
    its output, whether it timed out."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})},
            preexec_fn=preexec,
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                os.kill(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return {
            "rc": proc.returncode,
            "seconds": seconds,
            "rss_mb": usage.ru_maxrss / 1024,
            "stdout": out.read(),
            "stderr": err.read(),
            "timed_out": timed_out,
        }


def run_case(name: str, args: dict, timeout: float = 240) -> dict:
    """A case in a fresh stand-in: its summary, with clean set to 0 if the stand-in failed in any way."""
    done = measure([sys.executable, "-m", "bench.bench_shared_server", "--case", name, json.dumps(args)], timeout)
    lines = [line for line in done["stdout"].splitlines() if line.startswith("RESULT ")]
    if not lines:
        why = "timed out" if done["timed_out"] else f"exit {done['rc']}: {done['stderr'].strip()[-300:]}"
        outcome = {"tried": 1, "clean": 0, "worst_s": done["seconds"], "lines": [why], "failed": [why]}
    else:
        outcome = json.loads(lines[-1].removeprefix("RESULT "))
    if done["rc"] != 0 or done["timed_out"] or "Traceback" in done["stderr"]:
        outcome["clean"] = 0
        outcome["failed"].append(f"stand-in: rc {done['rc']}, stderr {done['stderr'].strip()[-300:]!r}")
    return {**outcome, "rss_mb": done["rss_mb"], "wall_s": done["seconds"]}


# --- 7. the CLI, as a user runs it -------------------------------------------------------------------------


def run_cli(names: list[str], tmp: Path) -> dict:
    """tests/test_cli_hostile.py's commands, each `python -m engine ...` in a fresh, limited process: exit 2, one
    line 'error: ...' holding the test's expected words, no traceback, nothing written, within its timeout."""
    from tests.test_cli_hostile import CASES as CLI_CASES
    from tests.test_cli_hostile import LIMITS, make_places

    results, worst_mb = [], 0.0
    for i, name in enumerate(names):
        argv, env, expected = CLI_CASES[name]
        folder = tmp / f"cli{i}"
        folder.mkdir()
        make_places(folder)
        before = sorted(p.name for p in folder.iterdir())
        command = [sys.executable, "-m", "engine", *(a.format(tmp=folder) for a in argv)]
        done = measure(command, 60, env, preexec=LIMITS.apply)
        printed = (done["stdout"] + done["stderr"]).strip()
        lines = printed.splitlines()
        ok = done["rc"] == 2 and not done["timed_out"] and "Traceback" not in printed and len(lines) == 1
        ok = ok and lines[0].startswith("error: ") and expected.format(tmp=folder) in lines[0]
        ok = ok and sorted(p.name for p in folder.iterdir()) == before
        results.append((ok, f"{name}: {printed[:200]}", done["seconds"]))
        worst_mb = max(worst_mb, done["rss_mb"])
    return {**summary(results), "rss_mb": worst_mb, "wall_s": 0.0}


# --- the plan ----------------------------------------------------------------------------------------------

CLEAN = {
    1: "a refused bundle: one BundleError line 'evil.zip: meta.json field ...', no marker file; an accepted one: "
    "model.py checked in its bounded child, no marker, CLASS_NAMES read back by ast as given; generated names: "
    "ast shows the same statements as a plain input",
    2: "a one-line issue or message naming the cap ('at most ...'), before any analysis",
    3: "run_page_job returns one line (JobFailed or the job's own error), the stand-in's next job works, it exits 0",
    4: "no byte of the bundle or its exports (zips opened, nested ones too) holds the key, the runs folder or "
    "'uploads/'; read_csv's message names no key or folder",
    5: "not run here (each case needs a live run queue and minutes of waiting): see tests/test_fair_queue.py",
    6: "apply_event returns and the graph saved afterwards loads back equal (bench/bench_canvas_hostile.py)",
    7: "exit 2, exactly one line 'error: ...' with the expected words, no traceback, nothing written",
}


def plan(quick: bool, tmp: Path) -> list[tuple[int, str, list[tuple[str, dict, float]]]]:
    """(class, row label, [(case, args, timeout)]) for every row of the table."""
    bundle = str(tmp / "iris")
    levels = [6] if quick else [6, 7, 8]
    edge_ops = ["Add"] if quick else ["Add", "ReLU"]
    routes = ["parse_spec", "read_spec_upload"]
    small = [20, 512, 60]
    probes = [("probe_segfault", {}, small), ("probe_memory", {"mb": 2048}, small)]
    if not quick:
        probes += [
            ("probe_null_read", {}, small),
            ("probe_python_memory", {"blocks": 64}, small),
            ("probe_sleep", {"seconds": 60}, [20, 512, 1.5]),
            ("probe_spin", {"seconds": 60}, [1, 512, 50]),
        ]
    lstm = [] if quick else [3000, 8000]
    canvas = ["odd numbers (move, drop, paste)", "wrong types"]
    if not quick:
        canvas += ["huge lists (1,000,000 entries)", "long strings (1,000,000 chars)", "unknown ids"]
        canvas += ["nested junk (depth 50)"]
    from engine.export.formats import FORMATS

    return [
        (
            1,
            "exploit zip, refused by meta.json's schema",
            [("exploit_refused", {"bundle": bundle, "tmp": str(tmp)}, 120)],
        ),
        (
            1,
            "payloads the schema accepts (class names, dataset)" + ("" if quick else "; schema bypassed"),
            [("exploit_accepted", {"bundle": bundle, "tmp": str(tmp), "bypass": not quick}, 240)],
        ),
        (
            1,
            "hostile names/metadata -> model.py, README (ast)",
            [("hostile_names", {"n": 30 if quick else 300, "seed": 20}, 120)],
        ),
        (
            2,
            f"nested block bomb, levels {', '.join(map(str, levels))} x 6 uses",
            [("spec_bomb", {"kind": "nested", "params": [k, 6], "route": r}, 120) for k in levels for r in routes],
        ),
        (
            2,
            f"100,000 duplicate edges into {' / '.join(edge_ops)}",
            [
                ("spec_bomb", {"kind": "edges", "params": [100_000, op], "route": r}, 120)
                for op in edge_ops
                for r in routes
            ],
        ),
        (
            3,
            "page jobs that crash / run out of memory, CPU, wall time",
            [("page_job", {"job": job, "job_args": a, "limits": lim}, 120) for job, a, lim in probes],
        ),
        (
            3,
            "autograd graph of a gate-level LSTM, T = 3,000 / 8,000",
            [
                ("page_job", {"job": "autograd_graph", "steps": t, "tmp": str(tmp), "result_ok": True}, 240)
                for t in lstm
            ],
        ),
        (
            4,
            "CSV run under a session key (43 / 64 chars): bundle, exports, messages",
            [("session_secrets", {"tmp": str(tmp), "formats": ["python"] if quick else list(FORMATS)}, 300)],
        ),
        (5, "fair queue", []),
        (6, "canvas events (bench_canvas_hostile classes)", [("canvas", {"name": n}, 180) for n in canvas]),
    ]


def row(cls: int, label: str, outcomes: list[dict], only: str) -> dict:
    return {
        "class": cls,
        "label": label,
        "tried": sum(o["tried"] for o in outcomes),
        "clean": sum(o["clean"] for o in outcomes),
        "worst_s": max((o["worst_s"] for o in outcomes), default=0.0),
        "rss_mb": max((o["rss_mb"] for o in outcomes), default=0.0),
        "command": f"{COMMAND}{only} --only {cls}",
    }


def table(rows: list[dict]) -> str:
    lines = [
        '| class | cases tried | ended cleanly | worst wall time | worst peak memory | what "clean" meant | command |',
        "|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for r in rows:
        clean = "as above" if r["class"] in seen else CLEAN[r["class"]]
        seen.add(r["class"])
        if r["tried"] == 0:
            lines.append(f"| {r['class']}. {r['label']} | - | - | - | - | {clean} | - |")
            continue
        lines.append(
            f"| {r['class']}. {r['label']} | {r['tried']} | {r['clean']} | {r['worst_s']:.2f} s | "
            f"{r['rss_mb']:,.0f} MB | {clean} | `{r['command']}` |"
        )
    return "\n".join(lines)


def report(name: str, outcome: dict) -> None:
    print(
        f"  {name}: {outcome['clean']}/{outcome['tried']} clean, worst {outcome['worst_s']:.2f} s, "
        f"peak {outcome['rss_mb']:.0f} MB; e.g. {(outcome['lines'] or [''])[0][:160]!r}",
        flush=True,
    )
    for line in outcome["failed"]:
        print(f"    NOT CLEAN: {line[:300]}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller cases only")
    parser.add_argument("--only", type=int, choices=range(1, 8), help="one class of issue 20's list")
    parser.add_argument("--case", nargs=2, metavar=("NAME", "ARGS"), help=argparse.SUPPRESS)  # in the stand-in
    options = parser.parse_args(argv)
    if options.case:
        return stand_in(*options.case)
    started, rows = time.monotonic(), []
    quick = " --quick" if options.quick else ""
    with tempfile.TemporaryDirectory(prefix="ncbench-") as folder:
        tmp = Path(folder)
        if options.only in (None, 1):
            report("setup: a trained mlp_iris bundle", run_case("make_bundle", {"folder": str(tmp / "iris")}))
        for cls, label, cases in plan(options.quick, tmp):
            if options.only not in (None, cls) or (not cases and cls != 5):
                continue
            print(f"{cls}. {label}", flush=True)
            outcomes = []
            for name, args, timeout in cases:
                outcomes.append(run_case(name, args, timeout))
                report(name, outcomes[-1])
            rows.append(row(cls, label, outcomes, quick))
        if options.only in (None, 7):
            from tests.test_cli_hostile import CASES as CLI_CASES

            names = [*QUICK_CLI, *TEST_FLAGS] if options.quick else list(CLI_CASES)
            print("7. CLI", flush=True)
            outcome = run_cli(names, tmp)
            report("cli", outcome)
            rows.append(
                row(7, "CLI: odd files, --out, out-of-range numbers (tests/test_cli_hostile.py)", [outcome], quick)
            )
        baseline = measure([sys.executable, "-c", "import torch, engine.runs.page_jobs"], 120)
    print()
    print(table(rows))
    print()
    print(
        f"Baseline: a stand-in that imports torch and the page jobs and does nothing peaks at "
        f"{baseline['rss_mb']:,.0f} MB. Whole bench: {time.monotonic() - started:.0f} s."
    )


if __name__ == "__main__":
    main()

"""The command line refuses odd files and out-of-range numbers up front (issue 20, item 7), in a real process.

Each case runs `python -m engine ...` as a user does and must end before any work: exit 2, exactly one line of
output (the CLI's error lines go to stdout, as every other CLI error; stderr holds only `-X importtime`'s list),
no traceback, no bundle or file written, and torch not imported. Every process runs under a CPU-time and
address-space limit (engine.child_limits) and a wall-clock timeout (a guard, not a measurement), so the old
behaviour (reading /dev/zero until memory runs out, blocking on a FIFO forever) fails the test instead of taking
the machine down. The processes run a few at a time. The SOM's kernels are run in-process at both ends of the
radius's range.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.child_limits import ChildLimits
from engine.cli.main import main
from engine.train.config import MAX_LR, SOM_DECAYS, SOM_MODES, SOM_SIGMA_RANGE

ROOT = Path(__file__).resolve().parents[1]
WALL_SECONDS = 90  # a blocked or runaway process is killed here (the old FIFO and /dev/zero cases)
LIMITS = ChildLimits(cpu_seconds=60, memory_bytes=2 * 1024**3)  # reading /dev/zero whole hits this in seconds
AT_ONCE = 3
SMALL = ["--template", "mlp_xor"]  # the smallest network: nothing here may get as far as training it
SOM = ["--template", "som_iris"]
LONG = "n" * 300
CSV_RUN = ["train", *SMALL, "--out", "{tmp}/run", "--dataset"]

# case -> (argv with {tmp} for the case's folder, environment overrides, what the one line must hold)
CASES = {
    "spec /dev/zero": (["validate", "/dev/zero"], {}, "network file '/dev/zero' is a character device; expected a"),
    "spec FIFO": (["validate", "{tmp}/pipe"], {}, "network file '{tmp}/pipe' is a FIFO (named pipe); expected a"),
    "spec folder": (["validate", "{tmp}/folder"], {}, "network file '{tmp}/folder' is a directory; expected a"),
    "spec over its cap": (
        ["summary", "{tmp}/big.json"],
        {"NETCANVAS_MAX_SPEC_MB": "1"},
        "network file '{tmp}/big.json' holds 1,048,577 bytes, over the cap of 1 MB (1,048,576 bytes; "
        "NETCANVAS_MAX_SPEC_MB)",
    ),
    "csv /dev/zero": ([*CSV_RUN, "csv:/dev/zero"], {}, "is a character device; expected a regular file"),
    "csv FIFO": ([*CSV_RUN, "csv:{tmp}/pipe"], {}, "is a FIFO (named pipe); expected a regular file"),
    "csv folder": ([*CSV_RUN, "csv:{tmp}/folder"], {}, "is a directory; expected a regular file"),
    "csv over its cap": (
        [*CSV_RUN, "csv:{tmp}/big.csv"],
        {"NETCANVAS_MAX_CSV_MB": "1"},
        "CSV file 'big.csv' holds 1,048,580 bytes, over the cap of 1 MB (1,048,576 bytes; NETCANVAS_MAX_CSV_MB)",
    ),
    "--out under /proc": (["train", *SMALL, "--out", "/proc/nc_run"], {}, "--out /proc/nc_run: /proc/nc_run is under"),
    "--out under /sys": (["train", *SMALL, "--out", "/sys/nc_run"], {}, "/sys/nc_run is under /sys"),
    "--out a link to /dev": (["train", *SMALL, "--out", "{tmp}/to_dev/nc"], {}, "/dev/nc is under /dev"),
    "--out 300-char name": (["train", *SMALL, "--out", "{tmp}/" + LONG], {}, "a name in it is 300 bytes long"),
    "--out over PATH_MAX": (["train", *SMALL, "--out", "{tmp}" + "/d" * 2100], {}, "bytes long; at most 4,095 fit"),
    "--out below a file": (["train", *SMALL, "--out", "{tmp}/a_file/run"], {}, "a_file is a file, and the bundle"),
    "--out file, missing folder": (
        ["autograd", *SMALL, "--out", "{tmp}/missing/g.json"],
        {},
        "--out {tmp}/missing/g.json: the folder {tmp}/missing does not exist",
    ),
    "--out file, a folder": (["autograd", *SMALL, "--out", "{tmp}"], {}, "it is a folder; expected the name of a"),
    "--out file, 300-char name": (["autograd", *SMALL, "--out", "{tmp}/" + LONG], {}, "a name in it is 300 bytes"),
    "--out file under /proc": (["autograd", *SMALL, "--out", "/proc/self/g.json"], {}, "is under /proc"),
    "export, bundle under /proc": (["export", "/proc/self"], {}, "BUNDLE /proc/self: /proc/"),
    "export, a FIFO in the bundle": (
        ["export", "{tmp}/bundle_fifo"],
        {},
        "bundle file meta.json '{tmp}/bundle_fifo/meta.json' is a FIFO (named pipe); expected a regular file",
    ),
    "export, a bundle file over its cap": (
        ["export", "{tmp}/bundle_big"],
        {"NETCANVAS_MAX_SPEC_MB": "1"},
        "bundle file meta.json '{tmp}/bundle_big/meta.json' holds 1,048,577 bytes, over the cap of 1 MB",
    ),
}
NUMBERS = {  # flags -> the one line (SOM: the som_iris template, whose rule takes every flag here)
    "--som-sigma nan": "som_sigma must be a finite number or null, got nan (float)",
    "--som-sigma inf": "som_sigma must be a finite number or null, got inf (float)",
    "--som-sigma=-inf": "som_sigma must be a finite number or null, got -inf (float)",
    "--som-sigma 1e308": "som_sigma must be in [0.001, 1e+06] grid units (or null), got 1e+308",
    "--som-sigma 1e-320": "som_sigma must be in [0.001, 1e+06] grid units (or null), got 1e-320",
    "--som-sigma 0": "som_sigma must be in [0.001, 1e+06] grid units (or null), got 0.0",
    "--som-sigma -2": "som_sigma must be in [0.001, 1e+06] grid units (or null), got -2.0",
    "--lr nan": "lr must be a finite number, got nan (float)",
    "--lr 0": "lr must be > 0, got 0.0",
    f"--epochs {10**12}": "epochs must be at most 100,000, got 1000000000000",
    "--batch-size 0": "batch_size must be >= 1, got 0",
    f"--batch-size {10**9}": "batch_size must be at most 65,536, got 1000000000",
    f"--log-every {10**18}": f"log_every must be in [1, 1,000,000], got {10**18}",
    f"--pretrain-epochs {10**9}": "pretrain_epochs must be in [1, 100,000] (or null), got 1000000000",
    "--seed -1": "seed must be in [0, 2**63), got -1",
    "--val-split 1": "val_split must be in [0, 1), got 1.0",
    "--cd-k 1000": "cd_k must be in [1, 100], got 1000",
}
CASES.update(
    {flags: (["train", *SOM, *flags.split(), "--out", "{tmp}/run"], {}, line) for flags, line in NUMBERS.items()}
)
CASES.update(
    {
        f"autograd --samples {n}": (
            ["autograd", *SMALL, "--samples", str(n), "--out", "{tmp}/g.json"],
            {},
            f"--samples must be in [1, 4,096], got {n}",
        )
        for n in (0, 10**9)
    }
)
ENGINE = ["-m", "engine"]
# The Train page's runs read a CSV through engine.data.csv_dataset, not the CLI: the same refusals there.
READ_CSV = ["-c", "import sys; from engine.data.csv_dataset import read_csv; read_csv(sys.argv[1])"]
READ_CASES = {
    "read_csv /dev/zero": (
        [*READ_CSV, "/dev/zero"],
        {},
        "engine.errors.DataError: CSV file 'zero' is a character device",
    ),
    "read_csv FIFO": ([*READ_CSV, "{tmp}/pipe"], {}, "engine.errors.DataError: CSV file 'pipe' is a FIFO (named pipe)"),
    "read_csv folder": ([*READ_CSV, "{tmp}/folder"], {}, "engine.errors.DataError: CSV file 'folder' is a directory"),
    "read_csv over its cap": (
        [*READ_CSV, "{tmp}/big.csv"],
        {"NETCANVAS_MAX_CSV_MB": "1"},
        "engine.errors.DataError: CSV file 'big.csv' holds 1,048,580 bytes, over the cap of 1 MB",
    ),
}


def make_places(tmp: Path) -> None:
    """What the cases name: a FIFO, a folder, a file, a link to /dev, files just over a cap of 1 MB."""
    os.mkfifo(tmp / "pipe")
    (tmp / "folder").mkdir()
    (tmp / "a_file").write_text("not a folder")
    (tmp / "to_dev").symlink_to("/dev")
    (tmp / "big.json").write_bytes(b" " * (1024 * 1024 + 1))
    (tmp / "big.csv").write_bytes(b"a,b\n" + b"1,0\n" * (256 * 1024))
    for bundle in ("bundle_big", "bundle_fifo"):  # export reads a bundle's four files
        (tmp / bundle).mkdir()
        for name in ("spec.json", "train.json", "weights.safetensors"):
            (tmp / bundle / name).write_text("{}")
    (tmp / "bundle_big" / "meta.json").write_bytes(b" " * (1024 * 1024 + 1))
    os.mkfifo(tmp / "bundle_fifo" / "meta.json")


def run_python(argv: list[str], env: dict) -> subprocess.CompletedProcess | None:
    """The finished `python ARGV`, or None if it outran WALL_SECONDS (a hang guard, not a measurement)."""
    try:
        proc = subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WALL_SECONDS,
            env={**os.environ, "OMP_NUM_THREADS": "1", **env},
            preexec_fn=LIMITS.apply,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        proc = None
    return proc


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """case -> (its folder, process, what was in the folder before), every case of CASES (through
    `python -X importtime -m engine`: stderr lists every module imported) and READ_CASES run once, a few at a time."""
    cases = {
        **{case: (["-X", "importtime", *ENGINE, *argv], env) for case, (argv, env, _) in CASES.items()},
        **READ_CASES,
    }
    folders = {case: tmp_path_factory.mktemp("hostile") for case in cases}
    for folder in folders.values():
        make_places(folder)

    def run(case):
        argv, env = cases[case][:2]
        before = sorted(p.name for p in folders[case].iterdir())
        return folders[case], run_python([a.format(tmp=folders[case]) for a in argv], env), before

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return dict(zip(cases, pool.map(run, cases)))


@pytest.mark.parametrize("case", list(CASES))
def test_refused_in_one_line_before_any_work(outcomes, case):
    folder, proc, before = outcomes[case]
    assert proc is not None, f"still running after {WALL_SECONDS} s"
    imported = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert "torch" not in imported  # refused before the first heavy import (not timed: the imports are listed)
    printed = proc.stdout + "".join(
        f"{line}\n" for line in proc.stderr.splitlines() if not line.startswith("import time:")
    )
    assert proc.returncode == 2, printed[-2000:]
    assert "Traceback" not in printed
    lines = printed.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), printed[-2000:]
    assert CASES[case][2].format(tmp=folder) in lines[0], lines[0]
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written: no bundle, no graph


@pytest.mark.parametrize("case", list(READ_CASES))
def test_the_csv_reader_refuses_odd_files_itself(outcomes, case):
    folder, proc, _ = outcomes[case]
    assert proc is not None, f"still running after {WALL_SECONDS} s"
    last = proc.stderr.strip().splitlines()[-1]  # the DataError that read_csv raised, not a CPU or memory limit's kill
    assert last.startswith(READ_CASES[case][2]), proc.stderr[-2000:]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a folder whatever its mode says")
def test_an_out_folder_without_write_permission_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["train", *SMALL, "--out", str(locked / "run")]) == 2
    assert capsys.readouterr().out.strip() == f"error: --out {locked / 'run'}: {locked} cannot be written to"


@pytest.mark.parametrize("sigma", SOM_SIGMA_RANGE)
@pytest.mark.parametrize("decay", SOM_DECAYS)
@pytest.mark.parametrize("mode", SOM_MODES)
def test_the_som_trains_or_diverges_cleanly_at_the_ends_of_its_ranges(capsys, sigma, decay, mode):
    """Every value the ranges admit ends as a run (exit 0) or a reported divergence (exit 3), never an internal
    error: the radius at both ends of SOM_SIGMA_RANGE, each with the smallest and the largest learning rate."""
    for lr in (5e-324, MAX_LR):
        flags = ["--som-sigma", repr(sigma), "--som-decay", decay, "--som-mode", mode, "--lr", repr(lr)]
        code = main(["train", *SOM, "--epochs", "2", "--device", "cpu", *flags])
        printed = capsys.readouterr()
        assert code in (0, 3) and "internal error" not in printed.out + printed.err, (flags, printed)


def test_a_file_that_holds_more_than_its_size_says_is_cut_at_the_cap():
    """/proc files say they hold 0 bytes: the cap holds while reading too, not only from the file's size."""
    from engine.user_files import UserFileError, read_user_file

    assert os.stat("/proc/self/status").st_size == 0 and len(Path("/proc/self/status").read_bytes()) > 100
    with pytest.raises(UserFileError, match=r"^status file '/proc/self/status' holds over 100 bytes, over the cap"):
        read_user_file("/proc/self/status", "status file", 100, "CAP")
    assert read_user_file("/proc/self/status", "status file", 1 << 20, "CAP").startswith(b"Name:")

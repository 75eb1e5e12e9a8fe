"""Shared fixtures, and how the suite splits over two processes.

`bash scripts/test.sh` runs pytest with pytest-xdist, `-n 2`. The scheduler below hands out whole modules (a
module's fixtures, such as a Ray cluster or a set of trained bundles, are made once), in an order that balances the
two workers: the browser tests first, as two groups of modules (each worker then runs one group against its own app
server and Chromium), then the slowest other modules, then the rest as collected. Each worker keeps the runs that
tests make without naming a folder in a folder of its own (NETCANVAS_RUNS_DIR), so two workers never share a run store.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile

import pytest

BROWSER_PREFIX = "tests/browser"  # how the browser tests' ids begin (ids are relative to the repository root)
BROWSER_GROUPS = 2  # one per xdist worker
# Rough seconds each slow module takes in a full run on 2 cores (measured per module under `bash scripts/test.sh`,
# quiet machine). They only order and balance the work: a stale number costs some balance, never a result. A
# module not named counts as DEFAULT_SECONDS.
MODULE_SECONDS = {
    "tests/browser/test_canvas_layout.py": 132,
    "tests/browser/test_canvas_component.py": 98,
    "tests/browser/test_rule_families.py": 84,
    "tests/browser/test_build_flows.py": 76,
    "tests/browser/test_nothing_lost.py": 64,
    "tests/browser/test_autograd_view.py": 36,
    "tests/browser/test_direct_links.py": 34,
    "tests/browser/test_export_raw_row.py": 31,
    "tests/browser/test_run_controls.py": 23,
    "tests/browser/test_canvas_optimistic.py": 21,
    "tests/browser/test_train_flow.py": 19,
    "tests/browser/test_explorer.py": 11,
    "tests/test_ray_executor.py": 95,
    "tests/test_export.py": 41,
    "tests/test_ray_concurrent.py": 28,
    "tests/test_ray_optional.py": 23,
    "tests/test_ddp.py": 22,
    "tests/test_cli_hostile.py": 17,
    "tests/test_train_page.py": 17,
    "tests/test_export_page.py": 16,
    "tests/test_export_raw.py": 14,
}
DEFAULT_SECONDS = 8


_WORKER_RUNS: list[str] = []  # the runs folder this xdist worker made, removed when it ends


def scan_installed_components_once() -> None:
    """AppTest starts a Streamlit runtime for every test, and each start reads the metadata of every installed
    distribution looking for component manifests (~0.2 s quiet, ~0.4 s on a busy 2-core machine, a few hundred
    times a suite). Nothing is installed during a test session, so the first scan's answer is kept. (Streamlit
    imports the scanner inside the function that calls it, so the kept version is the one it finds.)"""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # a Streamlit without the v2 components: nothing to keep
        return
    scan = getattr(manifest_scanner, "scan_component_manifests", None)
    if scan is not None and not hasattr(scan, "cache_info"):
        manifest_scanner.scan_component_manifests = functools.lru_cache(maxsize=1)(scan)


def pytest_configure(config):
    scan_installed_components_once()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "NETCANVAS_RUNS_DIR" not in os.environ:
        _WORKER_RUNS.append(tempfile.mkdtemp(prefix=f"netcanvas-runs-{worker}-"))
        os.environ["NETCANVAS_RUNS_DIR"] = _WORKER_RUNS[0]


def pytest_unconfigure(config):
    for folder in _WORKER_RUNS:
        shutil.rmtree(folder, ignore_errors=True)


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def browser_groups(modules: list[str]) -> dict[str, str]:
    """Browser module -> its group ("browser-1", ...): the slowest first, each to the group with the least so far."""
    load = [0.0] * BROWSER_GROUPS
    groups = {}
    for module in sorted(modules, key=lambda m: -MODULE_SECONDS.get(m, DEFAULT_SECONDS)):
        lightest = load.index(min(load))
        groups[module] = f"browser-{lightest + 1}"
        load[lightest] += MODULE_SECONDS.get(module, DEFAULT_SECONDS)
    return groups


def work_units(nodeids: list[str]) -> dict[str, str]:
    """Module -> its work unit: a browser group, or the module itself."""
    modules = list(dict.fromkeys(module_of(n) for n in nodeids))
    units = {m: m for m in modules}
    units.update(browser_groups([m for m in modules if m.startswith(f"{BROWSER_PREFIX}/")]))
    return units


def pytest_collection_modifyitems(config, items):
    """Run the work units in the order the scheduler hands them out: the browser groups, then the other modules
    slowest first (those not in MODULE_SECONDS as collected). The sort is stable: a module's tests keep their order.
    Every xdist worker sorts the same way, so their collections stay equal, as xdist requires."""
    units = work_units([item.nodeid for item in items])

    def rank(item) -> tuple:
        unit = units[module_of(item.nodeid)]
        if unit.startswith("browser-"):
            return (0, unit)
        return (1, -MODULE_SECONDS.get(unit, 0))

    items.sort(key=rank)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist: whole modules as work units, the browser modules in BROWSER_GROUPS groups (one app server
    and one Chromium per worker), handed out in collection order (see pytest_collection_modifyitems). (xdist's own
    `--dist loadgroup` does not group under pytest 9: it renames the tests' `_nodeid`, which pytest 9 no longer
    reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # xdist would put the units with the most tests first

    class ModulesAndBrowserGroups(LoadScopeScheduling):
        units: dict[str, str] = {}

        def _split_scope(self, nodeid: str) -> str:
            module = module_of(nodeid)
            if module not in self.units:
                self.units = work_units(self.collection or [])
            return self.units.get(module, module)

    return ModulesAndBrowserGroups(config, log)


@pytest.fixture
def single_thread_torch():
    """Run torch on one thread: the tests' tensors are tiny, and on a small shared machine the thread pool's
    contention costs more than it gains (measured: 14 s -> 4 s for the op and compile tests on 2 cores)."""
    import torch  # here, so collecting torch-free tests does not pay for importing torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _keep_main_module():
    """AppTest runs a page as `__main__` and leaves it there; a later test that spawns processes (torch's spawn,
    multiprocessing) would then run that page again in every child. Put the real `__main__` back after each test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def make_manager(tmp_path):
    """RunManager(**settings) on a fresh store (`root=` another folder); every manager closed and every run
    stopped after (tests/test_run_queue.py, tests/test_fair_queue.py)."""
    from engine.runs.manager import RunManager  # here: collecting torch-free tests does not import torch
    from engine.runs.store import RunStore

    made = []

    def make(**settings) -> RunManager:
        manager = RunManager(RunStore(settings.pop("root", tmp_path)), **settings)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        for record in manager.store.list_runs():
            if record.active:
                manager.stop(record.id)
        for record in manager.store.list_runs():
            manager.wait(record.id, 30)
        manager.close()

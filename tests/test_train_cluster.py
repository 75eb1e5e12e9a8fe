"""The Train page on a Ray cluster (issue 24): against a real local Ray started here (a few CPUs, a small object
store, no dashboard), the page's manager uses the ray executor (NETCANVAS_RAY_ADDRESS=local; this process's Ray
is used as it is).

- The Device select offers cuda only when the cluster has a GPU: a CPU-only cluster gives auto and cpu, a
  cluster that declares one GPU gives cuda too (Ray schedules by the resources a node declares; this machine
  has no CUDA, so the local executor would never offer it).
- A run that needs a GPU on a CPU-only cluster shows "waiting for the cluster: needs 1 GPU ..." where a queued
  run shows its place; the runs table says the same; Stop ends it before it starts.
"""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from builder.library.templates import TEMPLATES  # noqa: E402
from engine.runs.executor import RAY_ADDRESS_ENV, RAY_NAMESPACE  # noqa: E402
from engine.runs.store import RUNS_DIR_ENV  # noqa: E402
from engine.train.config import TrainConfig  # noqa: E402
from tests.test_train_page import open_train_page, texts, wait_for  # noqa: E402
from ui.session_keep import OWNER_KEY  # noqa: E402

OBJECT_STORE = 80 * 1024 * 1024  # Ray's smallest: the tests move no weights


@pytest.fixture(scope="module")
def ray_cluster(request):
    """A private Ray with `request.param` GPUs declared, shared by this module's tests that ask for as many (pytest
    runs them one after another: two starts, not one per test)."""
    gpus = request.param
    if ray.is_initialized():  # one left by another module's tests in this process: this cluster is our own
        ray.shutdown()
    ray.init(
        num_cpus=2,
        num_gpus=gpus,
        include_dashboard=False,
        object_store_memory=OBJECT_STORE,
        namespace=RAY_NAMESPACE,
        logging_level="ERROR",
        log_to_driver=False,
    )
    yield gpus
    ray.shutdown()


@pytest.fixture
def cluster(ray_cluster, tmp_path, monkeypatch):
    """The module's Ray for this test, and a runs folder of its own, so the page makes a manager for it."""
    monkeypatch.setenv(RAY_ADDRESS_ENV, "local")
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    return ray_cluster


CPU_ONLY = pytest.mark.parametrize("ray_cluster", [0], indirect=True)
ONE_GPU = pytest.mark.parametrize("ray_cluster", [1], indirect=True)


def device_options(at) -> list[str]:
    return list(at.selectbox(key="ts_device").options)


@CPU_ONLY
def test_a_cpu_only_cluster_offers_no_gpu(cluster):
    at = open_train_page()
    from ui.train.page_state import manager

    assert manager().executor.name == "ray"
    assert device_options(at) == ["auto (cpu)", "cpu"]


@ONE_GPU
def test_a_cluster_with_a_gpu_offers_cuda(cluster):
    at = open_train_page()
    assert device_options(at) == ["auto (cuda)", "cuda", "cpu"]


@CPU_ONLY
def test_a_run_waiting_for_a_gpu_says_so_and_can_be_stopped(cluster):
    at = open_train_page()
    from ui.train.page_state import manager

    config = TrainConfig(**{**TEMPLATES["mlp_iris"].train, "epochs": 2, "device": "cuda"})
    run_id = manager().start_run(at.session_state[OWNER_KEY], TEMPLATES["mlp_iris"].spec(), config)
    at.session_state["train_run"] = run_id
    wait_for(at, lambda at: any("waiting for the cluster" in str(i.value) for i in at.info), timeout=60)

    shown = [str(i.value) for i in at.info if "waiting for the cluster" in str(i.value)]
    assert len(shown) == 1 and shown[0].startswith("waiting for the cluster: needs 1 GPU"), shown
    assert "the cluster has no GPU" in shown[0], shown
    status = at.dataframe[0].value["status"].tolist()
    assert status[0].startswith("waiting for the cluster: needs 1 GPU") and "(" not in status[0], status
    assert "in line" not in texts(at) + " ".join(str(i.value) for i in at.info)
    assert at.button(key="train_stop").proto.help == "End it before it starts (nothing was trained)"

    at.button(key="train_stop").click().run()
    record = manager().wait(run_id, 30)
    assert record.status == "stopped" and record.started is None, (record.status, record.message)
    wait_for(at, lambda at: any("waited for the cluster" in str(i.value) for i in at.info), timeout=30)
    assert not any("waiting for the cluster" in str(i.value) for i in at.info)

"""Which bundles a browser session sees (engine.runs.bundle_finder): its own Train-page runs and uploads, and
the bundles the command line wrote; never another session's runs or uploads."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.runs.bundle_finder import find_bundles, imports_dir, note_importer
from tests.bundles import trained_bundle


@pytest.fixture(scope="module")
def iris_bundle(tmp_path_factory):
    return trained_bundle(tmp_path_factory.mktemp("trained") / "iris", "mlp_iris")


def _train_page_run(root, run_id: str, owner: str, bundle) -> None:
    """A run folder as the Train page's run store makes it: run.json naming the owner, the bundle inside."""
    (root / run_id).mkdir(parents=True)
    (root / run_id / "run.json").write_text(json.dumps({"id": run_id, "owner": owner, "created": 0}))
    shutil.copytree(bundle, root / run_id / "bundle")


def test_a_session_sees_its_own_runs_and_the_command_lines_not_another_sessions(tmp_path, iris_bundle):
    root = tmp_path / "runs"
    _train_page_run(root, "run-a", "alice", iris_bundle)
    _train_page_run(root, "run-b", "bob", iris_bundle)
    shutil.copytree(iris_bundle, root / "cli_iris")  # python -m engine train ... --out runs/cli_iris
    seen = {
        owner: {e.path.relative_to(root).as_posix() for e in find_bundles(root, owner)} for owner in ("alice", "bob")
    }
    assert seen == {"alice": {"run-a/bundle", "cli_iris"}, "bob": {"run-b/bundle", "cli_iris"}}
    assert len(find_bundles(root)) == 3  # without an owner: everything (the command line, tests)


def test_an_upload_is_listed_for_the_sessions_that_uploaded_it(tmp_path, iris_bundle):
    root = tmp_path / "runs"
    imported = imports_dir(root) / "0123456789abcdef"
    shutil.copytree(iris_bundle, imported)
    assert find_bundles(root, "alice") == []
    note_importer(imported, "alice")
    note_importer(imported, "alice")  # the same zip again: noted once
    assert [e.path for e in find_bundles(root, "alice")] == [imported] and find_bundles(root, "bob") == []
    note_importer(imported, "bob")  # the same zip from another session: both see it
    assert [e.path for e in find_bundles(root, "bob")] == [imported]
    assert json.loads(imported.with_name(imported.name + ".owners").read_text()) == ["alice", "bob"]

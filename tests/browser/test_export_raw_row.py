"""Name a network, train it, export it and run the downloaded model.py on a raw row, in Chromium: the Build page's
name field renames the network, the Export page lists the run under that name, its python download is the small
zip (model.py, weights, README), and the unzipped model.py run in a fresh Python on a raw iris row (as scikit-learn
gives it, not normalised) predicts what the trained network predicts."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect

from engine.data.datasets import MAKERS, load_dataset_for
from engine.export.exporter import load_trained
from tests.browser.build_page import load_template, press, set_text, settle

pytestmark = pytest.mark.browser

NAME = "Iris classifier v2"
FILE_STEM = "Iris_classifier_v2"  # safe_name(NAME)


def trained_prediction(bundle: Path, raw_row: list[float]) -> tuple[str, list[float]]:
    """(class, outputs) the trained network gives the row normalised as in training (the training path's Dataset)."""
    trained = load_trained(bundle)
    data = load_dataset_for(trained.bundle.config)
    mean, std = torch.tensor(data.normalization.mean), torch.tensor(data.normalization.std)
    with torch.no_grad():
        out = trained.model((torch.tensor([raw_row]) - mean) / std)  # [1, 3]
    return data.class_names[int(out.argmax(dim=1))], out[0].tolist()


def run_readme_and_row(folder: Path, raw_row: list[float], home: Path) -> tuple[str, str, list[float]]:
    """README.txt's first two lines, then predict() and the outputs on `raw_row`, in a fresh Python in the unzipped
    folder: (the README's prediction, the row's, the row's outputs)."""
    first, second = (folder / "README.txt").read_text().splitlines()[:2]
    row = f"[{raw_row!r}]"
    script = "\n".join(
        [
            first,
            second,
            f"print(predict(load_model(), {row}))",
            "import torch",
            f"print(load_model()(torch.tensor({row}))[0].tolist())",
        ]
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}  # no PYTHONPATH
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    readme_output, row_output, outputs = done.stdout.strip().splitlines()
    return ast.literal_eval(readme_output)[0], ast.literal_eval(row_output)[0], ast.literal_eval(outputs)


def test_rename_train_export_and_the_downloaded_model_py_predicts_a_raw_row(page: Page, tmp_path, app_runs_dir):
    load_template(page, "mlp_iris")
    set_text(page, "Network name", NAME)
    expect(page.get_by_role("textbox", name="Network name")).to_have_value(NAME)
    with page.expect_download() as saved:
        page.get_by_role("button", name="Save JSON").click()
    assert saved.value.suggested_filename == f"{FILE_STEM}.json"

    page.get_by_role("link", name="Train").click()
    expect(page.get_by_text("loss cross_entropy")).to_be_visible(timeout=30_000)
    press(page, "train_start")
    expect(page.locator("strong", has_text="finished")).to_be_visible(timeout=90_000)
    settle(page)

    page.get_by_role("link", name="Export").click()
    expect(page.get_by_role("combobox", name="Pick a trained run")).to_have_value(re.compile(f"^{NAME} \\(iris"))
    bundle_path = page.locator("code", has_text=re.compile(r"/bundle$"))  # the caption under the run's metrics
    expect(bundle_path).to_be_visible()
    shown = bundle_path.inner_text()  # under `runs`: the page names no server path
    assert shown.startswith("runs/") and str(app_runs_dir) not in shown
    bundle = app_runs_dir / Path(shown).relative_to("runs")
    press(page, "export_run")
    download_button = page.locator(".st-key-download_python button").first  # a button with help is drawn twice
    expect(download_button).to_be_visible(timeout=120_000)
    expect(download_button).to_contain_text("Download (zip)")
    with page.expect_download() as downloaded:
        download_button.click()
    assert downloaded.value.suggested_filename == f"{FILE_STEM}_pytorch.zip"
    archive = tmp_path / "download.zip"
    downloaded.value.save_as(archive)

    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped" / f"{FILE_STEM}_pytorch"
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "model.py", "weights.safetensors"]
    assert "class IrisClassifierV2(nn.Module):" in (folder / "model.py").read_text()

    raw_row = MAKERS["iris"]("iris", 0).x[100].tolist()  # a virginica, as scikit-learn gives it
    readme_says, predicted, outputs = run_readme_and_row(folder, raw_row, tmp_path)
    assert readme_says in ("setosa", "versicolor", "virginica")
    want_class, want_outputs = trained_prediction(bundle, raw_row)
    assert predicted == want_class
    assert max(abs(a - b) for a, b in zip(outputs, want_outputs, strict=True)) <= 1e-4

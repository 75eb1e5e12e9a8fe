"""What a learning rule learned reaches the bundle and the exports: an RBM trained by CD-k keeps both biases."""

import torch

from engine.cli.main import main
from engine.export.exporter import export_bundle
from engine.export.formats import FORMAT_FILES
from engine.runs.bundle import read_bundle


def test_an_rbm_trained_by_cd_k_exports_with_both_biases(tmp_path, capsys):
    out = tmp_path / "bundle"
    assert main(["train", "--template", "rbm_digits", "--epochs", "1", "--device", "cpu", "--out", str(out)]) == 0
    report = export_bundle(out)
    assert all(result.ok for result in report.results.values()), report.results
    trained = read_bundle(out).state_dict
    scripted = torch.jit.load(str(out / FORMAT_FILES["torchscript"])).state_dict()  # the network under "network."
    assert trained["rbm.v_bias"].abs().sum() > 0
    assert torch.equal(scripted["network.rbm.v_bias"], trained["rbm.v_bias"])  # the bias only CD-k learns
    assert torch.equal(scripted["network.rbm.h_bias"], trained["rbm.h_bias"])

"""Exports of a run bundle (ONNX, TorchScript, model.py), each checked, and the safe zip import."""

"""The headless command line, `python -m engine ...`, and `train --ddp` under torchrun."""

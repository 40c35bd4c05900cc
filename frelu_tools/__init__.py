"""Open, convert, plot and reproduce Torch7 FReLU models, checkpoints and logs in PyTorch."""

__version__ = "0.1.0"

"""Open, convert, plot and reproduce Torch7 FReLU models, checkpoints and logs in PyTorch."""

__version__ = "0.1.0"

# Imported after __version__, which the modules below it read.
from frelu_tools.port.formats import load_model as load_model  # noqa: E402

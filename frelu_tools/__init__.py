"""Open, convert, plot and reproduce Torch7 FReLU models, checkpoints and logs in PyTorch."""

__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def __getattr__(name):
    # `load_model` needs torch; importing it lazily keeps `import frelu_tools` (and so the
    # reader and the command line) quick for the commands that never touch torch.
    if name == "load_model":
        from frelu_tools.port.formats import load_model

        return load_model
    raise AttributeError(f"module 'frelu_tools' has no attribute {name!r}")

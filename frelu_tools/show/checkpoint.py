"""The `show` report of a Torch7 checkpoint folder, as the FReLU fork's `checkpoints.lua`
and upstream fb.resnet.torch write it.

Such a folder contains `latest.t7` (a table `{epoch, modelFile, optimFile}`), one
`model_E.t7` and `optimState_E.t7` per epoch, and `model_best.t7`, a copy of the model
of the epoch with the lowest top-1 test error. Neither program stores the errors
themselves: `bestTop1` is a local variable of `main.lua`.
"""

import re
from pathlib import Path

import numpy as np

from frelu_tools.errors import FreluToolsError
from frelu_tools.show.params import activation_parameters, parameter_counts, walk_modules
from frelu_tools.show.table import format_number, format_table
from frelu_tools.show.tree import node_class, node_fields
from frelu_tools.t7 import TorchObject, load

_MODEL_FILE = re.compile(r"^model_(\d+)\.t7$")
_OPTIM_FILE = re.compile(r"^optimState_(\d+)\.t7$")

# optim.sgd state fields -> report names. evalCounter counts optim.sgd calls, one per
# training iteration since the run started.
OPTIMIZER_FIELDS = {
    "learningRate": "learning_rate",
    "learningRateDecay": "learning_rate_decay",
    "momentum": "momentum",
    "nesterov": "nesterov",
    "dampening": "dampening",
    "weightDecay": "weight_decay",
    "evalCounter": "iterations",
}


class CheckpointFolderError(FreluToolsError):
    """A folder without Torch7 checkpoint files, or with files of an unexpected kind."""


def is_checkpoint_folder(folder: Path) -> bool:
    """Return whether a folder contains a `latest.t7` or a `model_E.t7`."""
    if (folder / "latest.t7").is_file():
        return True
    return any(_MODEL_FILE.match(p.name) for p in folder.iterdir())


def _epoch_files(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    files = {}
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            files[int(match.group(1))] = path
    return dict(sorted(files.items()))


def _plain(value):
    """Convert a loaded value to JSON-ready data, tensors to their shape and dtype."""
    if isinstance(value, np.ndarray):
        return {"tensor": [int(n) for n in value.shape], "dtype": str(value.dtype)}
    if isinstance(value, bool | str | int | float) or value is None:
        return value
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, TorchObject):
        return {"torch_class": value.class_name}
    return type(value).__name__


def _optimizer_report(state, path: Path) -> dict:
    if not isinstance(state, dict):
        raise CheckpointFolderError(
            f"{path}: expected an optim.sgd state table, found {type(state).__name__}"
        )
    report = {"file": path.name}
    for torch_name, name in OPTIMIZER_FIELDS.items():
        report[name] = _plain(state.get(torch_name))
    dfdx = state.get("dfdx")
    report["momentum_buffer"] = _plain(dfdx) if dfdx is not None else None
    report["other_fields"] = {
        str(k): _plain(v) for k, v in state.items() if k not in OPTIMIZER_FIELDS and k != "dfdx"
    }
    return report


def _parameter_vector(model) -> np.ndarray:
    arrays = []
    for entry in walk_modules(model):
        fields = node_fields(entry.node)
        for name in ("weight", "bias"):
            tensor = fields.get(name)
            if isinstance(tensor, np.ndarray):
                arrays.append(tensor.reshape(-1))
    return np.concatenate(arrays) if arrays else np.zeros(0, np.float32)


def _load_model(path: Path):
    model = load(path)
    if not isinstance(model, TorchObject):
        raise CheckpointFolderError(
            f"{path}: expected a Torch7 module, found {type(model).__name__}"
        )
    return model


def _frelu_biases(model) -> list:
    return [p for p in activation_parameters(model) if p.activation == "FReLU"]


def _bias_value(values: list[float] | None):
    # A channel-wise bias (size > 1) is summarised by its mean in the epoch table.
    if not values:
        return None
    return values[0] if len(values) == 1 else float(np.mean(values))


def checkpoint_report(folder: Path | str) -> dict:
    """Describe a Torch7 checkpoint folder as a JSON-ready dict.

    Args:
        folder: the `-save` folder of a training run.

    Returns:
        `{"kind": "checkpoint_folder", "folder", "latest", "missing_files",
        "errors_stored", "optimizer", "model", "best", "frelu_layers", "epochs"}`.
        `latest` is `latest.t7`'s table (None when absent), and `missing_files` lists
        the files it names that the folder lacks. `optimizer` describes the
        `optimState_E.t7` that `latest.t7` names, else the last one. Each entry of
        `epochs` has the epoch, its files, learning rate and iteration count, and
        `frelu_biases`: one value per `frelu_layers` entry, the mean for a
        channel-wise bias, with all values in `frelu_values`.

    Raises:
        CheckpointFolderError: the folder contains no `latest.t7` and no `model_E.t7`, or
            a file in it is not what `checkpoints.lua` writes there.
        T7FormatError: a file cannot be read.
    """
    folder = Path(folder)
    if not is_checkpoint_folder(folder):
        raise CheckpointFolderError(
            f"{folder}: not a Torch7 checkpoint folder (no latest.t7 and no model_E.t7)"
        )
    model_files = _epoch_files(folder, _MODEL_FILE)
    optim_files = _epoch_files(folder, _OPTIM_FILE)

    latest = None
    latest_path = folder / "latest.t7"
    if latest_path.is_file():
        table = load(latest_path)
        if not isinstance(table, dict):
            raise CheckpointFolderError(
                f"{latest_path}: expected a table {{epoch, modelFile, optimFile}}, found "
                f"{type(table).__name__}"
            )
        latest = {str(k): _plain(v) for k, v in table.items()}
    error_keys = sorted(k for k in latest or {} if re.search("top|err|best", k, re.I))

    missing = []
    for key in ("modelFile", "optimFile"):
        name = (latest or {}).get(key)
        if isinstance(name, str) and not (folder / name).is_file():
            missing.append(name)

    # The optimizer state of the epoch latest.t7 names, else that of the last epoch.
    optim_path = None
    if latest and isinstance(latest.get("optimFile"), str):
        optim_path = folder / latest["optimFile"]
    if (optim_path is None or not optim_path.is_file()) and optim_files:
        optim_path = list(optim_files.values())[-1]
    optimizer = None
    if optim_path is not None and optim_path.is_file():
        optimizer = _optimizer_report(load(optim_path), optim_path)

    epochs = []
    frelu_layers = None
    vectors = {}
    model_summary = None
    for epoch, path in model_files.items():
        model = _load_model(path)
        biases = _frelu_biases(model)
        if frelu_layers is None:
            frelu_layers = [
                {"torch_path": p.torch_path, "state_dict_key": p.state_dict_key, "size": p.size}
                for p in biases
            ]
            counts = parameter_counts(model)
            model_summary = {
                "torch_class": node_class(model),
                "total_parameters": sum(c.parameters for c in counts),
            }
        elif [p.torch_path for p in biases] != [layer["torch_path"] for layer in frelu_layers]:
            raise CheckpointFolderError(
                f"{path}: its FReLU layers differ from those of the first model_E.t7"
            )
        vectors[epoch] = _parameter_vector(model)

        record = {"epoch": epoch, "model_file": path.name, "optim_file": None}
        record["learning_rate"] = record["iterations"] = None
        if epoch in optim_files:
            state = load(optim_files[epoch])
            if isinstance(state, dict):
                record["optim_file"] = optim_files[epoch].name
                record["learning_rate"] = _plain(state.get("learningRate"))
                record["iterations"] = _plain(state.get("evalCounter"))
        record["frelu_biases"] = [_bias_value(p.values) for p in biases]
        record["frelu_values"] = [p.values for p in biases]
        epochs.append(record)

    best = None
    best_path = folder / "model_best.t7"
    if best_path.is_file():
        best_vector = _parameter_vector(_load_model(best_path))
        same = [
            model_files[e].name
            for e, v in vectors.items()
            if v.shape == best_vector.shape and np.array_equal(v, best_vector)
        ]
        best = {"file": best_path.name, "same_parameters_as": same}

    return {
        "kind": "checkpoint_folder",
        "folder": str(folder),
        "latest": latest,
        "missing_files": missing,
        "errors_stored": {k: latest[k] for k in error_keys} if error_keys else None,
        "optimizer": optimizer,
        "model": model_summary,
        "best": best,
        "frelu_layers": frelu_layers or [],
        "epochs": epochs,
    }


# Bias columns per block of the epoch table, so that a deep network's table stays readable.
COLUMNS_PER_BLOCK = 10


def _format_optimizer(optimizer: dict | None) -> list[str]:
    if optimizer is None:
        return ["", "Optimizer state: no optimState_E.t7 found"]
    lines = ["", f"Optimizer state ({optimizer['file']}):"]
    rows = [
        ["learning rate (learningRate)", format_number(optimizer["learning_rate"])],
        [
            "learning rate decay (learningRateDecay)",
            format_number(optimizer["learning_rate_decay"]),
        ],
        ["momentum", format_number(optimizer["momentum"])],
        ["Nesterov (nesterov)", format_number(optimizer["nesterov"])],
        ["dampening", format_number(optimizer["dampening"])],
        ["weight decay (weightDecay)", format_number(optimizer["weight_decay"])],
        ["iterations (evalCounter)", format_number(optimizer["iterations"])],
    ]
    buffer = optimizer["momentum_buffer"]
    if isinstance(buffer, dict):
        shape = "x".join(str(n) for n in buffer["tensor"])
        rows.append(["momentum buffer (dfdx)", f"{buffer['dtype']} tensor of {shape} elements"])
    else:
        rows.append(["momentum buffer (dfdx)", format_number(buffer)])
    for name, value in optimizer["other_fields"].items():
        rows.append([name, str(value)])
    return lines + format_table(["field", "value"], rows, [False, False])[1:]


def _format_bias_table(report: dict) -> list[str]:
    layers = report["frelu_layers"]
    if not layers:
        return ["", "FReLU biases: none in these models"]
    lines = ["", f"FReLU layers (nn.MyAdd): {len(layers)}"]
    rows = [
        [str(i), layer["torch_path"], layer["state_dict_key"], format_number(layer["size"])]
        for i, layer in enumerate(layers, start=1)
    ]
    lines += format_table(
        ["#", "torch path", "state_dict key", "size"], rows, [True, False, False, True]
    )
    if any(layer["size"] != 1 for layer in layers):
        lines.append("  (the epoch table shows the mean of a channel-wise bias)")

    lines += ["", "FReLU biases by epoch (columns: # above):"]
    for start in range(0, len(layers), COLUMNS_PER_BLOCK):
        stop = min(start + COLUMNS_PER_BLOCK, len(layers))
        headers = ["epoch", "lr", "iterations"] + [str(i + 1) for i in range(start, stop)]
        rows = []
        for record in report["epochs"]:
            values = record["frelu_biases"][start:stop]
            rows.append(
                [
                    str(record["epoch"]),
                    format_number(record["learning_rate"]),
                    format_number(record["iterations"]),
                ]
                + ["-" if v is None else f"{v:.4f}" for v in values]
            )
        if start:
            lines.append("")
        lines += format_table(headers, rows, [True] * len(headers))
    return lines


def format_checkpoint_report(report: dict) -> str:
    """Format a `checkpoint_report` dict as the text `frelu-tools show` prints."""
    lines = [f"Checkpoint folder: {report['folder']}"]
    latest = report["latest"]
    if latest is None:
        lines.append("latest.t7: absent")
    else:
        lines.append(
            f"latest.t7: epoch {format_number(latest.get('epoch'))}, model "
            f"{latest.get('modelFile')}, optimizer state {latest.get('optimFile')}"
        )
    if report["missing_files"]:
        lines.append(f"missing (named by latest.t7): {', '.join(report['missing_files'])}")
    if report["errors_stored"]:
        stored = ", ".join(f"{k} {v}" for k, v in report["errors_stored"].items())
        lines.append(f"errors stored: {stored}")
    else:
        lines.append("best and top-1/top-5 errors: not stored in the checkpoint")

    best = report["best"]
    if best is not None:
        same = ", ".join(best["same_parameters_as"]) or "no model_E.t7 in this folder"
        lines.append(f"{best['file']}: same parameters as {same}")
    model = report["model"]
    if model is not None:
        epochs = ", ".join(str(r["epoch"]) for r in report["epochs"])
        lines.append(
            f"models: {model['torch_class']}, {model['total_parameters']} parameters, "
            f"epochs {epochs}"
        )

    lines += _format_optimizer(report["optimizer"])
    lines += _format_bias_table(report)
    return "\n".join(lines)

"""The `show` report of one model: its tree, activation parameters and parameter counts."""

from collections.abc import Mapping
from dataclasses import asdict

from frelu_tools.show.params import (
    ActivationParameter,
    activation_parameters,
    parameter_counts,
)
from frelu_tools.show.table import format_number, format_table, format_values
from frelu_tools.show.tree import format_tree, node_class

_SECTION_TITLES = {
    "FReLU": "FReLU biases (nn.MyAdd)",
    "SReLU": "SReLU thresholds (nn.SReLU)",
    "PReLU": "PReLU slopes (nn.PReLU)",
}


def model_report(root, source: str | None = None, state_dict: Mapping | None = None) -> dict:
    """Describe a module tree as a JSON-ready dict.

    Args:
        root: a TorchObject module tree or an architecture spec dict.
        source: the file it came from, stored as `file`.
        state_dict: parameter values by state_dict key, for a spec (see
            `activation_parameters`).

    Returns:
        `{"kind": "model", "file", "torch_class", "tree", "activation_parameters",
        "parameter_counts", "total_parameters"}`; each activation parameter is the
        dict of an ActivationParameter, each count `{"torch_class", "modules",
        "parameters"}`.
    """
    counts = parameter_counts(root)
    return {
        "kind": "model",
        "file": source,
        "torch_class": node_class(root),
        "tree": format_tree(root),
        "activation_parameters": [asdict(p) for p in activation_parameters(root, state_dict)],
        "parameter_counts": [asdict(c) for c in counts],
        "total_parameters": sum(c.parameters for c in counts),
    }


def _constrained_text(parameter: ActivationParameter) -> str:
    return "yes" if parameter.constrained else "no"


def _activation_rows(parameters: list[ActivationParameter]) -> tuple[list, list, list]:
    activation = parameters[0].activation
    headers = ["torch path", "state_dict key", "size"]
    right = [False, False, True]
    with_dims = any(p.num_input_dims is not None for p in parameters)
    if activation == "FReLU":
        headers += ["grad scale", "constrained", "constrained value"]
        right += [True, False, True]
        if with_dims:
            headers.append("input dims")
            right.append(True)
    headers.append("value")
    right.append(False)

    rows = []
    for p in parameters:
        cells = [p.torch_path, p.state_dict_key, format_number(p.size)]
        if activation == "FReLU":
            cells += [
                format_number(p.grad_scale),
                _constrained_text(p),
                format_number(p.constrained_value),
            ]
            if with_dims:
                cells.append(format_number(p.num_input_dims))
        value_lines = format_values(p.values)
        rows.append(cells + [value_lines[0]])
        for more in value_lines[1:]:
            rows.append([""] * len(cells) + [more])
    return headers, rows, right


def format_activation_sections(parameters: list[dict]) -> list[str]:
    """Format the FReLU, SReLU and PReLU tables of a report's `activation_parameters`."""
    lines = []
    records = [ActivationParameter(**p) for p in parameters]
    for activation, title in _SECTION_TITLES.items():
        group = [p for p in records if p.activation == activation]
        if not group:
            continue
        lines += ["", f"{title}: {len(group)}"]
        headers, rows, right = _activation_rows(group)
        lines += format_table(headers, rows, right)
    if not records:
        lines += ["", "FReLU, SReLU, PReLU: none in this model"]
    return lines


def format_counts(counts: list[dict], total: int) -> list[str]:
    """Format the parameter count table by module class, with the total."""
    rows = [[c["torch_class"], str(c["modules"]), str(c["parameters"])] for c in counts]
    rows.append(["total", str(sum(c["modules"] for c in counts)), str(total)])
    lines = ["", "Parameters by module class:"]
    return lines + format_table(["class", "modules", "parameters"], rows, [False, True, True])


def format_model_report(report: dict) -> str:
    """Format a `model_report` dict as the text `frelu-tools show` prints."""
    lines = [report["tree"]]
    lines += format_activation_sections(report["activation_parameters"])
    lines += format_counts(report["parameter_counts"], report["total_parameters"])
    return "\n".join(lines)

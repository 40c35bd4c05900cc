"""Training configurations of the FReLU paper (arXiv 1706.08098), one JSON file each.

The files live under `reproduce/`, one per run setting of the fork's `scripts/*.sh` and
`run-*.sh`. A file contains the network (`net_type`, the fork's `-netType`), data set,
depth, the SGD settings and schedule, the seeds, the log name the original scripts used,
the script it comes from and the reported test error. The reported error is null where
neither the fork's README nor its scripts give one.

A request names a configuration or one of its `groups`: for example `resnet-possrelu`
selects every depth and data set of that network.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from frelu_tools.errors import FreluToolsError
from frelu_tools.train.optim import SGDSettings

# NOTE: the configurations live in the repository's reproduce/ folder, which an
# installed wheel does not contain; FRELU_REPRODUCE_DIR or --configs points elsewhere.
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "reproduce"


class ConfigError(FreluToolsError):
    """A configuration that is unknown or invalid."""


@dataclass
class RunConfig:
    """One training configuration; the module docstring describes the fields."""

    name: str
    net_type: str
    dataset: str
    lr: float
    epochs: int
    batch_size: int
    log_name: str
    seeds: list[int]
    depth: int | None = None
    description: str = ""
    groups: list[str] = field(default_factory=list)
    activation: str | None = None
    batch_norm: bool | None = None
    momentum: float = 0.9
    dampening: float = 0.0
    nesterov: bool = True
    weight_decay: float = 1e-4
    milestones: list[int] = field(default_factory=lambda: [81, 122])
    gamma: float = 0.1
    source: str | None = None
    reported: dict | None = None

    @property
    def sgd(self) -> SGDSettings:
        return SGDSettings(
            lr=self.lr,
            momentum=self.momentum,
            dampening=self.dampening,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
            milestones=list(self.milestones),
            gamma=self.gamma,
        )

    def run_name(self, seed: int) -> str:
        """Log file stem as the original scripts name it, e.g. `resnet-possrelu-20-seed0`."""
        return f"{self.log_name}-seed{seed}"

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


_REQUIRED = ("name", "net_type", "dataset", "lr", "epochs", "batch_size", "log_name", "seeds")


def config_dir(directory: str | Path | None = None) -> Path:
    """Folder of the configuration files: `directory`, $FRELU_REPRODUCE_DIR or reproduce/."""
    if directory is not None:
        return Path(directory)
    configured = os.environ.get("FRELU_REPRODUCE_DIR")
    return Path(configured) if configured else DEFAULT_CONFIG_DIR


def read_config(path: Path) -> RunConfig:
    """Read one configuration file.

    Raises:
        ConfigError: not JSON, a required field missing or an unknown field.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: invalid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    missing = [key for key in _REQUIRED if data.get(key) is None]
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(RunConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{path}: unknown fields {', '.join(unknown)}")
    values = {key: value for key, value in data.items() if value is not None}
    return RunConfig(**values)


def all_configs(directory: str | Path | None = None) -> list[RunConfig]:
    """Read every configuration in the folder, sorted by net type, data set, depth and LR.

    Raises:
        ConfigError: the folder is missing or contains no `*.json` file, or a file is invalid.
    """
    folder = config_dir(directory)
    if not folder.is_dir():
        raise ConfigError(
            f"configuration folder {folder} not found; pass --configs DIR or set "
            "FRELU_REPRODUCE_DIR to the repository's reproduce/ folder"
        )
    paths = list(folder.glob("*.json"))
    if not paths:
        raise ConfigError(
            f"configuration folder {folder} has no configuration files (*.json); pass "
            "--configs DIR or set FRELU_REPRODUCE_DIR to a folder of them, such as the "
            "repository's reproduce/"
        )
    configs = [read_config(path) for path in paths]
    return sorted(configs, key=lambda c: (c.net_type, c.dataset, c.depth or 0, c.lr, c.name))


def select_configs(request: str, directory: str | Path | None = None) -> list[RunConfig]:
    """Configurations named `request`, or in group `request`.

    Raises:
        ConfigError: no configuration has that name or group.
    """
    configs = all_configs(directory)
    exact = [config for config in configs if config.name == request]
    if exact:
        return exact
    grouped = [config for config in configs if request in config.groups]
    if grouped:
        return grouped
    names = sorted({c.name for c in configs} | {g for c in configs for g in c.groups})
    close = [name for name in names if request in name][:8]
    hint = f"; similar: {', '.join(close)}" if close else ""
    raise ConfigError(
        f"no configuration or group named {request!r}{hint}. "
        "List them with: frelu-tools reproduce --list"
    )


def parse_seeds(text: str) -> list[int]:
    """Parse a seed list such as `0-4`, `1,3` or `0-2,7`."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                if high < low:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            elif part:
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(
                f"invalid seed list {text!r}; expected numbers and ranges like 0-4 or 0,2,5"
            ) from None
    if not seeds:
        raise ConfigError(f"invalid seed list {text!r}: no seed given")
    return sorted(set(seeds))

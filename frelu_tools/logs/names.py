"""Run names: what the FReLU fork's scripts encode in a log's path.

The scripts under `scripts/` of the fork write `./log/<dataset>/<name>.log`, where
`<name>` is one of

    <netType>-<depth>-seed<k>          resnet-possrelu-20-seed0 (ResNets)
    <netType>-seed<k>                  pelu-smallnet-relu-bn-seed3
    <netType>-<variant>-seed<k>        nin-prelu-bn-0.1-rmax-seed2
    <netType>-seed<k>-<variant>        pelu-smallnet-relu-seed0-0.1
    <netType>-<depth>-<variant>        resnet-56-nocudnnall-run2 (no seed)

`<netType>` is the `-netType` option, the name of a file under the fork's `models/`.
Runs that differ only in their seed are one configuration: the seeds of a table row.
"""

import re
from pathlib import PurePath

# The `models/*.lua` files of the FReLU fork, so that a name such as
# `pelu-smallnet-possrelu-bn-0.1-rmax` splits after `-bn` and not elsewhere.
KNOWN_NET_TYPES = frozenset(
    {
        "resnet",
        "resnet-possrelu",
        "resnet-elu",
        "preresnet",
        "elu-resnet-elu",
        "elu-resnet-possrelu",
        "elu-resnet-possrelu-constrained",
        "elu-resnet-possrelu-imagenet",
        "nin-relu",
        "nin-relu-bn",
        "nin-elu-bn",
        "nin-possrelu-bn",
        "nin-prelu-bn",
        "nin-srelu-bn",
        "pelu-smallnet-relu",
        "pelu-smallnet-relu-bn",
        "pelu-smallnet-posbn",
        "pelu-smallnet-elu",
        "pelu-smallnet-elu-bn",
        "pelu-smallnet-possrelu",
        "pelu-smallnet-possrelu-bn",
        "pelu-smallnet-prelu",
        "pelu-smallnet-prelu-bn",
        "pelu-smallnet-srelu",
        "pelu-smallnet-srelu-bn",
    }
)

# netType token -> activation name in the tables. `possrelu` is the fork's name for FReLU.
_ACTIVATION_TOKENS = {
    "relu": "relu",
    "possrelu": "frelu",
    "elu": "elu",
    "prelu": "prelu",
    "srelu": "srelu",
}

# Known netTypes whose name has no activation token use plain ReLU.
_RELU_BY_DEFAULT = frozenset({"resnet", "preresnet", "pelu-smallnet-posbn"})

KNOWN_DATASETS = frozenset({"cifar10", "cifar100", "imagenet", "mnist"})

_SEED = re.compile(r"^(?P<head>.+?)-seed(?P<seed>\d+)(?:-(?P<tail>.+))?$")
_DEPTH = re.compile(r"^(?P<depth>\d+)(?:-(?P<rest>.+))?$")
_UNKNOWN_WITH_DEPTH = re.compile(r"^(?P<net>.+?)-(?P<depth>\d+)(?:-(?P<rest>.+))?$")


def parse_run_name(path) -> dict:
    """Parse a log path named as the FReLU fork's scripts name their logs.

    Args:
        path: the log file, e.g. `log/cifar10/resnet-possrelu-20-seed0.log`.

    Returns:
        A dict with `dataset` (the parent folder, when it is a known data set name),
        `net_type` (the `-netType` name), `network` (the net type without its
        activation), `activation` (`frelu` for the fork's `possrelu`), `depth`, `seed`,
        `variant` (the rest of the name, e.g. `0.1-rmax`) and `config` (the name without
        its seed: runs with equal `dataset` and `config` are seeds of one configuration).
        A part that the name does not contain is None.

    Example:
        >>> parse_run_name("log/cifar10/resnet-possrelu-20-seed1.log")["activation"]
        'frelu'
    """
    path = PurePath(path)
    stem = path.name
    for suffix in (".log", ".txt"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    parent = path.parent.name
    result = {
        "dataset": parent if parent in KNOWN_DATASETS else None,
        "net_type": None,
        "network": None,
        "activation": None,
        "depth": None,
        "seed": None,
        "variant": None,
        "config": stem,
    }

    head, variant_parts = stem, []
    match = _SEED.match(stem)
    if match:
        head = match["head"]
        result["seed"] = int(match["seed"])
        if match["tail"]:
            variant_parts.append(match["tail"])
        result["config"] = head if not match["tail"] else f"{head}-{match['tail']}"

    net_type, rest = _split_net_type(head)
    depth = None
    if rest:
        depth_match = _DEPTH.match(rest)
        if depth_match:
            depth = int(depth_match["depth"])
            rest = depth_match["rest"]
    if rest:
        variant_parts.insert(0, rest)

    if net_type not in KNOWN_NET_TYPES and depth is None and result["seed"] is None:
        # A name such as `train.log` names no network.
        net_type = None
    result["net_type"] = net_type
    result["depth"] = depth
    result["variant"] = "-".join(variant_parts) or None
    if net_type is not None:
        result["network"], result["activation"] = split_net_type(net_type)
    return result


def _split_net_type(head: str) -> tuple[str, str | None]:
    """Split `head` into a netType and what follows it (depth and variant)."""
    tokens = head.split("-")
    for end in range(len(tokens), 0, -1):
        candidate = "-".join(tokens[:end])
        if candidate in KNOWN_NET_TYPES:
            return candidate, "-".join(tokens[end:]) or None

    # An unknown network: its name runs up to the first all-digit part, the depth.
    match = _UNKNOWN_WITH_DEPTH.match(head)
    if match:
        rest = match["depth"] if match["rest"] is None else f"{match['depth']}-{match['rest']}"
        return match["net"], rest
    return head, None


def split_net_type(net_type: str) -> tuple[str, str | None]:
    """Split a netType into its network and its activation.

    The activation is the last activation token of the name (`elu-resnet-possrelu` is
    the `elu-resnet` network with FReLU); a `constrained` right after it belongs to the
    activation. Known netTypes without an activation token use ReLU; for an unknown
    netType without one the activation is None.
    """
    tokens = net_type.split("-")
    for index in range(len(tokens) - 1, -1, -1):
        activation = _ACTIVATION_TOKENS.get(tokens[index])
        if activation is None:
            continue
        end = index + 1
        if end < len(tokens) and tokens[end] == "constrained":
            activation = f"{activation}-constrained"
            end += 1
        network = "-".join(tokens[:index] + tokens[end:])
        return network or net_type, activation
    if net_type in _RELU_BY_DEFAULT:
        return net_type, "relu"
    return net_type, None


def parse_command(line: str) -> dict:
    """Parse the options of a `th main.lua ...` shell trace line, such as `set -x` writes.

    Returns the `-dataset`, `-netType`, `-depth`, `-manualSeed`, `-batchSize`,
    `-nThreads`, `-LR` and `-resume` values that the line sets, under the names
    `dataset`, `net_type`, `depth`, `seed`, `batch_size`, `threads`, `lr` and `resume`.
    """
    names = {
        "-dataset": ("dataset", str),
        "-netType": ("net_type", str),
        "-depth": ("depth", int),
        "-manualSeed": ("seed", int),
        "-batchSize": ("batch_size", int),
        "-nThreads": ("threads", int),
        "-LR": ("lr", float),
        "-resume": ("resume", str),
    }
    words = line.split()
    options = {}
    for option, value in zip(words, words[1:], strict=False):
        if option not in names:
            continue
        key, convert = names[option]
        try:
            options[key] = convert(value)
        except ValueError:
            continue
    return options

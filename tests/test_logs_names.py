import pytest

from frelu_tools.logs.names import parse_command, parse_run_name, split_net_type

# Names the fork's scripts/*.sh write: LOG=./log/<dataset>/<name>.log
CASES = [
    (
        "log/cifar10/resnet-possrelu-20-seed0.log",
        ("cifar10", "resnet-possrelu", "resnet", "frelu", 20, 0, None, "resnet-possrelu-20"),
    ),
    (
        "log/cifar100/resnet-110-seed4.log",
        ("cifar100", "resnet", "resnet", "relu", 110, 4, None, "resnet-110"),
    ),
    (
        "log/cifar10/elu-resnet-elu-32-seed1.log",
        ("cifar10", "elu-resnet-elu", "elu-resnet", "elu", 32, 1, None, "elu-resnet-elu-32"),
    ),
    (
        "log/cifar100/pelu-smallnet-possrelu-bn-seed1.log",
        (
            "cifar100",
            "pelu-smallnet-possrelu-bn",
            "pelu-smallnet-bn",
            "frelu",
            None,
            1,
            None,
            "pelu-smallnet-possrelu-bn",
        ),
    ),
    (
        "log/cifar100/nin-srelu-bn-0.1-rmax-seed2.log",
        (
            "cifar100",
            "nin-srelu-bn",
            "nin-bn",
            "srelu",
            None,
            2,
            "0.1-rmax",
            "nin-srelu-bn-0.1-rmax",
        ),
    ),
    (
        "log/cifar100/pelu-smallnet-relu-seed0-0.1.log",
        (
            "cifar100",
            "pelu-smallnet-relu",
            "pelu-smallnet",
            "relu",
            None,
            0,
            "0.1",
            "pelu-smallnet-relu-0.1",
        ),
    ),
    (
        "log/cifar100/pelu-smallnet-possrelu-reproduce--1-seed3.log",
        (
            "cifar100",
            "pelu-smallnet-possrelu",
            "pelu-smallnet",
            "frelu",
            None,
            3,
            "reproduce--1",
            "pelu-smallnet-possrelu-reproduce--1",
        ),
    ),
    (
        "log/cifar10/resnet-56-nocudnnall-run2.log",
        (
            "cifar10",
            "resnet",
            "resnet",
            "relu",
            56,
            None,
            "nocudnnall-run2",
            "resnet-56-nocudnnall-run2",
        ),
    ),
    (
        "log/cifar100/pelu-smallnet-posbn-seed0.log",
        (
            "cifar100",
            "pelu-smallnet-posbn",
            "pelu-smallnet-posbn",
            "relu",
            None,
            0,
            None,
            "pelu-smallnet-posbn",
        ),
    ),
    (
        "log/cifar10/elu-resnet-possrelu-constrained-20-seed0.log",
        (
            "cifar10",
            "elu-resnet-possrelu-constrained",
            "elu-resnet",
            "frelu-constrained",
            20,
            0,
            None,
            "elu-resnet-possrelu-constrained-20",
        ),
    ),
    (
        "runs/wrn-28-10-seed1.log",
        (None, "wrn", "wrn", None, 28, 1, "10", "wrn-28-10"),
    ),
    (
        "out/train.log",
        (None, None, None, None, None, None, None, "train"),
    ),
]
KEYS = ("dataset", "net_type", "network", "activation", "depth", "seed", "variant", "config")


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parse_run_name(path, expected):
    parsed = parse_run_name(path)
    assert tuple(parsed[k] for k in KEYS) == expected


def test_seeds_share_config():
    names = [parse_run_name(f"log/cifar10/resnet-possrelu-20-seed{k}.log") for k in range(5)]
    assert {n["config"] for n in names} == {"resnet-possrelu-20"}
    assert [n["seed"] for n in names] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("net_type", "expected"),
    [
        ("resnet", ("resnet", "relu")),
        ("preresnet", ("preresnet", "relu")),
        ("resnet-elu", ("resnet", "elu")),
        ("nin-relu", ("nin", "relu")),
        ("nin-prelu-bn", ("nin-bn", "prelu")),
        ("pelu-smallnet-srelu", ("pelu-smallnet", "srelu")),
        ("mystery", ("mystery", None)),
    ],
)
def test_split_net_type(net_type, expected):
    assert split_net_type(net_type) == expected


def test_parse_command():
    line = (
        "+ th main.lua -dataset cifar10 -nGPU 1 -batchSize 128 -netType resnet-possrelu "
        "-nEpochs 4 -depth 20 -LR 0.1 -manualSeed 2 -nThreads 1 -save checkpoints"
    )
    assert parse_command(line) == {
        "dataset": "cifar10",
        "batch_size": 128,
        "net_type": "resnet-possrelu",
        "depth": 20,
        "lr": 0.1,
        "seed": 2,
        "threads": 1,
    }


def test_parse_command_skips_bad_values():
    assert parse_command("+ th main.lua -batchSize $2 -depth") == {}

"""Torch7 checkpoint folders to PyTorch training checkpoints: the momentum buffer split."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import REFERENCE_DIR

from frelu_tools import t7
from frelu_tools.cli import cli
from frelu_tools.port import checkpoint as checkpoints

RUNS = (
    "a_cifar10_resnet-possrelu-8_seed0",
    "c_cifar10_elu-resnet-possrelu-8_seed0",
    "d_cifar10_resnet-8_seed0",
)
TRAINSTEPS = (1, 2, 3)


def _torch_parameters(obj) -> list[np.ndarray]:
    # nn.Module:parameters(): containers concatenate their children's, a leaf module
    # gives its weight and then its bias.
    modules = obj.fields.get("modules")
    if modules is not None:
        return [array for child in modules for array in _torch_parameters(child)]
    return [obj.fields[key] for key in ("weight", "bias") if obj.fields.get(key) is not None]


def _checkpoint_pairs():
    if REFERENCE_DIR is None:
        return []
    pairs = []
    for run in RUNS:
        folder = REFERENCE_DIR / "runs" / run / "checkpoints"
        for optim_path in sorted(folder.glob("optimState_*.t7")):
            epoch = optim_path.stem.split("_")[1]
            pairs.append(
                pytest.param(folder / f"model_{epoch}.t7", optim_path, id=f"{run}-{epoch}")
            )
    trainstep = REFERENCE_DIR / "trainstep" / "resnet-possrelu-8-cifar10"
    for step in TRAINSTEPS:
        pairs.append(
            pytest.param(
                trainstep / f"model_{step}.t7",
                trainstep / f"optimState_{step}.t7",
                id=f"trainstep-{step}",
            )
        )
    return pairs


def _sgd(model):
    return torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, dampening=0, weight_decay=1e-4
    )


# --- flat parameter layout, from the Torch7 files alone ----------------------------------


@pytest.mark.parametrize(("model_path", "optim_path"), _checkpoint_pairs())
def test_flat_offsets_match_storage(model_path, optim_path):
    arrays = _torch_parameters(t7.load(model_path))
    dfdx = t7.load(optim_path)["dfdx"]

    offsets, length = checkpoints.flat_parameter_offsets(arrays)

    assert length == dfdx.size
    assert offsets == [t7.storage_of(array)[1] for array in arrays]
    position = 0
    for offset, array in sorted(zip(offsets, arrays, strict=True), key=lambda item: item[0]):
        assert offset == position
        position += array.size
    assert position == dfdx.size


def test_flat_offsets_of_separate_storages(reference_dir):
    # model_0 was saved before getParameters(); model_1 after. Laying model_0's separate
    # storages end to end must give model_1's offsets.
    trainstep = reference_dir / "trainstep" / "resnet-possrelu-8-cifar10"
    separate = _torch_parameters(t7.load(trainstep / "model_0.t7"))
    flat = _torch_parameters(t7.load(trainstep / "model_1.t7"))
    assert len({id(t7.storage_of(array)[0]) for array in separate}) == len(separate)

    offsets, length = checkpoints.flat_parameter_offsets(separate)

    assert offsets == [t7.storage_of(array)[1] for array in flat]
    assert length == t7.storage_of(flat[0])[0].size


def test_flat_offsets_skip_unused_elements(reference_dir):
    # "row" uses elements 20..23 of a 24-float storage: nn.Module.flatten squeezes out
    # the elements no parameter uses.
    shared = t7.load(reference_dir / "formats" / "shared_storage.t7")

    offsets, length = checkpoints.flat_parameter_offsets([shared["row"]])

    assert offsets == [0]
    assert length == 4


def test_flat_offsets_reject_strided_view(reference_dir):
    shared = t7.load(reference_dir / "formats" / "shared_storage.t7")

    with pytest.raises(checkpoints.CheckpointFormatError, match="not contiguous"):
        checkpoints.flat_parameter_offsets([shared["narrowed"]])


# --- the full conversion --------------------------------------------------------------


@pytest.mark.parametrize(("model_path", "optim_path"), _checkpoint_pairs())
def test_split_buffers_are_dfdx_slices(model_path, optim_path):
    from frelu_tools.port import named_sources

    model_obj = t7.load(model_path)
    dfdx = t7.load(optim_path)["dfdx"].reshape(-1)
    sources = named_sources(model_obj)

    ckpt = checkpoints.convert_training_state(model_path, optim_path, epoch=1)

    state = ckpt["optimizer"]["state"]
    names = ckpt["param_names"]
    assert len(state) == len(names)
    covered = np.zeros(dfdx.size, dtype=int)
    for index, name in enumerate(names):
        buffer = state[index]["momentum_buffer"]
        assert buffer.shape == ckpt["state_dict"][name].shape, name
        storage, offset = t7.storage_of(sources[name])
        size = sources[name].size
        assert np.array_equal(buffer.reshape(-1).numpy(), dfdx[offset : offset + size]), name
        # The parameter itself sits at the same offset of the flat parameter storage.
        assert np.array_equal(
            ckpt["state_dict"][name].reshape(-1).numpy(), storage[offset : offset + size]
        ), name
        covered[offset : offset + size] += 1
    assert (covered == 1).all()


@pytest.mark.parametrize("run", RUNS)
def test_folder_conversion(run, reference_dir, tmp_path):
    folder = reference_dir / "runs" / run / "checkpoints"
    latest = t7.load(folder / "latest.t7")
    optim_state = t7.load(folder / latest["optimFile"])

    ckpt = checkpoints.convert_checkpoint_folder(folder)
    path = checkpoints.save_checkpoint(tmp_path / "ckpt.pt", ckpt, force=False)
    loaded = torch.load(path, weights_only=True)

    assert loaded["format"] == checkpoints.CHECKPOINT_FORMAT
    assert loaded["epoch"] == latest["epoch"]
    assert loaded["learning_rate"] == pytest.approx(optim_state["learningRate"])
    hyper = loaded["hyperparameters"]
    assert hyper["momentum"] == pytest.approx(0.9)
    assert hyper["nesterov"] is True
    assert hyper["dampening"] == 0
    assert hyper["weightDecay"] == pytest.approx(1e-4)
    assert hyper["evalCounter"] == optim_state["evalCounter"]
    assert hyper["LR"] == pytest.approx(0.1)
    assert hyper["schedule"] == checkpoints.CIFAR_SCHEDULE
    assert loaded["dataset"] == "cifar10"
    assert loaded["depth"] == 8
    names = [entry["name"] for entry in loaded["source"]["files"]]
    assert names == ["latest.t7", latest["modelFile"], latest["optimFile"]]

    from frelu_tools.port import build

    model = build(loaded["architecture"])
    model.load_state_dict(loaded["state_dict"])
    checkpoints.check_param_names(model, loaded)
    optimizer = _sgd(model)
    optimizer.load_state_dict(loaded["optimizer"])
    group = optimizer.param_groups[0]
    assert group["nesterov"] is True
    assert group["momentum"] == pytest.approx(0.9)
    assert group["weight_decay"] == pytest.approx(1e-4)
    assert group["lr"] == pytest.approx(optim_state["learningRate"])
    parameters = dict(model.named_parameters())
    for index, name in enumerate(loaded["param_names"]):
        expected = loaded["optimizer"]["state"][index]["momentum_buffer"]
        actual = optimizer.state[parameters[name]]["momentum_buffer"]
        assert torch.equal(actual, expected), name


def test_folder_best_error_from_log(reference_dir):
    folder = reference_dir / "runs" / "c_cifar10_elu-resnet-possrelu-8_seed0" / "checkpoints"

    ckpt = checkpoints.convert_checkpoint_folder(folder)

    assert ckpt["net_type"] == "elu-resnet-possrelu"
    assert ckpt["best_epoch"] == 5
    assert ckpt["best_top1_err"] == pytest.approx(0.391)
    assert ckpt["best_top5_err"] == pytest.approx(0.0)


def test_folder_resolves_absolute_paths(reference_dir, tmp_path):
    source = reference_dir / "runs" / "a_cifar10_resnet-possrelu-8_seed0" / "checkpoints"
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("model_5.t7", "optimState_5.t7"):
        (folder / name).symlink_to(source / name)
    latest = t7.load(source / "latest.t7")
    _write_latest(
        folder / "latest.t7",
        latest["epoch"],
        "/home/someone/frelu.torch/checkpoints/model_5.t7",
        "/home/someone/frelu.torch/checkpoints/optimState_5.t7",
    )

    ckpt = checkpoints.convert_checkpoint_folder(folder)

    assert ckpt["epoch"] == 5
    assert [entry["name"] for entry in ckpt["source"]["files"]][1:] == [
        "model_5.t7",
        "optimState_5.t7",
    ]
    assert ckpt["net_type"] is None


def _write_latest(path, epoch: int, model_file: str, optim_file: str) -> None:
    # Torch7 binary serialization of {epoch=E, modelFile=..., optimFile=...}: a table
    # (type 3) with object index 1 and 3 entries; numbers are type 1 doubles, strings
    # type 2 with an int length.
    def integer(value):
        return np.int32(value).tobytes()

    def string(text):
        data = text.encode()
        return integer(2) + integer(len(data)) + data

    body = integer(3) + integer(1) + integer(3)
    body += string("epoch") + integer(1) + np.float64(epoch).tobytes()
    body += string("modelFile") + string(model_file)
    body += string("optimFile") + string(optim_file)
    path.write_bytes(body)


def test_folder_missing_model_file(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    _write_latest(folder / "latest.t7", 2, "model_2.t7", "optimState_2.t7")

    result = CliRunner().invoke(cli, ["convert", str(folder), "-o", str(tmp_path / "c.pt"), "-q"])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {folder}: modelFile 'model_2.t7' named in latest.t7 not found in the folder\n"
    )
    assert not (tmp_path / "c.pt").exists()


def test_folder_cli_output(reference_dir, tmp_path):
    folder = reference_dir / "runs" / "a_cifar10_resnet-possrelu-8_seed0" / "checkpoints"
    output = tmp_path / "ckpt.pt"

    result = CliRunner().invoke(cli, ["convert", str(folder), "-o", str(output)])

    assert result.exit_code == 0, result.output
    ckpt = checkpoints.load_checkpoint(output)
    count = len(ckpt["param_names"])
    assert result.stdout == (
        f"wrote {output} (training checkpoint: epoch 5, lr 0.1, {count} parameters, "
        f"{count} momentum buffers)\n"
    )
    assert "reading" in result.stderr
    assert "splitting the momentum buffer (75297 values) per parameter" in result.stderr


def test_folder_rejects_other_formats(reference_dir, tmp_path):
    folder = reference_dir / "runs" / "d_cifar10_resnet-8_seed0" / "checkpoints"

    result = CliRunner().invoke(
        cli, ["convert", str(folder), "--format", "safetensors", "-o", str(tmp_path / "c")]
    )

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {folder}: a checkpoint folder converts to a training checkpoint, which is "
        "written in the pt format only, not safetensors; drop --format\n"
    )


@pytest.mark.parametrize("step", [1, 2])
def test_resume_reproduces_next_step(step, reference_dir):
    # One torch.optim.SGD step from the converted model_K and optimState_K on Torch7's
    # batch must give Torch7's model_K+1 and optimState_K+1.
    from frelu_tools.port import build

    trainstep = reference_dir / "trainstep" / "resnet-possrelu-8-cifar10"
    ckpt = checkpoints.convert_training_state(
        trainstep / f"model_{step}.t7", trainstep / f"optimState_{step}.t7", epoch=1
    )
    after = checkpoints.convert_training_state(
        trainstep / f"model_{step + 1}.t7", trainstep / f"optimState_{step + 1}.t7", epoch=1
    )
    batch = t7.load(trainstep / "batch.t7")
    inputs = torch.from_numpy(np.array(batch["input"], dtype=np.float32))
    targets = torch.from_numpy(np.array(batch["target"], dtype=np.int64)) - 1
    model = build(ckpt["architecture"])
    model.load_state_dict(ckpt["state_dict"])
    model.train()
    optimizer = _sgd(model)
    optimizer.load_state_dict(ckpt["optimizer"])

    loss = torch.nn.functional.cross_entropy(model(inputs), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    losses = t7.load(trainstep / "losses.t7")  # losses[K] is the loss of step K + 1
    assert loss.item() == pytest.approx(losses[step]["loss"], rel=1e-5)
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue  # a PyTorch counter that Torch7 does not have
        expected = after["state_dict"][name]
        assert torch.allclose(value, expected, rtol=1e-5, atol=1e-6), name
    for index, (name, parameter) in enumerate(model.named_parameters()):
        expected = after["optimizer"]["state"][index]["momentum_buffer"]
        actual = optimizer.state[parameter]["momentum_buffer"]
        assert torch.allclose(actual, expected, rtol=1e-5, atol=1e-6), name


# --- the checkpoint file format --------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    optimizer = _sgd(model)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    ckpt = checkpoints.new_checkpoint(
        state_dict=model.state_dict(),
        optimizer=optimizer.state_dict(),
        param_names=[name for name, _ in model.named_parameters()],
        epoch=3,
        learning_rate=0.1,
        hyperparameters={"LR": 0.1, "schedule": checkpoints.CIFAR_SCHEDULE},
    )

    checkpoints.save_checkpoint(tmp_path / "latest.pt", ckpt)
    loaded = checkpoints.load_checkpoint(tmp_path / "latest.pt")

    assert loaded["epoch"] == 3
    assert loaded["hyperparameters"]["momentum"] is None
    assert loaded["param_names"] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    restored = _sgd(model)
    restored.load_state_dict(loaded["optimizer"])
    for parameter in model.parameters():
        assert torch.equal(
            restored.state[parameter]["momentum_buffer"],
            optimizer.state[parameter]["momentum_buffer"],
        )


def test_checkpoint_rejects_unknown_key():
    with pytest.raises(TypeError, match="unknown checkpoint keys: lr"):
        checkpoints.new_checkpoint(lr=0.1)


def test_checkpoint_rejects_newer_version(tmp_path):
    ckpt = checkpoints.new_checkpoint()
    ckpt["format_version"] = checkpoints.CHECKPOINT_FORMAT_VERSION + 1
    torch.save(ckpt, tmp_path / "future.pt")

    with pytest.raises(checkpoints.CheckpointFormatError, match="newer than this frelu-tools"):
        checkpoints.load_checkpoint(tmp_path / "future.pt")


class _Foreign:
    """An object `torch.load(..., weights_only=True)` refuses to unpickle."""


def _truncated(path):
    torch.save(checkpoints.new_checkpoint(), path)
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_text("epoch 5\n"),
        lambda path: path.write_bytes(b""),
        _truncated,
        lambda path: torch.save(_Foreign(), path),
    ],
    ids=["text", "empty", "truncated", "foreign pickle"],
)
def test_load_rejects_other_files(tmp_path, write):
    path = tmp_path / "keep.pt"
    write(path)
    with pytest.raises(checkpoints.CheckpointFormatError) as error:
        checkpoints.load_checkpoint(path)
    message = str(error.value)
    assert message.startswith(f"{path}: not a frelu-tools checkpoint")
    assert "weights_only" not in message
    assert "\n" not in message


def test_load_names_missing_file(tmp_path):
    with pytest.raises(checkpoints.CheckpointFormatError, match="missing.pt: cannot read"):
        checkpoints.load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(1, 0.1), (80, 0.1), (81, 0.01), (121, 0.01), (122, 0.001), (200, 0.001)],
)
def test_cifar_learning_rate_schedule(epoch, expected):
    hyper = {"LR": 0.1, "schedule": checkpoints.CIFAR_SCHEDULE}

    assert checkpoints.learning_rate_at(hyper, epoch) == pytest.approx(expected)


def test_imagenet_learning_rate_schedule():
    hyper = {"LR": 0.1, "schedule": checkpoints.IMAGENET_SCHEDULE}

    assert checkpoints.learning_rate_at(hyper, 30) == pytest.approx(0.1)
    assert checkpoints.learning_rate_at(hyper, 31) == pytest.approx(0.01)
    assert checkpoints.learning_rate_at(hyper, 61) == pytest.approx(0.001)


def test_folder_without_log_warns(reference_dir, tmp_path, caplog):
    source = reference_dir / "runs" / "a_cifar10_resnet-possrelu-8_seed0" / "checkpoints"
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("latest.t7", "model_5.t7", "optimState_5.t7"):
        (folder / name).write_bytes((source / name).read_bytes())
    with caplog.at_level("WARNING", logger="frelu_tools"):
        ckpt = checkpoints.convert_checkpoint_folder(folder)
    assert ckpt["net_type"] is None
    assert "no training log found" in caplog.text
    assert "--log" in caplog.text

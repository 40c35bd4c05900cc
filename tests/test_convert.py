"""frelu-tools convert: output formats, reloading, --reference checks and failures."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import REFERENCE_DIR, REPO, TEST_DATA

import frelu_tools
from frelu_tools import t7
from frelu_tools.cli import cli
from frelu_tools.port import formats

EXAMPLE = REPO / "data" / "resnet-possrelu-20-cifar10.t7"
EXAMPLE_INPUT = TEST_DATA / "convert" / "resnet-possrelu-20-cifar10.input.t7"
EXAMPLE_OUTPUT = TEST_DATA / "convert" / "resnet-possrelu-20-cifar10.output_eval.t7"

# Every network of models/ is converted to .pt. The other formats are checked on a
# selection that covers FReLU (constrained and with a gradient scale), SReLU, ELU and
# 1-D batch normalisation.
ALL_MODELS = (
    "smallnet-srelu",
    "smallnet-possrelu-bn",
    "nin-possrelu-bn",
    "resnet-20-cifar10",
    "resnet-possrelu-20-cifar10",
    "resnet-possrelu-56-cifar10",
    "elu-resnet-possrelu-20-cifar100",
    "elu-resnet-possrelu-constrained-20-cifar10",
    "resnet-elu-20-cifar10",
    "elu-resnet-elu-20-cifar100",
    "preresnet-20-cifar10",
)
FORMAT_MODELS = (
    "resnet-possrelu-20-cifar10",
    "elu-resnet-possrelu-constrained-20-cifar10",
    "smallnet-possrelu-bn",
    "smallnet-srelu",
)
SUFFIX = formats.SUFFIXES

needs_reference = pytest.mark.skipif(
    REFERENCE_DIR is None, reason="Torch7 reference files not found (FRELU_REFERENCE_DIR)"
)


def _reference(name: str):
    folder = REFERENCE_DIR / "models"
    return folder / f"{name}.t7", folder / f"{name}.input.t7", folder / f"{name}.output_eval.t7"


def _tensor(path) -> torch.Tensor:
    return torch.from_numpy(np.array(t7.load(path), dtype=np.float32))


def _run(model, input_path) -> torch.Tensor:
    with torch.no_grad():
        return model(_tensor(input_path))


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, (str, int)) and _plain(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return value is None or isinstance(value, (str, int, float, bool, torch.Tensor))


# --- conversion and reloading --------------------------------------------------------


def test_shipped_example_matches_torch7(tmp_path):
    output = tmp_path / "example.pt"

    formats.convert_file(EXAMPLE, output)
    model = frelu_tools.load_model(output)

    expected = _tensor(EXAMPLE_OUTPUT)
    assert torch.allclose(_run(model, EXAMPLE_INPUT), expected, rtol=1e-4, atol=1e-5)


@needs_reference
@pytest.mark.parametrize("name", ALL_MODELS)
def test_pt_matches_torch7(name, tmp_path):
    model_path, input_path, output_path = _reference(name)

    formats.convert_file(model_path, tmp_path / "model.pt")
    model = frelu_tools.load_model(tmp_path / "model.pt")

    expected = _tensor(output_path)
    assert not model.training
    assert torch.allclose(_run(model, input_path), expected, rtol=1e-4, atol=1e-5)


@needs_reference
@pytest.mark.parametrize("format", ["safetensors", "exported"])
@pytest.mark.parametrize("name", FORMAT_MODELS)
def test_format_matches_torch7(name, format, tmp_path):
    model_path, input_path, output_path = _reference(name)
    output = tmp_path / f"model{SUFFIX[format]}"

    formats.convert_file(model_path, output, format=format)
    model = frelu_tools.load_model(output)

    expected = _tensor(output_path)
    assert torch.allclose(_run(model, input_path), expected, rtol=1e-4, atol=1e-5)


@needs_reference
@pytest.mark.parametrize("name", ["gpu_model", "dpt_model"])
def test_cuda_and_data_parallel_models(name, tmp_path):
    # dpt_model.t7 is gpu_model.t7 inside nn.DataParallelTable, saved with CUDA tensors.
    folder = REFERENCE_DIR / "formats"

    formats.convert_file(folder / f"{name}.t7", tmp_path / "model.pt")
    model = frelu_tools.load_model(tmp_path / "model.pt")

    expected = _tensor(folder / "gpu_model.output_eval.t7")
    actual = _run(model, folder / "gpu_model.input.t7")
    assert torch.allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_pt_contains_plain_types_only(tmp_path):
    formats.convert_file(EXAMPLE, tmp_path / "example.pt")

    payload = torch.load(tmp_path / "example.pt", weights_only=True)

    assert _plain(payload)
    assert payload["format"] == formats.MODEL_FORMAT
    assert payload["tool_version"] == frelu_tools.__version__
    assert payload["source"]["name"] == EXAMPLE.name
    assert payload["source"]["sha256"] == formats.sha256_of(EXAMPLE)
    assert payload["architecture"]["torch_class"] == "nn.Sequential"


def test_safetensors_metadata(tmp_path):
    from safetensors import safe_open

    from frelu_tools.port import describe

    formats.convert_file(EXAMPLE, tmp_path / "example.safetensors", format="safetensors")

    with safe_open(str(tmp_path / "example.safetensors"), framework="pt") as file:
        metadata = file.metadata()
    assert metadata["format"] == formats.MODEL_FORMAT
    assert metadata["source_sha256"] == formats.sha256_of(EXAMPLE)
    assert json.loads(metadata["architecture"]) == json.loads(
        json.dumps(describe(t7.load(EXAMPLE)))
    )


def test_exported_runs_without_frelu_tools(tmp_path):
    output = tmp_path / "example.pt2"
    formats.convert_file(EXAMPLE, output, format="exported")
    # Blocking the package in sys.modules makes every `import frelu_tools...` fail, so
    # the program can only run on what torch.export stored.
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["frelu_tools"] = None
        import numpy, torch, torchfile
        try:
            import frelu_tools
        except ImportError:
            pass
        else:
            raise SystemExit("frelu_tools still importable")
        program = torch.export.load({str(output)!r}).module()
        inputs = torch.from_numpy(torchfile.load({str(EXAMPLE_INPUT)!r}).astype("float32"))
        expected = torch.from_numpy(torchfile.load({str(EXAMPLE_OUTPUT)!r}).astype("float32"))
        with torch.no_grad():
            together = program(inputs)
            one = program(inputs[:1])
            three = program(torch.cat([inputs, inputs[:1]]))
        assert torch.allclose(together, expected, rtol=1e-4, atol=1e-5), "batch of 2"
        assert torch.allclose(one, expected[:1], rtol=1e-4, atol=1e-5), "batch of 1"
        assert torch.allclose(three[:2], expected, rtol=1e-4, atol=1e-5), "batch of 3"
        print("ok")
        """
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_exported_with_grad_enabled(tmp_path):
    # The constrained FReLU updates its bias in place; the exported graph must not.
    formats.convert_file(EXAMPLE, tmp_path / "example.pt2", format="exported")
    model = frelu_tools.load_model(tmp_path / "example.pt2")

    output = model(_tensor(EXAMPLE_INPUT))

    assert torch.allclose(output.detach(), _tensor(EXAMPLE_OUTPUT), rtol=1e-4, atol=1e-5)


def test_exported_sample_shape(tmp_path):
    output = tmp_path / "example.pt2"

    result = CliRunner().invoke(
        cli,
        [
            "convert",
            str(EXAMPLE),
            "-o",
            str(output),
            "--format",
            "exported",
            "--sample-shape",
            "3x32x32",
            "-q",
        ],
    )

    assert result.exit_code == 0, result.output
    assert output.is_file()


def test_load_model_rejects_other_files(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a model\n")

    with pytest.raises(formats.ModelFormatError, match="not written by frelu-tools"):
        frelu_tools.load_model(tmp_path / "other.pt")
    with pytest.raises(formats.ModelFormatError, match="not a .pt, .pt2 or .safetensors"):
        frelu_tools.load_model(tmp_path / "text.pt")


# --- the command line ----------------------------------------------------------------


def _invoke(*arguments):
    return CliRunner().invoke(cli, ["convert", *map(str, arguments)])


def test_cli_reference_passes(tmp_path):
    output = tmp_path / "example.pt"

    result = _invoke(EXAMPLE, "-o", output, "--reference", EXAMPLE_INPUT, EXAMPLE_OUTPUT)

    assert result.exit_code == 0, result.output
    sha = formats.sha256_of(EXAMPLE)[:12]
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"wrote {output} (pt, 269,741 parameters, from resnet-possrelu-20-cifar10.t7 sha256 {sha})"
    )
    assert lines[1].startswith("reference: 2x10 output, max abs diff ")
    assert lines[2] == (
        "passed: all 20 elements within |out - ref| <= atol + rtol * |ref| "
        "with atol=1e-05, rtol=0.0001"
    )
    assert len(lines) == 3
    assert result.stderr.splitlines() == [
        f"reading {EXAMPLE}",
        "converting the model",
        f"writing {output} (pt)",
        result.stderr.splitlines()[-1],
    ]
    assert result.stderr.splitlines()[-1].startswith(f"converted {EXAMPLE} in ")


def test_cli_reference_numbers(tmp_path):
    output = tmp_path / "example.pt"

    result = _invoke(EXAMPLE, "-o", output, "-q", "--reference", EXAMPLE_INPUT, EXAMPLE_OUTPUT)

    model = frelu_tools.load_model(output)
    actual = _run(model, EXAMPLE_INPUT)
    expected = _tensor(EXAMPLE_OUTPUT)
    difference = (actual - expected).abs()
    relative = (difference / expected.abs()).max()
    assert result.stdout.splitlines()[1] == (
        f"reference: 2x10 output, max abs diff {float(difference.max()):.3g}, "
        f"max rel diff {float(relative):.3g}"
    )
    assert result.stderr == ""


def test_cli_reference_fails_beyond_tolerance(tmp_path):
    result = _invoke(
        EXAMPLE,
        "-o",
        tmp_path / "example.pt",
        "-q",
        "--rtol",
        "0",
        "--atol",
        "1e-9",
        "--reference",
        EXAMPLE_INPUT,
        EXAMPLE_OUTPUT,
    )

    assert result.exit_code == 1
    verdict = result.stdout.splitlines()[-1]
    assert verdict.startswith("FAILED: ")
    assert verdict.endswith(
        " of 20 elements outside |out - ref| <= atol + rtol * |ref| with atol=1e-09, rtol=0 "
        f"({tmp_path / 'example.pt'} was written; delete it or loosen --rtol/--atol)"
    )
    assert frelu_tools.load_model(tmp_path / "example.pt") is not None


@needs_reference
def test_cli_reference_of_other_model(tmp_path):
    other_output = _reference("resnet-20-cifar10")[2]

    result = _invoke(
        EXAMPLE, "-o", tmp_path / "example.pt", "-q", "--reference", EXAMPLE_INPUT, other_output
    )

    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1].startswith("FAILED: 20 of 20 elements outside ")


@needs_reference
def test_cli_reference_shape_mismatch(tmp_path):
    other_output = _reference("smallnet-srelu")[2]

    result = _invoke(
        EXAMPLE, "-o", tmp_path / "example.pt", "-q", "--reference", EXAMPLE_INPUT, other_output
    )

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: the model's output has shape (2, 10) but {other_output} has (2, 100)\n"
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_cli_default_output_name(tmp_path):
    source = tmp_path / "model.t7"
    source.write_bytes(EXAMPLE.read_bytes())

    result = _invoke(source, "--format", "safetensors", "-q")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "model.safetensors").is_file()


def test_cli_never_overwrites(tmp_path):
    output = tmp_path / "example.pt"
    output.write_bytes(b"keep me")

    result = _invoke(EXAMPLE, "-o", output)

    assert result.exit_code == 2
    assert result.stderr == f"error: {output}: already exists; pass --force to overwrite it\n"
    assert output.read_bytes() == b"keep me"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["example.pt"]


def test_cli_force_overwrites(tmp_path):
    output = tmp_path / "example.pt"
    output.write_bytes(b"old")

    result = _invoke(EXAMPLE, "-o", output, "--force", "-q")

    assert result.exit_code == 0, result.output
    assert frelu_tools.load_model(output) is not None


def _renamed_classes(tmp_path):
    # Length-preserving renames keep the file valid Torch7: every object writes its own
    # class name, so each ReLU and the one Linear become unknown classes.
    data = EXAMPLE.read_bytes()
    data = data.replace(b"nn.ReLU", b"nn.ReLV").replace(b"nn.Linear", b"nn.Lineaz")
    path = tmp_path / "renamed.t7"
    path.write_bytes(data)
    return path


def test_cli_unknown_classes(tmp_path):
    source = _renamed_classes(tmp_path)
    output = tmp_path / "renamed.pt"

    result = _invoke(source, "-o", output, "-q")

    assert result.exit_code == 2
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith(f"error: {source}: no converter for ")
    assert message.count("\n") == 1
    assert "nn.Lineaz at " in message
    assert message.count("nn.ReLV at ") == EXAMPLE.read_bytes().count(b"nn.ReLU")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["renamed.t7"]


def test_unknown_classes_paths(tmp_path):
    from frelu_tools.port import UnknownClassError

    with pytest.raises(UnknownClassError) as caught:
        formats.convert_file(_renamed_classes(tmp_path), tmp_path / "renamed.pt")

    classes = [name for _, name in caught.value.unknown]
    assert set(classes) == {"nn.ReLV", "nn.Lineaz"}
    paths = [path for path, _ in caught.value.unknown]
    assert len(set(paths)) == len(paths)


@needs_reference
@pytest.mark.parametrize(
    "name", ["truncated_model.t7", "zip_not_t7.t7", "text.t7", "empty.t7", "unknown_type.t7"]
)
def test_cli_corrupt_file(name, tmp_path):
    source = REFERENCE_DIR / "corrupt" / name
    output = tmp_path / "out.pt"

    result = _invoke(source, "-o", output, "-q")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@needs_reference
def test_cli_checkpoint_file_not_folder(tmp_path):
    folder = REFERENCE_DIR / "runs" / "d_cifar10_resnet-8_seed0" / "checkpoints"

    latest = _invoke(folder / "latest.t7", "-o", tmp_path / "out.pt", "-q")
    optim = _invoke(folder / "optimState_1.t7", "-o", tmp_path / "out.pt", "-q")
    tensor = _invoke(EXAMPLE_INPUT, "-o", tmp_path / "out.pt", "-q")

    assert latest.exit_code == 2
    assert latest.stderr == (
        f"error: {folder / 'latest.t7'}: contains a table, not a Torch7 module; "
        f"to convert the checkpoint, pass its folder {folder}\n"
    )
    assert optim.exit_code == 2
    assert optim.stderr == (
        f"error: {folder / 'optimState_1.t7'}: contains a table, not a Torch7 module; "
        "this is optimizer state, convert the checkpoint folder instead\n"
    )
    assert tensor.exit_code == 2
    assert tensor.stderr == f"error: {EXAMPLE_INPUT}: contains a tensor, not a Torch7 module\n"
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_file(tmp_path):
    result = _invoke(tmp_path / "missing.t7")

    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# --- output format and name --------------------------------------------------------------


@pytest.mark.parametrize("format", formats.FORMATS)
def test_cli_format_from_output_suffix(format, tmp_path):
    output = tmp_path / f"model{SUFFIX[format]}"

    result = _invoke(EXAMPLE, "-o", output, "-q", "--reference", EXAMPLE_INPUT, EXAMPLE_OUTPUT)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {output} ({format}, 269,741 parameters, ")
    assert result.stdout.splitlines()[-1].startswith("passed: ")


def test_cli_other_suffix_is_pt(tmp_path):
    output = tmp_path / "model.bin"

    result = _invoke(EXAMPLE, "-o", output, "-q")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {output} (pt, ")
    assert torch.load(output, weights_only=True)["format"] == formats.MODEL_FORMAT


@pytest.mark.parametrize(
    ("format", "name", "named"),
    [("exported", "out2.pt", "pt"), ("pt", "out.safetensors", "safetensors")],
)
def test_cli_format_contradicts_suffix(format, name, named, tmp_path):
    output = tmp_path / name

    result = _invoke(EXAMPLE, "-o", output, "--format", format)

    assert result.exit_code == 2
    suffix = output.suffix
    assert result.stderr == (
        f"error: {output}: the suffix {suffix} is that of the {named} format, not "
        f"{format}; name the file {output.stem}{SUFFIX[format]} or drop --format\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_convert_file_format_from_suffix(tmp_path):
    result = formats.convert_file(EXAMPLE, tmp_path / "model.safetensors")

    assert result.format == "safetensors"
    assert frelu_tools.load_model(result.path) is not None
    with pytest.raises(formats.OutputNameError):
        formats.convert_file(EXAMPLE, tmp_path / "other.safetensors", format="pt")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.safetensors"]


def test_folder_output_other_suffix(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    output = tmp_path / "ckpt.safetensors"

    result = _invoke(folder, "-o", output)

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {output}: a checkpoint folder is written in the pt format only, not as "
        "safetensors; name the output ckpt.pt\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoints"]


# --- input errors write nothing ----------------------------------------------------------


def test_reference_mismatch_writes_nothing(tmp_path):
    # The input file as the expected output: (2, 3, 32, 32) against the model's (2, 10).
    output = tmp_path / "example.pt"

    result = _invoke(EXAMPLE, "-o", output, "--reference", EXAMPLE_INPUT, EXAMPLE_INPUT)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: the model's output has shape (2, 10) but {EXAMPLE_INPUT} has (2, 3, 32, 32)"
    )
    assert "wrote" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["text", "module"])
def test_unreadable_reference_writes_nothing(kind, tmp_path):
    references = tmp_path / "references"
    references.mkdir()
    if kind == "text":
        expected = references / "notes.t7"
        expected.write_text("not a tensor\n")
    else:
        expected = EXAMPLE
    output = tmp_path / "example.pt"

    result = _invoke(EXAMPLE, "-o", output, "-q", "--reference", EXAMPLE_INPUT, expected)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {expected}")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert not output.exists()


@needs_reference
def test_folder_reference_mismatch_writes_nothing(tmp_path):
    folder = REFERENCE_DIR / "runs" / "a_cifar10_resnet-possrelu-8_seed0" / "checkpoints"
    output = tmp_path / "ckpt.pt"

    result = _invoke(folder, "-o", output, "-q", "--reference", EXAMPLE_INPUT, EXAMPLE_INPUT)

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: the model's output has shape (2, 10) but {EXAMPLE_INPUT} has (2, 3, 32, 32)\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", ["3x32", "3x32x32x1", "3x0x32", "3xax32", "32"])
def test_invalid_sample_shape_writes_nothing(shape, tmp_path):
    output = tmp_path / "example.pt2"

    result = _invoke(EXAMPLE, "-o", output, "--format", "exported", "--sample-shape", shape)

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: invalid --sample-shape {shape}: expected C x H x W, three positive integers "
        "separated by x, such as 3x32x32\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_log_without_options_rejected(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    notes = tmp_path / "notes.t7"
    notes.write_text("learning rate looked too high\n * Epoch # 1 nothing else\n")

    result = _invoke(folder, "--log", notes)

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {notes}: not a training log: no 'th main.lua' command line found to read "
        "the options from; pass the run's .log file or drop --log\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoints", "notes.t7"]


@needs_reference
def test_run_folder_log_without_options(tmp_path):
    folder = REFERENCE_DIR / "runs" / "a_cifar10_resnet-possrelu-8_seed0" / "checkpoints"
    notes = tmp_path / "notes.t7"
    notes.write_text("not a log\n")
    output = tmp_path / "ckpt.pt"

    result = _invoke(folder, "-o", output, "--log", notes)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(f"error: {notes}: not a training log")
    assert "reading options" not in result.stderr
    assert not output.exists()


# --- atomic writes -----------------------------------------------------------------------


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.pt"

    with pytest.raises(RuntimeError, match="disk full"):
        with formats.atomic_write(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("disk full")

    assert list(tmp_path.iterdir()) == []


def test_atomic_write_file_appearing_meanwhile(tmp_path):
    target = tmp_path / "out.pt"

    with pytest.raises(formats.OutputExistsError):
        with formats.atomic_write(target) as tmp:
            tmp.write_bytes(b"new")
            target.write_bytes(b"written by someone else")

    assert target.read_bytes() == b"written by someone else"
    assert [path.name for path in tmp_path.iterdir()] == ["out.pt"]


def test_atomic_write_force_replaces(tmp_path):
    target = tmp_path / "out.pt"
    target.write_bytes(b"old")

    with formats.atomic_write(target, force=True) as tmp:
        tmp.write_bytes(b"new")

    assert target.read_bytes() == b"new"
    assert [path.name for path in tmp_path.iterdir()] == ["out.pt"]

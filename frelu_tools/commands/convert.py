"""`frelu-tools convert`: a Torch7 model or checkpoint folder as PyTorch files."""

import contextlib
import logging
import sys
from pathlib import Path

import click

from frelu_tools.errors import FreluToolsError
from frelu_tools.port import checkpoint as checkpoints
from frelu_tools.port import formats


class ConvertOptionError(FreluToolsError):
    """Options of `convert` that do not fit together or with the files they name."""


def _parse_sample_shape(text: str) -> tuple[int, int, int]:
    try:
        sizes = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or any(size < 1 for size in sizes):
        raise ConvertOptionError(
            f"invalid --sample-shape {text}: expected C x H x W, three positive integers "
            "separated by x, such as 3x32x32"
        )
    return sizes


def _check_log(log_path: Path) -> None:
    # The folder conversion reads a log without options like no log at all. That suits a
    # log it found itself, but would hide a wrong file named with --log.
    if not checkpoints.read_run_log(log_path)["options"]:
        raise ConvertOptionError(
            f"{log_path}: not a training log: no 'th main.lua' command line found to read "
            "the options from; pass the run's .log file or drop --log"
        )


@contextlib.contextmanager
def _progress(quiet: bool):
    # The library logs its steps; shown here on stderr so that stdout keeps the result.
    logger = logging.getLogger("frelu_tools")
    if quiet:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _echo_check(check: formats.ReferenceCheck, path: Path) -> None:
    shape = "x".join(str(size) for size in check.shape)
    click.echo(
        f"reference: {shape} output, max abs diff {check.max_abs_diff:.3g}, "
        f"max rel diff {check.max_rel_diff:.3g}"
    )
    rule = f"|out - ref| <= atol + rtol * |ref| with atol={check.atol:g}, rtol={check.rtol:g}"
    if check.passed:
        click.echo(f"passed: all {check.total} elements within {rule}")
    else:
        click.echo(
            f"FAILED: {check.mismatched} of {check.total} elements outside {rule} "
            f"({path} was written; delete it or loosen --rtol/--atol)"
        )


@click.command("convert")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file. Default: SOURCE with the format's suffix (.pt, .safetensors, .pt2); "
    "for a checkpoint folder, FOLDER.pt next to it.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(formats.FORMATS),
    default=None,
    help="pt: dict of the architecture and state_dict for frelu_tools.load_model; "
    "safetensors: weights, architecture as JSON metadata; exported: torch.export "
    "program that runs without frelu-tools. Default: the format of the -o suffix "
    "(.pt, .safetensors, .pt2), pt for any other suffix or without -o. An -o suffix "
    "of a format other than --format is an error. A checkpoint folder is always "
    "written as pt.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option(
    "--reference",
    nargs=2,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="INPUT.t7 OUTPUT.t7",
    help="Run the written model in evaluation mode on INPUT and compare with Torch7's "
    "OUTPUT (see legacy/dump_reference.lua); exit 1 when they differ beyond the tolerance, "
    "keeping the file. Files that cannot be compared (not one tensor, another shape) "
    "stop the conversion before anything is written.",
)
@click.option(
    "--rtol",
    type=click.FloatRange(min=0),
    default=1e-4,
    show_default=True,
    help="Relative tolerance of --reference: an element passes when "
    "|out - ref| <= atol + rtol * |ref|.",
)
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=1e-5,
    show_default=True,
    help="Absolute tolerance of --reference (same units as the output).",
)
@click.option(
    "--sample-shape",
    default=None,
    metavar="CxHxW",
    help="Shape of one input sample that --format exported traces with, batch excluded: "
    "channels x height x width. Default: that of the --reference input, else 3x32x32.",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For a checkpoint folder: the run's training log, for its options and best "
    "error. Default: the only .log under ../log next to the folder, if any.",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not show progress on stderr.")
def convert_command(
    source, output, output_format, force, reference, rtol, atol, sample_shape, log_path, quiet
):
    """Convert a Torch7 model (MODEL.t7) or checkpoint folder to PyTorch.

    A checkpoint folder (containing latest.t7) becomes one training checkpoint: model,
    torch.optim.SGD state with the momentum buffers, epoch, learning rate and the
    original hyperparameters, so that training resumes where Torch7 stopped.
    """
    if sample_shape is not None:
        sample = _parse_sample_shape(sample_shape)
    elif reference:
        sample = tuple(formats.read_tensor_file(reference[0]).shape[1:])
    else:
        sample = (3, 32, 32)
    if log_path is not None and source.is_dir():
        _check_log(log_path)

    # Input errors (exit 2) stop before the output is written. Only values of the written
    # file outside the tolerance (exit 1) leave the file in place.
    with _progress(quiet):
        if source.is_dir():
            path = _convert_folder(source, output, output_format, force, log_path, reference)
        else:
            if output is None:
                output = formats.default_output(source, output_format or "pt")
            result = formats.convert_file(
                source,
                output,
                format=output_format,
                force=force,
                sample_shape=sample,
                reference=reference or None,
            )
            path = result.path
            click.echo(
                f"wrote {path} ({result.format}, {result.parameter_count:,} parameters, "
                f"from {result.source['name']} sha256 {result.source['sha256'][:12]})"
            )

    if reference:
        model = formats.load_model(path)
        check = formats.check_reference(model, *reference, rtol=rtol, atol=atol)
        _echo_check(check, path)
        if not check.passed:
            raise click.exceptions.Exit(1)


def _convert_folder(folder: Path, output, output_format, force, log_path, reference) -> Path:
    if output_format not in (None, "pt"):
        raise FreluToolsError(
            f"{folder}: a checkpoint folder converts to a training checkpoint, which is "
            f"written in the pt format only, not {output_format}; drop --format"
        )
    if output is not None and formats.format_of_name(output) not in (None, "pt"):
        raise formats.OutputNameError(
            f"{output}: a checkpoint folder is written in the pt format only, not as "
            f"{formats.format_of_name(output)}; name the output {output.with_suffix('.pt').name}"
        )
    output = output or formats.default_output(folder, "pt")
    if output.exists() and not force:
        raise formats.OutputExistsError(output)

    ckpt = checkpoints.convert_checkpoint_folder(folder, log_path=log_path)
    if reference:
        model = formats.model_from_payload(ckpt, folder)
        formats.check_reference(model, *reference)
    checkpoints.save_checkpoint(output, ckpt, force=force)

    optimizer = ckpt["optimizer"] or {"state": {}}
    click.echo(
        f"wrote {output} (training checkpoint: epoch {ckpt['epoch']}, "
        f"lr {ckpt['learning_rate']:g}, {len(ckpt['param_names'])} parameters, "
        f"{len(optimizer['state'])} momentum buffers)"
    )
    return output

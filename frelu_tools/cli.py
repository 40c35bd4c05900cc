"""The `frelu-tools` command line: a thin click layer over the library."""

import importlib
import sys

import click

from frelu_tools import __version__
from frelu_tools.errors import FreluToolsError

# name -> (module, attribute, one-line help). A command's module is imported only when
# that command runs, so `--help` imports no command and `show` on a .t7 file loads no torch.
_COMMANDS = {
    "show": (
        "frelu_tools.commands.show",
        "show_command",
        "Show what a .t7 file, checkpoint folder or converted model holds.",
    ),
    "convert": (
        "frelu_tools.commands.convert",
        "convert_command",
        "Convert a Torch7 model or checkpoint folder to PyTorch.",
    ),
    "plot": (
        "frelu_tools.commands.logs",
        "plot_command",
        "Plot training curves from Torch7 and frelu-tools logs.",
    ),
    "summarize": (
        "frelu_tools.commands.logs",
        "summarize_command",
        "Tabulate best and final test errors over seeds.",
    ),
    "reproduce": (
        "frelu_tools.commands.reproduce",
        "reproduce_command",
        "Rerun a configuration of the FReLU paper in PyTorch.",
    ),
}


class _Group(click.Group):
    """Load commands on demand; turn input errors into one line on stderr and exit 2."""

    def list_commands(self, ctx):
        return list(_COMMANDS)

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        module_name, attribute, _ = _COMMANDS[name]
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, short_help) for name, (_, _, short_help) in _COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FreluToolsError as error:
            raise _fail(str(error)) from None
        except OSError as error:
            if error.filename is None:
                raise
            raise _fail(f"{error.filename}: {error.strerror}") from None


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"error: {message}", err=True)
    return click.exceptions.Exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="frelu-tools")
def cli():
    """Open, convert, plot and reproduce Torch7 FReLU work in PyTorch."""


def main():
    cli(prog_name="frelu-tools")


if __name__ == "__main__":
    sys.exit(main())

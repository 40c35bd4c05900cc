"""The `frelu-tools` command line: a thin click layer over the library."""

import sys

import click

from frelu_tools import __version__
from frelu_tools.commands.convert import convert_command
from frelu_tools.commands.logs import plot_command, summarize_command
from frelu_tools.commands.reproduce import reproduce_command
from frelu_tools.commands.show import show_command
from frelu_tools.errors import FreluToolsError


class _Group(click.Group):
    """Turn input errors into one line on stderr and exit code 2."""

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


# Commands, one module each under frelu_tools/commands/.
cli.add_command(convert_command)
cli.add_command(plot_command)
cli.add_command(summarize_command)
cli.add_command(show_command)
cli.add_command(reproduce_command)


def main():
    cli(prog_name="frelu-tools")


if __name__ == "__main__":
    sys.exit(main())

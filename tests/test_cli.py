import subprocess
import sys

from click.testing import CliRunner
from conftest import REPO

from frelu_tools.cli import _COMMANDS, cli


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in _COMMANDS:
        assert f"  {name} " in result.output


def test_every_command_loads():
    for name in _COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"Usage: cli {name}")


def test_unknown_command_exits_2():
    result = CliRunner().invoke(cli, ["shwo"])
    assert result.exit_code == 2
    assert "No such command 'shwo'" in result.output


def test_help_imports_no_torch():
    code = "import sys; from frelu_tools.cli import cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_show_t7_imports_no_torch():
    code = (
        "import sys; from click.testing import CliRunner; from frelu_tools.cli import cli; "
        "result = CliRunner().invoke(cli, ['show', sys.argv[1]]); "
        "assert result.exit_code == 0, result.output; "
        "assert 'torch' not in sys.modules"
    )
    model = REPO / "data" / "resnet-possrelu-20-cifar10.t7"
    subprocess.run([sys.executable, "-c", code, str(model)], check=True)

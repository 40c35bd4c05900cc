"""Training logs of the FReLU fork, fb.resnet.torch and frelu-tools as DataFrames.

`read_log` reads one file, `read_logs` many files and folders; `summarize` turns
their rows into the table of best and final test error over seeds.
"""

from frelu_tools.logs.errors import LogFormatError
from frelu_tools.logs.names import parse_run_name
from frelu_tools.logs.reader import COLUMNS, find_logs, metrics_for, read_log, read_logs

__all__ = [
    "COLUMNS",
    "LogFormatError",
    "find_logs",
    "metrics_for",
    "parse_run_name",
    "read_log",
    "read_logs",
]

"""Training logs of the FReLU fork, fb.resnet.torch and frelu-tools as DataFrames.

`read_log` reads one file and `read_logs` many files and folders. `summarize` turns
their rows into the table of best and final test error over seeds, `format_table`
writes it as markdown, CSV or LaTeX, and `tidy` reshapes the rows to long form.
"""

from frelu_tools.logs.errors import LogFormatError
from frelu_tools.logs.names import parse_run_name
from frelu_tools.logs.reader import COLUMNS, find_logs, metrics_for, read_log, read_logs
from frelu_tools.logs.summary import format_table, summarize, tidy

__all__ = [
    "COLUMNS",
    "LogFormatError",
    "find_logs",
    "format_table",
    "metrics_for",
    "parse_run_name",
    "read_log",
    "read_logs",
    "summarize",
    "tidy",
]

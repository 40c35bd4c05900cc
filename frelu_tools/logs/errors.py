"""The error raised for a training log that cannot be read."""

from frelu_tools.errors import FreluToolsError


class LogFormatError(FreluToolsError, ValueError):
    """A training log that cannot be read: empty, no completed epoch, or a broken line.

    Attributes:
        path: the file.
        line: the 1-based line number at fault, or None when the whole file is at fault.
        reason: what was wrong, without the path and line.
    """

    def __init__(self, reason: str, path, line: int | None = None):
        self.reason = reason
        self.path = str(path)
        self.line = line
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")

"""Exceptions for mistakes a user can make: bad files, unknown classes, missing data.

The command line turns every `FreluToolsError` into one line on stderr and exit code 2;
any other exception is a bug and keeps its traceback.
"""


class FreluToolsError(Exception):
    """Base class of the errors caused by input, not by a bug."""


class T7FormatError(FreluToolsError, ValueError):
    """A `.t7` file that cannot be read: not Torch7, truncated, corrupt or hostile.

    Attributes:
        path: the file, or None for bytes read from memory.
        offset: the byte offset at which reading failed, or None.
        reason: what was wrong, without the path and offset.
    """

    def __init__(self, reason: str, path=None, offset: int | None = None):
        self.reason = reason
        self.path = None if path is None else str(path)
        self.offset = offset
        where = self.path or "<bytes>"
        if offset is not None:
            where = f"{where} at byte {offset}"
        super().__init__(f"{where}: {reason}")

"""Writing output files safely: complete or absent, never overwritten unasked.

Every file frelu-tools writes (models, checkpoints, logs, plots, tables) goes through
`atomic_write`. This module imports nothing heavy, so commands that write only text do
not load torch.
"""

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from frelu_tools.errors import FreluToolsError


class OutputFolderError(FreluToolsError):
    """The folder of an output file is missing, not a folder, or not writable."""


class OutputExistsError(FreluToolsError):
    """The output file exists already and overwriting was not requested."""

    def __init__(self, path):
        self.path = str(path)
        super().__init__(f"{path}: already exists; pass --force to overwrite it")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`, renamed to `path` when the block succeeds.

    The finished file gets the permissions a plain `open(path, "w")` would give it
    (0o666 less the umask), not the owner-only mode of a `mkstemp` file.

    Args:
        path: the final file name.
        force: replace an existing file; otherwise raise `OutputExistsError`, both before
            the block runs and, without a race, at the rename.

    Raises:
        OutputExistsError: `path` exists and `force` is false.
        OutputFolderError: the folder of `path` is missing or not writable.

    Example:
        >>> with atomic_write("model.pt") as tmp:
        ...     torch.save(obj, tmp)
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise OutputFolderError(f"{path}: the output folder {folder} {what}; create it first")
    if path.is_dir():
        raise OutputFolderError(f"{path}: is a folder; give a file name for the output")
    if path.exists() and not force:
        raise OutputExistsError(path)

    try:
        descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise OutputFolderError(
            f"{path}: cannot create a file in {folder} ({error.strerror}); "
            "choose a folder you can write to"
        ) from None
    os.close(descriptor)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        if force:
            os.replace(tmp, path)
        else:
            # A hard link fails with EEXIST instead of replacing a file that appeared
            # while the block ran, which os.rename would silently do on POSIX.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise OutputExistsError(path) from None
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                    raise
                # NOTE: file systems without hard links (FAT, some network mounts) get a
                # check-then-rename, which can overwrite a file created meanwhile.
                if path.exists():
                    raise OutputExistsError(path) from None
                os.rename(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_of(path) -> str:
    """Return the hex SHA-256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

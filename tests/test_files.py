import os
import stat

import pytest

from frelu_tools.files import OutputExistsError, OutputFolderError, atomic_write


def test_atomic_write_follows_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "table.csv") as tmp:
            tmp.write_text("a,b\n")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "table.csv").stat().st_mode)
    assert mode == 0o644


def test_atomic_write_keeps_existing_file(tmp_path):
    target = tmp_path / "curves.png"
    target.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="pass --force"):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"new")
    assert target.read_bytes() == b"mine"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_missing_folder(tmp_path):
    target = tmp_path / "missing" / "model.pt"
    with pytest.raises(OutputFolderError, match="missing does not exist; create it first"):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"new")
    assert not (tmp_path / "missing").exists()


def test_atomic_write_target_is_folder(tmp_path):
    with pytest.raises(OutputFolderError, match="is a folder"):
        with atomic_write(tmp_path, force=True) as tmp:
            tmp.write_bytes(b"new")


def test_atomic_write_unwritable_folder(tmp_path, monkeypatch):
    # Root can write into a chmod 555 folder, so simulate the refusal of the file system.
    def reject_mkstemp(**kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr("frelu_tools.files.tempfile.mkstemp", reject_mkstemp)
    with pytest.raises(OutputFolderError, match=r"cannot create a file in .*Read-only file system"):
        with atomic_write(tmp_path / "curves.png") as tmp:
            tmp.write_bytes(b"new")

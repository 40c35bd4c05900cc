import os
from pathlib import Path

import pytest

# Plots in tests render off screen, also where a display is set.
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "data"


def _reference_dir() -> Path | None:
    configured = os.environ.get("FRELU_REFERENCE_DIR")
    if configured:
        path = Path(configured).resolve()
        if not path.is_dir():
            raise pytest.UsageError(
                f"FRELU_REFERENCE_DIR={configured} is not a folder; unset it to skip "
                "the tests that read the Torch7 reference files"
            )
        return path
    default = REPO.parent / "shared" / "t7-reference"
    return default if default.is_dir() else None


REFERENCE_DIR = _reference_dir()


@pytest.fixture
def reference_dir() -> Path:
    """The folder of real Torch7 files; the test is skipped where it is absent."""
    if REFERENCE_DIR is None:
        pytest.skip(
            "Torch7 reference files not found: set FRELU_REFERENCE_DIR to the "
            "t7-reference folder to run this test"
        )
    return REFERENCE_DIR


@pytest.fixture
def test_data() -> Path:
    return TEST_DATA

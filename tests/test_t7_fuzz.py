"""Seeded mutation fuzzing of the Torch7 reader: every case loads or raises T7FormatError."""

import random
import signal
import struct
import threading
import time
from contextlib import contextmanager

import pytest
from conftest import TEST_DATA

from frelu_tools.t7 import T7FormatError, loads

T7 = TEST_DATA / "t7"

SEED_FILES = [
    "formats/types_binary.t7",
    "formats/types_cuda.t7",
    "formats/shared_storage.t7",
    "formats/mixed_table.t7",
    "formats/function.t7",
    "formats/long4_table.t7",
    "formats/nested_150.t7",
    "formats/gpu_model.t7",
    "variants/bn-spatial.t7",
    "formats/types_ascii.t7",
    "formats/mixed_table_ascii.t7",
    "formats/shared_storage_ascii.t7",
]
CASES_PER_FILE = 250

# A hang shows up as a case far over this bound; normal cases take milliseconds.
CASE_TIME_LIMIT_S = 5.0

EXTREME_INTS = [0, 1, 2, 3, 4, 8, 9, -1, -2, 2**31 - 1, -(2**31), 2**30, 2**16]
EXTREME_LONGS = [0, -1, 2**62, -(2**63), 2**40, 2**31, 2**32 + 1, 10**12]


def _flip_bytes(data: bytearray, rng: random.Random) -> str:
    positions = [rng.randrange(len(data)) for _ in range(rng.randint(1, 3))]
    for position in positions:
        data[position] = rng.randrange(256)
    return f"bytes at {positions} randomized"


def _write_int(data: bytearray, rng: random.Random) -> str:
    # Strings leave the ints of a file at any offset, not only at multiples of 4.
    position = rng.randrange(0, max(1, len(data) - 4))
    value = rng.choice(EXTREME_INTS)
    data[position : position + 4] = struct.pack("<i", value)
    return f"int {value} at {position}"


def _write_long(data: bytearray, rng: random.Random) -> str:
    position = rng.randrange(0, max(1, len(data) - 8))
    value = rng.choice(EXTREME_LONGS)
    data[position : position + 8] = struct.pack("<q", value)
    return f"long {value} at {position}"


def _truncate(data: bytearray, rng: random.Random) -> str:
    end = rng.randrange(len(data))
    del data[end:]
    return f"cut at {end}"


def _splice(data: bytearray, rng: random.Random) -> str:
    start = rng.randrange(len(data))
    length = rng.randint(1, 16)
    if rng.random() < 0.5:
        del data[start : start + length]
        return f"{length} bytes deleted at {start}"
    data[start:start] = data[start : start + length]
    return f"{length} bytes repeated at {start}"


def _ascii_token(data: bytearray, rng: random.Random) -> str:
    tokens = data.split(b"\n")
    line = rng.randrange(len(tokens))
    replacements = [b"-1", b"2147483647", b"99999999999999999999", b"9" * 5000, b"nan", b"x", b""]
    replacement = rng.choice(replacements)
    tokens[line] = replacement
    data[:] = b"\n".join(tokens)
    return f"line {line} replaced by {replacement!r}"


BINARY_MUTATIONS = [_flip_bytes, _write_int, _write_long, _truncate, _splice]
ASCII_MUTATIONS = [_flip_bytes, _truncate, _splice, _ascii_token]


class CaseTimeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """Interrupt the case after `seconds` where the platform has interval timers."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not hasattr(signal, "setitimer") or not in_main_thread:
        yield
        return

    def interrupt(signum, frame):
        raise CaseTimeout

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", SEED_FILES)
def test_mutated_file_loads_or_raises(name):
    original = (T7 / name).read_bytes()
    mutations = ASCII_MUTATIONS if name.endswith("_ascii.t7") else BINARY_MUTATIONS
    rng = random.Random(f"{name}-fuzz")
    outcomes = {"loaded": 0, "rejected": 0}

    for case in range(CASES_PER_FILE):
        data = bytearray(original)
        description = rng.choice(mutations)(data, rng)
        where = f"{name} case {case}: {description}"
        start = time.perf_counter()
        try:
            with _time_limit(CASE_TIME_LIMIT_S):
                loads(bytes(data), path="fuzz.t7")
            outcomes["loaded"] += 1
        except T7FormatError as error:
            assert error.offset is not None, where
            assert str(error).startswith("fuzz.t7 at byte "), where
            outcomes["rejected"] += 1
        except CaseTimeout:
            pytest.fail(f"{where}: no result after {CASE_TIME_LIMIT_S} s")
        except Exception as error:  # any other exception is what the fuzzing looks for
            pytest.fail(f"{where}: raised {type(error).__name__}: {error}")
        elapsed = time.perf_counter() - start
        assert elapsed < CASE_TIME_LIMIT_S, where

    assert outcomes["rejected"] > 0

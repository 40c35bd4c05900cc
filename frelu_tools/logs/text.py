"""Parse the text that `th main.lua ... 2>&1 | tee LOG` captured: one row per epoch.

Two formats, distinguished by their epoch lines:

- the FReLU fork (its `main.lua`) prints, after each epoch,
  ` * Epoch # E     train-top1: ...  train-top5: ...  test-top1: ...  test-top5: ...`;
- upstream fb.resnet.torch prints ` * Finished epoch # E     top1: ...  top5: ...`, the
  test error only.

Both print ` | Epoch: [E][i/N]    Time ...  Data ...  Err LOSS  top1 ...  top5 ...` for
every training batch, and `=> Training epoch # E with LR = ...` before it (upstream
without the LR). The training loss, and for upstream logs also the training error, is
the mean of those per-batch values. The trainers compute the same mean weighted by
batch size. This parser knows the batch sizes when the log's `th main.lua` line gives
`-batchSize`, the data set's training size is known (CIFAR-10 and CIFAR-100: 50,000,
ImageNet: 1,281,167) and the epoch has the `ceil(size / batchSize)` batches that size
implies: every batch is full but the last one, which gets the remainder. Otherwise
every batch counts the same.

The row's `train_approx` is False only when the sizes are known and the line also
gives `-nThreads 1`. With more data loader threads (the default is 2) the batches are
printed in the order the threads finish them, so the smaller batch need not be the
last one printed. Either way the per-batch values are rounded as printed (3 decimals,
4 for the loss), so the mean can differ from the trainer's in the last printed digit.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from frelu_tools.logs.errors import LogFormatError
from frelu_tools.logs.names import parse_command

TRAIN_SET_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "imagenet": 1_281_167}

# Lua's %f prints nan, -nan, inf and -inf for non-finite values.
_NUM = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|(?i:nan|inf))"

# Batch values are taken as any non-blank word here and checked by float() when their
# epoch ends: matching _NUM on 80,000 lines would double the parse time.
_ITERATION = re.compile(
    r"\| Epoch: \[(\d+)\]\[(\d+)/(\d+)\]\s+Time\s+\S+\s+Data\s+\S+"
    r"\s+Err\s+(\S+)\s+top1\s+(\S+)\s+top5\s+(\S+)"
)
_ITERATION_PREFIX = "| Epoch: ["
_FORK_EPOCH = re.compile(
    rf"\* Epoch # (\d+)\s+train-top1:\s*({_NUM})\s+train-top5:\s*({_NUM})"
    rf"\s+test-top1:\s*({_NUM})\s+test-top5:\s*({_NUM})"
)
_UPSTREAM_EPOCH = re.compile(rf"\* Finished epoch # (\d+)\s+top1:\s*({_NUM})\s+top5:\s*({_NUM})")
_TRAINING_START = re.compile(rf"=> Training epoch # (\d+)(?: with LR = ({_NUM}))?")

_ABSENT = object()  # an option a trace line does not give
_RUN_IDENTITY = ("-netType", "-depth", "-dataset", "-manualSeed", "-shortcutType")

_FORK = "frelu.torch"
_UPSTREAM = "fb.resnet.torch"

_RECORD_PREFIXES = (
    ("* Epoch #", "fork_epoch"),
    ("* Finished epoch #", "upstream_epoch"),
    ("=> Training epoch #", "training_start"),
)
_START_PREFIXES = ("=> Creating model", "=> Loading checkpoint", "=> Resuming model")

_EXPECTED = {
    "iteration": "' | Epoch: [E][i/N]    Time T  Data D  Err LOSS  top1 X  top5 Y'",
    "fork_epoch": "' * Epoch # E  train-top1: X  train-top5: X  test-top1: X  test-top5: X'",
    "upstream_epoch": "' * Finished epoch # E  top1: X  top5: X'",
    "training_start": "'=> Training epoch # E' (optionally 'with LR = X')",
}


@dataclass
class _Segment:
    """One training run inside the file; a resumed run appends a second one."""

    index: int
    line: int
    options: dict = field(default_factory=dict)
    resumed: bool = False
    has_records: bool = False
    lr: dict = field(default_factory=dict)  # epoch -> learning rate
    started: dict = field(default_factory=dict)  # epoch -> line of '=> Training epoch'
    # epoch -> {"i": (line, loss, top1, top5)}, all as the text of the line
    batches: dict = field(default_factory=dict)
    batch_counts: dict = field(default_factory=dict)  # epoch -> N of [i/N]
    finished: set = field(default_factory=set)


def parse_text_log(path, dataset: str | None = None) -> tuple[list[dict], dict]:
    """Parse a text log of the FReLU fork or fb.resnet.torch.

    Args:
        path: the log file.
        dataset: the data set, if the file name gives it; used to know batch sizes.

    Returns:
        `(rows, info)`: one dict per completed epoch, in epoch order (when a resumed run
        logs an epoch again, its later line wins), and a dict with `format`, `commands`
        (the options of each `th main.lua` trace line), `resumes` (line and first epoch
        of each training after the first), `incomplete_epochs` (epochs that started but
        never finished, such as the one a crash cut short) and `cut_off_line` (the line
        number of a record cut off mid-line at the end of a training, or None). A record
        line is cut off when it is broken and no other record follows it before the
        next `th main.lua` start or the end of the file, or when it is the file's last
        line and has no newline.

    Raises:
        LogFormatError: an empty or binary file, no completed epoch, both formats in
            one file, a broken record line that is not the last line of a training, or
            a later `th main.lua` line that is not a resume of the first training (no
            `-resume`, or other options): two trainings in one file.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise LogFormatError("empty file, not a training log", path)
    if b"\x00" in data[:4096]:
        raise LogFormatError("binary file (it contains NUL bytes), not a training log", path)

    # Record lines are ASCII; bytes that are not UTF-8 can only sit in lines the parser
    # skips (model printouts, paths), so replacing them loses nothing it reads.
    lines = data.decode("utf-8", errors="replace").split("\n")
    parser = _Parser(path, dataset)

    # Torch's print ends every line with a newline, so an unterminated last line was cut
    # off while being written: its last number may be short ("0.3" of "0.391").
    if lines[-1].strip() and _is_record(lines[-1].strip()):
        parser.cut_off_line = len(lines)
        lines[-1] = ""
    feed, feed_batch = parser.feed, parser.feed_batch
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        # Batch lines are 80% of a log; they take the short path.
        if line.startswith(_ITERATION_PREFIX):
            feed_batch(number, line)
        elif line:
            feed(number, line)
    return parser.finish()


class _Parser:
    def __init__(self, path: Path, dataset: str | None):
        self.path = path
        self.dataset = dataset
        self.format = None
        self.segments = [_Segment(index=0, line=1)]
        self.segment = self.segments[0]
        self.batch_epoch = None  # the epoch text of the batch lines being collected
        self.batch_values = None  # its dict in segment.batches
        self.rows = {}  # epoch -> row
        self.pending_bad = None  # (line, kind) of a broken record line
        self.cut_off_line = None
        self.resumes = []
        self.commands = []  # the options of each `th main.lua` trace line
        self.first_trace = None  # (line, all options) of the first training's trace line

    def feed(self, number: int, line: str):
        kind = _record_kind(line)
        if kind is None:
            self._feed_other(number, line)
            return
        self._check_pending()
        self.batch_epoch = None
        handler = getattr(self, f"_{kind}")
        if not handler(number, line):
            self.pending_bad = (number, kind)

    def feed_batch(self, number: int, line: str):
        if self.pending_bad is not None:
            self._check_pending()
        match = _ITERATION.fullmatch(line)
        if match is None:
            self.pending_bad = (number, "iteration")
            return
        epoch, index, count, loss, top1, top5 = match.groups()
        if epoch != self.batch_epoch:
            self._start_batches(number, epoch, count)
        self.batch_values[index] = (number, loss, top1, top5)

    def _start_batches(self, number: int, epoch_text: str, count_text: str):
        epoch = int(epoch_text)
        if epoch in self.segment.finished:
            self._new_segment(number)
        segment = self.segment
        segment.has_records = True
        segment.batch_counts.setdefault(epoch, int(count_text))
        self.batch_epoch = epoch_text
        self.batch_values = segment.batches.setdefault(epoch, {})

    def _check_pending(self):
        # A broken line followed by more records is corrupt, not cut off by a crash.
        if self.pending_bad is not None:
            bad_line, bad_kind = self.pending_bad
            raise LogFormatError(
                f"invalid line, expected {_EXPECTED[bad_kind]}", self.path, bad_line
            )

    def _feed_other(self, number: int, line: str):
        is_trace = line.startswith("+ ") and "main.lua" in line
        if not is_trace and not line.startswith(_START_PREFIXES):
            return
        if self.pending_bad is not None:
            self.cut_off_line = self.pending_bad[0]
            self.pending_bad = None
        if self.segment.has_records:
            self._new_segment(number)
        if is_trace:
            self._check_same_training(number, line)
            self.segment.options = parse_command(line)
            self.commands.append(self.segment.options)
            if self.segment.options.get("resume", "none") != "none":
                self.segment.resumed = True
        elif not line.startswith("=> Creating model"):
            self.segment.resumed = True

    def _check_same_training(self, number: int, line: str):
        """Reject a trace line that starts a training other than a resume of the first.

        A resume adds `-resume` and keeps the network, data set and seed options
        (`_RUN_IDENTITY`). A line without `-resume`, or with other such options, starts a
        different training appended to the file, whose epochs would replace the first's.
        """
        options = _trace_options(line)
        if self.segment.index == 0:
            # Trace lines before the first record: the last one started the training.
            self.first_trace = (number, options)
            return
        first_line, first = self.first_trace or (1, None)
        if options.pop("-resume", "none") == "none":
            problem = "has no -resume option: it starts a new training after the one from "
            problem += f"line {first_line}"
        elif first is None:
            return  # The first training has no trace line to compare with.
        else:
            # Only the options that name the network, data set and seed tell two
            # trainings apart; a resume may well change -nEpochs, -LR, -nGPU or -data.
            changed = []
            for key in [key for key in _RUN_IDENTITY if key in first or key in options]:
                old, new = first.get(key, _ABSENT), options.get(key, _ABSENT)
                if old != new:
                    changed.append(f"{key} {_shown(new)} instead of {_shown(old)}")
            if not changed:
                return
            problem = f"resumes the training from line {first_line} with other options: "
            problem += ", ".join(changed)
        raise LogFormatError(
            f"two trainings in one log: this 'th main.lua' line {problem}; split the file",
            self.path,
            number,
        )

    def _new_segment(self, number: int):
        # A training appended without its own trace line ran with the same options.
        options = dict(self.segment.options)
        self.segment = _Segment(
            index=len(self.segments), line=number, options=options, resumed=True
        )
        self.segments.append(self.segment)
        self.batch_epoch = None

    def _training_start(self, number: int, line: str) -> bool:
        match = _TRAINING_START.fullmatch(line)
        if match is None:
            return False
        epoch = int(match[1])
        if self.segment.started and epoch <= max(self.segment.started):
            self._new_segment(number)
        segment = self.segment
        segment.has_records = True
        segment.started[epoch] = number
        if match[2] is not None:
            segment.lr[epoch] = float(match[2])
        return True

    def _fork_epoch(self, number: int, line: str) -> bool:
        match = _FORK_EPOCH.fullmatch(line)
        if match is None:
            return False
        self._check_format(_FORK, number)
        values = [float(match[i]) for i in range(2, 6)]
        self._finish_epoch(
            number,
            int(match[1]),
            train=(values[0], values[1]),
            test=(values[2], values[3]),
        )
        return True

    def _upstream_epoch(self, number: int, line: str) -> bool:
        match = _UPSTREAM_EPOCH.fullmatch(line)
        if match is None:
            return False
        self._check_format(_UPSTREAM, number)
        self._finish_epoch(
            number, int(match[1]), train=None, test=(float(match[2]), float(match[3]))
        )
        return True

    def _check_format(self, found: str, number: int):
        if self.format is None:
            self.format = found
        elif self.format != found:
            raise LogFormatError(
                f"found a {found} epoch line in a {self.format} log, but a log must use one format",
                self.path,
                number,
            )

    def _finish_epoch(self, number: int, epoch: int, train, test):
        if self.segment.finished and epoch <= max(self.segment.finished):
            # The same epochs again without a '=> Training epoch' line: a new training.
            self._new_segment(number)
        segment = self.segment
        segment.has_records = True
        segment.finished.add(epoch)

        # The fork's epoch line gives the training error; only the loss comes from batches.
        loss, top1, top5, approx = self._batch_means(segment, epoch)
        if train is None:
            train = (top1, top5)
        if segment.resumed and (not self.resumes or self.resumes[-1]["segment"] != segment.index):
            self.resumes.append({"segment": segment.index, "line": segment.line, "epoch": epoch})

        self.rows[epoch] = {
            "epoch": epoch,
            "lr": segment.lr.get(epoch, math.nan),
            "train_top1_err": train[0],
            "train_top5_err": train[1],
            "train_loss": loss,
            "test_top1_err": test[0],
            "test_top5_err": test[1],
            "resumed": segment.resumed,
            "train_approx": approx,
        }

    def _batch_means(self, segment: _Segment, epoch: int):
        batches = segment.batches.get(epoch)
        if not batches:
            return math.nan, math.nan, math.nan, False
        count = segment.batch_counts[epoch]
        batch_size, last_size = self._batch_sizes(segment, count)
        last = str(count)
        complete = batch_size is not None and len(batches) == count and last in batches

        entries = list(batches.values())
        try:
            columns = [[float(entry[k]) for entry in entries] for k in (1, 2, 3)]
        except ValueError:
            self._raise_bad_number(entries)
        if not complete:
            return *(sum(column) / len(column) for column in columns), True
        in_order = segment.options.get("threads") == 1

        weights = [batch_size] * len(entries)
        weights[list(batches).index(last)] = last_size
        total = sum(weights)
        means = [
            sum(w * v for w, v in zip(weights, column, strict=True)) / total for column in columns
        ]
        return *means, not in_order

    def _raise_bad_number(self, entries: list[tuple]):
        for number, *texts in entries:
            try:
                [float(text) for text in texts]
            except ValueError:
                raise LogFormatError(
                    f"invalid number in {' '.join(texts)!r}, expected {_EXPECTED['iteration']}",
                    self.path,
                    number,
                ) from None

    def _batch_sizes(self, segment: _Segment, count: int) -> tuple[float | None, float | None]:
        """The size of every batch but the last, and of the last; None where unknown."""
        batch_size = segment.options.get("batch_size")
        dataset = segment.options.get("dataset", self.dataset)
        size = TRAIN_SET_SIZES.get(dataset)
        if batch_size is None or size is None or count != math.ceil(size / batch_size):
            return None, None
        return float(batch_size), float(size - (count - 1) * batch_size)

    def finish(self) -> tuple[list[dict], dict]:
        if self.pending_bad is not None:
            self.cut_off_line = self.pending_bad[0]
        if not self.rows:
            raise LogFormatError(
                "no completed epoch: expected ' * Epoch # E  train-top1: ...' lines "
                "(FReLU fork) or ' * Finished epoch # E  top1: ...' lines "
                "(fb.resnet.torch)",
                self.path,
            )

        incomplete = []
        for segment in self.segments:
            for epoch, line in sorted(segment.started.items()):
                if epoch not in segment.finished:
                    incomplete.append({"epoch": epoch, "line": line})
        info = {
            "format": self.format,
            "commands": self.commands,
            "resumes": [{"line": r["line"], "epoch": r["epoch"]} for r in self.resumes],
            "incomplete_epochs": incomplete,
            "cut_off_line": self.cut_off_line,
        }
        return [self.rows[epoch] for epoch in sorted(self.rows)], info


def _trace_options(line: str) -> dict:
    """Return the `-name value` options of a `th main.lua` trace line as a dict.

    An option without a value (followed by another option or the end) maps to None.
    """
    words = line.split()
    ends = [i for i, word in enumerate(words) if word.endswith("main.lua")]
    words = words[ends[0] + 1 :] if ends else []
    options = {}
    for index, word in enumerate(words):
        if not word.startswith("-") or _is_number(word):
            continue
        value = words[index + 1] if index + 1 < len(words) else None
        if value is not None and value.startswith("-") and not _is_number(value):
            value = None
        options[word] = value
    return options


def _shown(value) -> str:
    if value is _ABSENT:
        return "(absent)"
    if value is None:
        return "(no value)"
    return value


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _is_record(line: str) -> bool:
    return line.startswith(_ITERATION_PREFIX) or _record_kind(line) is not None


def _record_kind(line: str) -> str | None:
    for prefix, kind in _RECORD_PREFIXES:
        if line.startswith(prefix):
            return kind
    return None

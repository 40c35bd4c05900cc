"""Several runs of one request: which (configuration, seed) pairs, where they resume, in parallel.

Seeds of a configuration are independent runs. On one GPU they can share the device as
separate processes (`jobs` > 1). Each process keeps its own copy of the data set and the
model, and the GPU interleaves the kernels of all processes. On the CPU the workers split
the cores between them.

NOTE: running several small CIFAR networks per GPU is meant to keep a large GPU busy,
but the gain has not been measured. benchmarks/train_speed.py times one run at a time.

Each worker handles SIGINT and SIGTERM like a single run. The parent forwards SIGTERM to
its workers (Ctrl-C on a terminal reaches them directly) and starts no new run after a
signal.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from frelu_tools.errors import FreluToolsError
from frelu_tools.train.checkpoints import LATEST
from frelu_tools.train.configs import RunConfig
from frelu_tools.train.data import load_dataset
from frelu_tools.train.run import (
    RunOptions,
    RunResult,
    StopRequest,
    check_device,
    run_paths,
    train_run,
)

log = logging.getLogger(__name__)


@dataclass
class PlannedRun:
    config: RunConfig
    seed: int
    resume: Path | None  # checkpoint to continue from, or None for a fresh start
    overwrite: bool = False  # a fresh start may delete what an earlier attempt left


def plan_runs(
    configs: list[RunConfig],
    seeds: list[int] | None,
    out_dir: Path,
    resume: Path | None,
) -> list[PlannedRun]:
    """List the runs of a request.

    Args:
        configs: the selected configurations.
        seeds: seeds to run for every configuration; None uses each configuration's own.
        out_dir: the output folder.
        resume: None for fresh runs. An output folder of an earlier request makes each
            run continue from its own `latest.pt`, and runs without one (never started,
            or stopped in their first epoch) start fresh. One checkpoint (a file, or a
            frelu-tools or Torch7 checkpoint folder) needs a request of exactly one
            configuration and one seed.

    Raises:
        FreluToolsError: a single checkpoint given for several runs, or an output
            folder with no log or checkpoint of any of the runs.
    """
    pairs = [(config, seed) for config in configs for seed in (seeds or config.seeds)]
    if resume is None:
        return [PlannedRun(config, seed, None) for config, seed in pairs]

    resume = Path(resume)
    # A run stopped in its first epoch leaves log/ but no checkpoints/ folder.
    if (resume / "checkpoints").is_dir() or (resume / "log").is_dir():
        return _plan_from_output_folder(pairs, out_dir, resume)

    if len(pairs) != 1:
        raise FreluToolsError(
            f"--resume {resume} is one checkpoint but the request has {len(pairs)} runs; "
            "select one configuration and one seed (--seeds K), or pass an output folder "
            "of an earlier reproduce run"
        )
    config, seed = pairs[0]
    return [PlannedRun(config, seed, resume)]


def _plan_from_output_folder(pairs, out_dir: Path, resume: Path) -> list[PlannedRun]:
    """Plan each run to continue from its `latest.pt` under `resume`, or to start afresh.

    Raises:
        FreluToolsError: `resume` contains no log or checkpoint of any of the runs.
    """
    planned, found = [], False
    for config, seed in pairs:
        log_path, metrics_path, folder = run_paths(resume, config, seed)
        if (folder / LATEST).is_file():
            planned.append(PlannedRun(config, seed, folder))
            found = True
            continue

        # A fresh start may replace what is in the output folder only where no
        # completed epoch is lost.
        overwrite = not (run_paths(out_dir, config, seed)[2] / LATEST).is_file()
        if log_path.exists() or metrics_path.exists():
            found = True
            log.warning(
                "%s: stopped before its first epoch finished; starting it afresh and "
                "replacing its log",
                config.run_name(seed),
            )
        planned.append(PlannedRun(config, seed, None, overwrite=overwrite))

    if not found:
        raise FreluToolsError(
            f"--resume {resume}: no log or checkpoint of the selected runs found "
            f"({run_paths(resume, *pairs[0])[0]} is missing, for one); check the "
            "configuration names and --seeds, or drop --resume to start them"
        )
    return planned


def run_planned(
    planned: list[PlannedRun],
    data: str | Path,
    out_dir: Path,
    options: RunOptions,
    jobs: int = 1,
    progress_factory=None,
) -> tuple[list[RunResult], str | None]:
    """Run `planned` one after the other (`jobs` = 1) or in `jobs` worker processes.

    Returns:
        The results of the runs that started, and the name of the signal that stopped
        the request (None when every run finished).
    """
    if jobs > 1 and len(planned) > 1:
        return _run_parallel(planned, data, out_dir, options, jobs)

    datasets = {}
    results = []
    with StopRequest() as stop:
        for item in planned:
            if stop():
                break
            name = item.config.dataset
            if name not in datasets:
                datasets[name] = load_dataset(name, data)
            progress = (
                progress_factory(item.config.run_name(item.seed)) if progress_factory else None
            )
            results.append(
                train_run(
                    item.config,
                    item.seed,
                    datasets[name],
                    out_dir,
                    _options_for(item, options),
                    resume=item.resume,
                    progress=progress,
                    should_stop=stop,
                )
            )
        return results, stop.signal_name


def _options_for(item: PlannedRun, options: RunOptions) -> RunOptions:
    return dataclasses.replace(options, overwrite=options.overwrite or item.overwrite)


def _worker(item: PlannedRun, data, out_dir, options, queue, threads) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if threads is not None:
        torch.set_num_threads(threads)
    from frelu_tools.train.progress import ProgressLog

    name = item.config.run_name(item.seed)
    with StopRequest() as stop:
        try:
            dataset = load_dataset(item.config.dataset, data)
            result = train_run(
                item.config,
                item.seed,
                dataset,
                out_dir,
                _options_for(item, options),
                resume=item.resume,
                progress=ProgressLog(name),
                should_stop=stop,
            )
        except FreluToolsError as error:
            # A user's mistake (missing data, an existing run): one line, no traceback.
            log.error("%s: %s", name, error)
            sys.exit(2)
    queue.put(result)


def _run_parallel(planned, data, out_dir, options, jobs):
    # CPU workers split the cores instead of each starting one thread per core.
    threads = None
    if torch.device(check_device(options.device)).type == "cpu":
        threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    pending = list(planned)
    running: list = []
    results: list[RunResult] = []
    failed = 0
    with StopRequest() as stop:
        forwarded = False
        while pending or running:
            while pending and len(running) < jobs and not stop():
                item = pending.pop(0)
                process = context.Process(
                    target=_worker,
                    args=(item, data, out_dir, options, queue, threads),
                    daemon=False,
                )
                process.start()
                running.append(process)
            if stop() and not forwarded:
                # A terminal's Ctrl-C reaches the workers directly, in the same process
                # group; a second SIGINT would make them abort, so only SIGTERM is passed on.
                if stop.signal_name == "SIGTERM":
                    for process in running:
                        if process.is_alive():
                            process.terminate()  # the worker stops after an iteration
                forwarded = True
                pending.clear()
            for process in list(running):
                process.join(timeout=0.2)
                if not process.is_alive():
                    running.remove(process)
                    if process.exitcode not in (0, -signal.SIGTERM):
                        log.error(
                            "worker process %d exited with code %s", process.pid, process.exitcode
                        )
                        failed += 1
            while not queue.empty():
                results.append(queue.get())
        while not queue.empty():
            results.append(queue.get())
    if failed:
        raise FreluToolsError(
            f"{failed} of {len(planned)} runs failed in their worker processes; the "
            "messages above name them"
        )
    return results, stop.signal_name

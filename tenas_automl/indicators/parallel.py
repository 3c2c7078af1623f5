"""Score the masks of one :func:`~tenas_automl.indicators.evaluate` call in several CPU processes.

A mask's value never depends on the other masks of the call (every network
and batch is seeded by the call's seed alone), so splitting the masks across
processes returns exactly the serial numbers. On a CPU the scoring networks
are tiny (3 channels for ``ntk``, 1 for ``lr``): one single-threaded process
per core beats one process with intra-op threads. The pool is started once
(``spawn``, so it is safe whatever torch did before) and reused by later calls;
on CUDA the masks are scored in-process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from tenas_automl.spaces.base import Mask, Space

logger = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def default_workers() -> int:
    """Processes to use on this machine: its usable cores (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def _init_worker(parent: int) -> None:
    import torch

    torch.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """End this worker once the process that started it is gone (killed, say):
    an orphan would otherwise spend its core on a chunk nobody will read."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _score_chunk(space: Space, masks: list[Mask], names: list[Any], kwargs: dict[str, Any]) -> dict[str, np.ndarray]:
    from tenas_automl.indicators.runner import evaluate

    return evaluate(space, masks, names, **kwargs)


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size != workers:
        shutdown()
        _pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        _pool_size = workers
    return _pool


def shutdown(wait: bool = False, terminate: bool = False) -> None:
    """Stop the worker processes (a later parallel call starts new ones).

    ``terminate`` ends them at once, mid-chunk: without it the interpreter's
    exit waits for each worker to finish the chunk it is scoring (minutes for a
    pruning round), when only the main process was interrupted.
    """
    global _pool, _pool_size
    if _pool is not None:
        if terminate:
            # ``_processes`` is the executor's own table of its workers (CPython 3.8-3.13).
            for proc in list((getattr(_pool, "_processes", None) or {}).values()):
                proc.terminate()
        _pool.shutdown(wait=wait, cancel_futures=True)
    _pool, _pool_size = None, 0


@contextmanager
def pool_guard() -> Iterator[None]:
    """Stop the pool when the block fails, so that no worker outlives the error."""
    try:
        yield
    except KeyboardInterrupt:
        # A broken pool cannot be reused; a Ctrl-C that reached only this process
        # (kill -INT, SIGTERM from a scheduler) must not leave the workers running.
        shutdown(terminate=True)
        raise
    except BaseException:
        # A worker's error (bad data, say): wait for the pool to stop, or the
        # interpreter's exit hook may trip over its half-closed pipe and print
        # a traceback after the one-line error.
        shutdown(wait=True)
        raise


def evaluate_parallel(
    space: Space, masks: Sequence[Mask], names: Sequence[Any], workers: int, kwargs: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Like ``evaluate(space, masks, names, **kwargs)``, the masks dealt to ``workers`` processes.

    Masks are dealt round-robin (neighbouring candidates of a pruning round
    cost about the same), then the values are put back in the callers' order.
    """
    workers = min(workers, len(masks))
    chunks = [list(range(w, len(masks), workers)) for w in range(workers)]
    pool = _get_pool(workers)
    futures: list[Future[dict[str, np.ndarray]]] = []
    with pool_guard():
        for idx in chunks:
            futures.append(pool.submit(_score_chunk, space, [masks[i] for i in idx], list(names), kwargs))
        parts = [f.result() for f in futures]
    out: dict[str, np.ndarray] = {}
    for name in parts[0]:
        values = np.full(len(masks), np.nan)
        for idx, part in zip(chunks, parts):
            values[idx] = part[name]
        out[name] = values
    return out

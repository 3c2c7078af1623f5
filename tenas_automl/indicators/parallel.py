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
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
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


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _score_chunk(space: Space, masks: list[Mask], names: list[Any], kwargs: dict[str, Any]) -> dict[str, np.ndarray]:
    from tenas_automl.indicators.runner import evaluate

    return evaluate(space, masks, names, **kwargs)


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size != workers:
        shutdown()
        _pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
        )
        _pool_size = workers
    return _pool


def shutdown(wait: bool = False) -> None:
    """Stop the worker processes (a later parallel call starts new ones)."""
    global _pool, _pool_size
    if _pool is not None:
        _pool.shutdown(wait=wait, cancel_futures=True)
    _pool, _pool_size = None, 0


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
    try:
        for idx in chunks:
            futures.append(pool.submit(_score_chunk, space, [masks[i] for i in idx], list(names), kwargs))
        parts = [f.result() for f in futures]
    except KeyboardInterrupt:
        # Ctrl-C reaches the workers too, and a broken pool cannot be reused.
        shutdown()
        raise
    except BaseException:
        # A worker's error (bad data, say): wait for the pool to stop, or the
        # interpreter's exit hook may trip over its half-closed pipe and print
        # a traceback after the one-line error.
        shutdown(wait=True)
        raise
    out: dict[str, np.ndarray] = {}
    for name in parts[0]:
        values = np.full(len(masks), np.nan)
        for idx, part in zip(chunks, parts):
            values[idx] = part[name]
        out[name] = values
    return out

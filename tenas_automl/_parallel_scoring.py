""":func:`~tenas_automl.scoring.score_many` over several CPU processes.

An architecture's values do not depend on the others scored with it (every
network and batch is seeded by the call's seed alone), so dealing the
architectures to processes returns the serial numbers. Each process scores
contiguous chunks with its own :func:`~tenas_automl.scoring.iter_scores`
(networks built once per chunk) and writes to the shared score cache as it
goes, so an interrupted run resumes from what any process finished.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from tenas_automl.indicators.base import Indicator
from tenas_automl.indicators.parallel import _get_pool, pool_guard
from tenas_automl.scoring import ProgressFn, ScoreCache, ScoreResult, iter_scores
from tenas_automl.spaces.base import Space


def _score_chunk(
    space: Space, archs: list[Hashable | str], kwargs: dict[str, Any], cache_dir: str | None, use_cache: bool
) -> list[ScoreResult]:
    cache = ScoreCache(cache_dir) if use_cache else None
    try:
        return list(iter_scores(space, archs, cache=cache, **kwargs))
    finally:
        if cache is not None:
            cache.close()


def chunk_bounds(n: int, workers: int, per_worker: int = 8, smallest: int = 4) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` chunks: about ``per_worker`` per process (so the
    progress moves and processes finish together), none below ``smallest``."""
    size = max(smallest, -(-n // (workers * per_worker)))
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def score_many_parallel(
    space: Space,
    archs: Sequence[Hashable | str],
    indicators: Sequence[str | Indicator],
    workers: int,
    kwargs: Mapping[str, Any],
    *,
    cache_dir: str | os.PathLike[str] | None,
    use_cache: bool,
    progress: ProgressFn | None,
) -> list[ScoreResult]:
    """``score_many`` with the architectures dealt to ``workers`` processes, results in order."""
    archs = list(archs)
    bounds = chunk_bounds(len(archs), workers)
    pool = _get_pool(min(workers, len(bounds)))
    call = dict(kwargs, indicators=list(indicators))
    cache = None if cache_dir is None else os.fspath(cache_dir)
    pending: dict[Future[list[ScoreResult]], int] = {}
    parts: dict[int, list[ScoreResult]] = {}
    done = 0
    with pool_guard():
        for k, (a, b) in enumerate(bounds):
            pending[pool.submit(_score_chunk, space, archs[a:b], call, cache, use_cache)] = k
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                k = pending.pop(fut)
                parts[k] = fut.result()
                done += len(parts[k])
                if progress is not None:
                    progress(done, len(archs), parts[k][-1].arch if parts[k] else "")
    return [r for k in range(len(bounds)) for r in parts[k]]

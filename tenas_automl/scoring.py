"""Score single architectures: ``score`` for one, ``score_many`` for a stream of them.

``score_many`` builds each indicator's seeded networks once and re-masks them
for every architecture (scores equal those of separate ``score`` calls), keeps
per-indicator timings, and caches values on disk so that a rerun only computes
what is new (:mod:`tenas_automl.score_cache`, whose ``ScoreCache``,
``CachedEvaluator`` and ``default_cache_dir`` are re-exported here).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from tenas_automl.data import ImageData
from tenas_automl.indicators.base import Context, Indicator
from tenas_automl.indicators.runner import (
    resolve_indicators,
    score_in_context,
    shared_context,
    warn_non_finite,
)
from tenas_automl.score_cache import CACHE_FILE, CachedEvaluator, ScoreCache, _data_key, _entry, default_cache_dir
from tenas_automl.spaces.base import Space

logger = logging.getLogger(__name__)

#: ``progress(done, total, info)``: called as work completes (an architecture, a
#: batch of scorings, a trial); ``info`` says what was done. The one definition
#: the strategies, integrations and CLI share.
ProgressFn = Callable[[int, int, str], None]


@dataclass
class ScoreResult:
    """Indicator values of one architecture.

    ``values[name]`` may be NaN or infinite (see the indicator); ``seconds[name]``
    is the time its computation took (for a cached value, the time it took when
    computed); ``cached`` names the indicators served from the cache.
    """

    arch: str
    values: dict[str, float]
    seconds: dict[str, float]
    seed: int
    device: str
    cached: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self) -> dict[str, Any]:
        """A flat row: ``arch``, then ``NAME`` and ``NAME_seconds`` per indicator."""
        out: dict[str, Any] = {"arch": self.arch}
        for name, value in self.values.items():
            out[name] = value
            out[f"{name}_seconds"] = self.seconds.get(name)
        return out


def _arch_of(space: Space, arch: Hashable | str) -> tuple[Hashable, str]:
    obj = space.parse(arch) if isinstance(arch, str) else arch
    return obj, space.format(obj)


def iter_scores(
    space: Space,
    archs: Iterable[Hashable | str],
    indicators: Sequence[str | Indicator] = ("ntk", "lr"),
    seed: int = 0,
    device: str | torch.device = "auto",
    dataset: str = "cifar10",
    data_dir: str | None = None,
    mode: str = "paper",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    data: ImageData | None = None,
    cache: ScoreCache | None = None,
    progress: ProgressFn | None = None,
    total: int | None = None,
) -> Iterator[ScoreResult]:
    """Yield one :class:`ScoreResult` per architecture, as soon as it is scored.

    Architectures (objects or strings) are parsed lazily; a bad one raises
    :class:`~tenas_automl.errors.InvalidArchitectureError` when reached.
    """
    inds = resolve_indicators(indicators, overrides)
    ctx: Context = shared_context(space, seed=seed, device=device, data=data, dataset=dataset, data_dir=data_dir, mode=mode)
    data_key = _data_key(ctx.data)
    done = 0
    scored: dict[str, list[float]] = {ind.name: [] for ind in inds}  # for one warning at the end
    for arch in archs:
        obj, text = _arch_of(space, arch)
        mask = space.arch_to_mask(obj)
        values: dict[str, float] = {}
        seconds: dict[str, float] = {}
        cached: list[str] = []
        for ind in inds:
            key, fields = _entry(space, text, ind, mode, seed, data_key)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                values[ind.name], seconds[ind.name] = hit
                cached.append(ind.name)
                continue
            start = time.perf_counter()
            value = float(score_in_context(ctx, ind, [mask], warn=False)[0])
            elapsed = time.perf_counter() - start
            values[ind.name], seconds[ind.name] = value, elapsed
            if cache is not None:
                cache.put(key, fields, value, elapsed)
        for name, value in values.items():
            scored[name].append(value)
            if not math.isfinite(value):
                logger.debug("%s of %s is %s", name, text, value)
        done += 1
        if progress is not None:
            progress(done, total if total is not None else done, text)
        yield ScoreResult(text, values, seconds, int(seed), str(ctx.device), tuple(cached))
    for name, got in scored.items():
        warn_non_finite(name, np.asarray(got, dtype=float), "architectures")


def score(
    space: Space,
    arch: Hashable | str,
    indicators: Sequence[str | Indicator] = ("ntk", "lr"),
    seed: int = 0,
    device: str | torch.device = "auto",
    dataset: str = "cifar10",
    data_dir: str | None = None,
    mode: str = "paper",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    data: ImageData | None = None,
) -> ScoreResult:
    """Score one architecture (an arch object or its string) with ``indicators``.

    Defaults are TE-NAS's two indicators at the papers' settings on the
    bundled CIFAR-10 sample. Not cached; see :func:`score_many`.
    """
    return next(iter_scores(space, [arch], indicators, seed, device, dataset, data_dir, mode, overrides, data=data))


def score_many(
    space: Space,
    archs: Iterable[Hashable | str],
    indicators: Sequence[str | Indicator] = ("ntk", "lr"),
    seed: int = 0,
    device: str | torch.device = "auto",
    dataset: str = "cifar10",
    data_dir: str | None = None,
    mode: str = "paper",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    data: ImageData | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> list[ScoreResult]:
    """Score many architectures, one at a time, with an on-disk cache.

    Networks are built once per indicator and repeat and re-masked for each
    architecture; only the small results are kept. ``cache_dir`` (default
    :func:`default_cache_dir`) holds the cache unless ``use_cache`` is False.
    ``progress(done, total, arch)`` is called after each architecture (with
    ``workers > 1``, after each chunk). ``workers > 1`` deals the architectures
    to that many CPU processes (one torch thread each): the same numbers.
    """
    archs = list(archs)
    if workers > 1 and len(archs) > 1:
        from tenas_automl._parallel_scoring import score_many_parallel

        kwargs = {
            "seed": seed,
            "device": device,
            "dataset": dataset,
            "data_dir": data_dir,
            "mode": mode,
            "overrides": overrides,
            "data": data,
        }
        return score_many_parallel(
            space, archs, indicators, workers, kwargs, cache_dir=cache_dir, use_cache=use_cache, progress=progress
        )
    cache = ScoreCache(cache_dir) if use_cache else None
    try:
        return list(
            iter_scores(
                space, archs, indicators, seed, device, dataset, data_dir, mode, overrides,
                data=data, cache=cache, progress=progress, total=len(archs),
            )
        )  # fmt: skip
    finally:
        if cache is not None:
            cache.close()


def finite_or_none(value: float) -> float | None:
    """``value``, or None where it is NaN/inf (for JSON writers that reject them)."""
    return value if math.isfinite(value) else None


__all__ = [
    "CACHE_FILE",
    "CachedEvaluator",
    "ProgressFn",
    "ScoreCache",
    "ScoreResult",
    "default_cache_dir",
    "finite_or_none",
    "iter_scores",
    "score",
    "score_many",
]

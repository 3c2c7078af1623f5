"""Score single architectures: ``score`` for one, ``score_many`` for a stream of them.

``score_many`` builds each indicator's seeded networks once and re-masks them
for every architecture (scores equal those of separate ``score`` calls), keeps
per-indicator timings, and caches values on disk so that a rerun only computes
what is new. The cache is one SQLite file, ``scores.sqlite``, under
``cache_dir`` (default ``$TENAS_CACHE_DIR`` or ``~/.cache/tenas-automl``);
SQLite's locking makes concurrent writers safe. A value is keyed by space,
architecture, indicator (name, code version, mode, settings), seed and data.
``CachedEvaluator`` puts the same cache behind a search strategy, so that a
search that is rerun, or was interrupted, reuses what it already computed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tenas_automl.data import ImageData, load_data
from tenas_automl.errors import InvalidArchitectureError, TenasError
from tenas_automl.indicators.base import Context, Indicator
from tenas_automl.indicators.runner import (
    evaluate,
    make_context,
    resolve_indicators,
    score_in_context,
    warn_non_finite,
)
from tenas_automl.spaces.base import Mask, Space

logger = logging.getLogger(__name__)

#: ``progress(done, total, info)``: called as work completes (an architecture, a
#: batch of scorings, a trial); ``info`` says what was done. The one definition
#: the strategies, integrations and CLI share.
ProgressFn = Callable[[int, int, str], None]
CACHE_FILE = "scores.sqlite"


def default_cache_dir() -> Path:
    """``$TENAS_CACHE_DIR`` if set, else ``~/.cache/tenas-automl``."""
    env = os.environ.get("TENAS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tenas-automl"


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


class ScoreCache:
    """Indicator values on disk (SQLite), safe for concurrent processes."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.path = self.directory / CACHE_FILE
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60.0)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError:  # e.g. a file system without shared memory
                pass
            with self._db:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, space TEXT, arch TEXT, "
                    "indicator TEXT, setting TEXT, seed INTEGER, data TEXT, value TEXT, seconds REAL, "
                    "created REAL)"
                )
        except (OSError, sqlite3.Error) as exc:
            raise TenasError(
                f"cannot use the score cache {str(self.path)!r} ({exc}); choose another folder "
                "(--cache-dir, $TENAS_CACHE_DIR) or turn it off (--no-cache, use_cache=False)"
            ) from exc

    @staticmethod
    def key(space: str, arch: str, indicator_key: str, seed: int, data: str) -> str:
        text = json.dumps([space, arch, indicator_key, int(seed), data])
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> tuple[float, float] | None:
        row = self._db.execute("SELECT value, seconds FROM scores WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return float(json.loads(row[0])), float(row[1])

    def put(self, key: str, fields: Mapping[str, Any], value: float, seconds: float) -> None:
        with self._db:  # one transaction: a crash never leaves half a row
            self._db.execute(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key, fields["space"], fields["arch"], fields["indicator"], fields["setting"],
                    int(fields["seed"]), fields["data"], json.dumps(float(value)), float(seconds), time.time(),
                ),
            )  # fmt: skip

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def summary(self) -> list[tuple[str, str, int]]:
        """``(space, indicator, values)`` for every pair the cache holds."""
        rows = self._db.execute("SELECT space, indicator, COUNT(*) FROM scores GROUP BY 1, 2 ORDER BY 1, 2")
        return [(str(a), str(b), int(c)) for a, b, c in rows]

    def clear(self) -> int:
        """Delete every value; returns how many there were."""
        n = len(self)
        with self._db:
            self._db.execute("DELETE FROM scores")
        self._db.execute("VACUUM")
        return n

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ScoreCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _arch_of(space: Space, arch: Hashable | str) -> tuple[Hashable, str]:
    obj = space.parse(arch) if isinstance(arch, str) else arch
    return obj, space.format(obj)


def _data_key(data: ImageData) -> str:
    return f"{data.name}|{data.fingerprint}"


def _entry(space: Space, arch: str, ind: Indicator, mode: str, seed: int, data_key: str) -> tuple[str, dict[str, Any]]:
    """The cache key of one value and the columns stored beside it."""
    setting = ind.key(ind.settings.mode or mode)
    fields = {"space": space.name, "arch": arch, "indicator": ind.name, "setting": setting, "seed": seed,
              "data": data_key}  # fmt: skip
    return ScoreCache.key(space.name, arch, setting, seed, data_key), fields


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
    ctx: Context = make_context(space, seed=seed, device=device, data=data, dataset=dataset, data_dir=data_dir, mode=mode)
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


def _mask_text(space: Space, mask: Mask) -> str:
    """The cache's name of a mask: the architecture string when it selects one
    architecture (so ``score`` and searches share values), else the mask as JSON."""
    mask = tuple(tuple(ops) for ops in mask)
    if all(len(ops) <= 1 for ops in mask):
        try:
            arch = space.mask_to_arch(mask)
            if space.arch_to_mask(arch) == mask:
                return space.format(arch)
        except InvalidArchitectureError:
            pass
    return "mask:" + json.dumps(mask, separators=(",", ":"))


class CachedEvaluator:
    """A search strategy's evaluator that reads and writes a :class:`ScoreCache`.

    Called like :func:`~tenas_automl.indicators.evaluate`, it looks up every
    (mask, indicator with its settings, seed, data) on disk, computes only the
    missing ones (one ``evaluate`` call per indicator) and stores them as soon
    as that call returns. A mask's value does not depend on the other masks of
    its call, so a search rerun with the same settings, or resumed after
    Ctrl-C, gets the same numbers and the same architecture, and skips the
    work already done. Masks that select one architecture share their entries
    with :func:`score_many` and ``tenas-automl score``.

    Example:
        >>> from tenas_automl import CachedEvaluator, ScoreCache, get_space, get_strategy
        >>> cached = CachedEvaluator(ScoreCache("/tmp/tenas-cache"))
        >>> strategy = get_strategy("random", indicators=["lr"], budget=5, evaluator=cached)
        >>> found = strategy.search(get_space("nb201"))  # doctest: +SKIP
        >>> cached.hits, cached.computed  # doctest: +SKIP
        (0, 5)

    Attributes:
        hits: values served from the cache so far.
        computed: values computed (and stored) so far.
    """

    def __init__(self, cache: ScoreCache, inner: Callable[..., dict[str, np.ndarray]] = evaluate) -> None:
        self.cache, self.inner = cache, inner
        self.hits = 0
        self.computed = 0

    def __call__(
        self,
        space: Space,
        masks: Sequence[Mask],
        names: Sequence[str | Indicator],
        *,
        seed: int = 0,
        data: ImageData | None = None,
        dataset: str = "cifar10",
        data_dir: str | None = None,
        mode: str = "paper",
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> dict[str, np.ndarray]:
        inds = resolve_indicators(names, overrides)
        data_key = _data_key(data if data is not None else load_data(dataset, data_dir))
        texts = [_mask_text(space, m) for m in masks]
        out: dict[str, np.ndarray] = {}
        for ind in inds:
            entries = [_entry(space, t, ind, mode, seed, data_key) for t in texts]
            values = np.full(len(masks), np.nan)
            todo: list[int] = []
            for i, (key, _) in enumerate(entries):
                hit = self.cache.get(key)
                if hit is None:
                    todo.append(i)
                else:
                    values[i] = hit[0]
            self.hits += len(entries) - len(todo)
            if todo:
                start = time.perf_counter()
                new = self.inner(
                    space,
                    [masks[i] for i in todo],
                    [ind],
                    seed=seed,
                    data=data,
                    dataset=dataset,
                    data_dir=data_dir,
                    mode=mode,
                    **kwargs,
                )[ind.name]
                share = (time.perf_counter() - start) / len(todo)
                for i, value in zip(todo, np.asarray(new, dtype=float).reshape(-1)):
                    values[i] = value
                    self.cache.put(*entries[i], float(value), share)
                self.computed += len(todo)
            out[ind.name] = values
        return out


def finite_or_none(value: float) -> float | None:
    """``value``, or None where it is NaN/inf (for JSON writers that reject them)."""
    return value if math.isfinite(value) else None


__all__ = [
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

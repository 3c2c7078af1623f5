"""Score single architectures: ``score`` for one, ``score_many`` for a stream of them.

``score_many`` builds each indicator's seeded networks once and re-masks them
for every architecture (scores equal those of separate ``score`` calls), keeps
per-indicator timings, and caches values on disk so that a rerun only computes
what is new. The cache is one SQLite file, ``scores.sqlite``, under
``cache_dir`` (default ``$TENAS_CACHE_DIR`` or ``~/.cache/tenas-automl``);
SQLite's locking makes concurrent writers safe. A value is keyed by space,
architecture, indicator (name, code version, mode, settings), seed and data.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from tenas_automl.data import ImageData
from tenas_automl.indicators.base import Context, Indicator
from tenas_automl.indicators.runner import make_context, resolve_indicators, score_in_context
from tenas_automl.spaces.base import Space

#: ``progress(done, total, arch_string)`` after each architecture.
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
    return f"{data.name}|{data.source}|{len(data.train_images)}|{len(data.test_images)}"


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
    ctx: Context = make_context(
        space, seed=seed, device=device, data=data, dataset=dataset, data_dir=data_dir, mode=mode
    )
    data_key = _data_key(ctx.data)
    done = 0
    for arch in archs:
        obj, text = _arch_of(space, arch)
        mask = space.arch_to_mask(obj)
        values: dict[str, float] = {}
        seconds: dict[str, float] = {}
        cached: list[str] = []
        for ind in inds:
            ind_key = ind.key(ind.settings.mode or mode)
            key = ScoreCache.key(space.name, text, ind_key, seed, data_key)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                values[ind.name], seconds[ind.name] = hit
                cached.append(ind.name)
                continue
            start = time.perf_counter()
            value = float(score_in_context(ctx, ind, [mask])[0])
            elapsed = time.perf_counter() - start
            values[ind.name], seconds[ind.name] = value, elapsed
            if cache is not None:
                fields = {"space": space.name, "arch": text, "indicator": ind.name, "setting": ind_key,
                          "seed": seed, "data": data_key}  # fmt: skip
                cache.put(key, fields, value, elapsed)
        done += 1
        if progress is not None:
            progress(done, total if total is not None else done, text)
        yield ScoreResult(text, values, seconds, int(seed), str(ctx.device), tuple(cached))


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
    return next(
        iter_scores(
            space, [arch], indicators, seed, device, dataset, data_dir, mode, overrides, data=data
        )
    )


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
) -> list[ScoreResult]:
    """Score many architectures, one at a time, with an on-disk cache.

    Networks are built once per indicator and repeat and re-masked for each
    architecture; only the small results are kept. ``cache_dir`` (default
    :func:`default_cache_dir`) holds the cache unless ``use_cache`` is False.
    ``progress(done, total, arch)`` is called after each architecture.
    """
    archs = list(archs)
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
    "ProgressFn",
    "ScoreCache",
    "ScoreResult",
    "default_cache_dir",
    "finite_or_none",
    "iter_scores",
    "score",
    "score_many",
]

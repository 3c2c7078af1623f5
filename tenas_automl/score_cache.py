"""The on-disk score cache: one SQLite file of indicator values, shared by every search.

``scores.sqlite`` under ``cache_dir`` (default ``$TENAS_CACHE_DIR``, else the
user cache folder, ``~/.cache/tenas-automl`` on Linux); SQLite's locking
makes concurrent writers safe. A value is keyed by space, architecture,
indicator (name, code version, mode, settings), seed and data.
:class:`CachedEvaluator` puts the cache behind a search strategy, so that a
search that is rerun, or was interrupted, reuses what it already computed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tenas_automl.data import ImageData, load_data
from tenas_automl.errors import InvalidArchitectureError, TenasError
from tenas_automl.indicators.base import Indicator
from tenas_automl.indicators.runner import evaluate, resolve_indicators
from tenas_automl.spaces.base import Mask, Space

CACHE_FILE = "scores.sqlite"


def default_cache_dir() -> Path:
    """``$TENAS_CACHE_DIR`` if set, else the user cache folder (``~/.cache/tenas-automl`` on Linux)."""
    env = os.environ.get("TENAS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("tenas-automl", appauthor=False))


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


def _data_key(data: ImageData) -> str:
    return f"{data.name}|{data.fingerprint}"


def _entry(space: Space, arch: str, ind: Indicator, mode: str, seed: int, data_key: str) -> tuple[str, dict[str, Any]]:
    """The cache key of one value and the columns stored beside it."""
    setting = ind.key(ind.settings.mode or mode)
    fields = {"space": space.name, "arch": arch, "indicator": ind.name, "setting": setting, "seed": seed,
              "data": data_key}  # fmt: skip
    return ScoreCache.key(space.name, arch, setting, seed, data_key), fields


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
    missing ones (one ``evaluate`` call for the indicators that miss the same
    masks, usually all of them) and stores them as soon as that call returns;
    each value's seconds are an equal share of its call's. A mask's value does not depend on the other masks of
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
        entries: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        # Indicators missing the same masks are computed in one call: a call per
        # indicator would pay the per-call cost (worker dispatch, networks) each time.
        groups: dict[tuple[int, ...], list[Indicator]] = {}
        for ind in inds:
            entries[ind.name] = [_entry(space, t, ind, mode, seed, data_key) for t in texts]
            values = np.full(len(masks), np.nan)
            todo: list[int] = []
            for i, (key, _) in enumerate(entries[ind.name]):
                hit = self.cache.get(key)
                if hit is None:
                    todo.append(i)
                else:
                    values[i] = hit[0]
            self.hits += len(masks) - len(todo)
            out[ind.name] = values
            if todo:
                groups.setdefault(tuple(todo), []).append(ind)
        for todo, group in groups.items():
            start = time.perf_counter()
            new = self.inner(
                space, [masks[i] for i in todo], group, seed=seed, data=data, dataset=dataset, data_dir=data_dir,
                mode=mode, **kwargs,
            )  # fmt: skip
            # Seconds per value: the call's time shared equally by its values.
            share = (time.perf_counter() - start) / (len(todo) * len(group))
            for ind in group:
                for i, value in zip(todo, np.asarray(new[ind.name], dtype=float).reshape(-1)):
                    out[ind.name][i] = value
                    self.cache.put(*entries[ind.name][i], float(value), share)
                self.computed += len(todo)
        return out


__all__ = ["CACHE_FILE", "CachedEvaluator", "ScoreCache", "default_cache_dir"]

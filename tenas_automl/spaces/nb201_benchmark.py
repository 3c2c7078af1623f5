"""NAS-Bench-201 test accuracies: the bundled table, or local NATS-Bench files.

Sources (choose with ``NB201Space(benchmark=...)`` or ``space.use_benchmark(...)``):

* ``None`` / ``"table"``: :class:`TableBenchmark`, the table shipped in
  ``tenas_automl/_data/nb201-accuracy.csv.gz`` (all 15,625 cells in NATS-Bench
  index order: test accuracy after 200 epochs, mean over seeds, for cifar10,
  cifar100 and ImageNet16-120, plus arch and unique strings; MIT-licensed data
  of NAS-Bench-201 / NATS-Bench). Loaded once, on first use.
* ``"nats"``, a path, or an in-memory dict: :class:`NATSBenchmark`, which asks
  the ``nats_bench`` package for
  ``get_more_info(index, dataset, hp="200", is_random=False)["test-accuracy"]``.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Union

import numpy as np

from tenas_automl.errors import BenchmarkError, InvalidArchitectureError, UnknownNameError, check_choice

#: Dataset names of the benchmark (NATS-Bench's; ``cifar10`` is train+valid -> test).
BENCHMARK_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
NUM_ROWS = 15625
TABLE_RESOURCE = "_data/nb201-accuracy.csv.gz"
_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
#: NATS-Bench topology file names under $TORCH_HOME.
NATS_BASE_NAME = "NATS-tss-v1_0-3ffb9"
NATS_FILE = f"{NATS_BASE_NAME}.pickle.pbz2"
NATS_ARCHIVE = f"{NATS_BASE_NAME}-simple"


@dataclass(frozen=True)
class BenchmarkTable:
    """The bundled table: per-dataset accuracy columns (read-only float64
    arrays indexed by NATS-Bench index) and the string columns."""

    accuracy: Mapping[str, np.ndarray]
    arch_strings: tuple[str, ...]
    unique_strings: tuple[str, ...]


def read_table(data: bytes) -> BenchmarkTable:
    """Parse the table CSV (``data``: its bytes, uncompressed)."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    needed = [*_COLUMNS.values(), "ArchitectureString", "UniqueString"]
    if len(rows) != NUM_ROWS or any(c not in rows[0] for c in needed):
        raise BenchmarkError(f"the NB201 table is malformed: {len(rows)} rows, need {NUM_ROWS} with columns {needed}")
    accuracy = {}
    for dataset, column in _COLUMNS.items():
        values = np.array([float(r[column]) for r in rows], dtype=np.float64)
        values.setflags(write=False)
        accuracy[dataset] = values
    return BenchmarkTable(
        accuracy=accuracy,
        arch_strings=tuple(r["ArchitectureString"] for r in rows),
        unique_strings=tuple(r["UniqueString"] for r in rows),
    )


@cache
def load_table() -> BenchmarkTable:
    """The bundled table, read once per process."""
    blob = resources.files("tenas_automl").joinpath(TABLE_RESOURCE).read_bytes()
    return read_table(gzip.decompress(blob))


def check_index(index: int) -> int:
    """``index`` as an int if it is a valid NATS-Bench index, else InvalidArchitectureError."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < NUM_ROWS:
        raise InvalidArchitectureError(f"NB201 index must be an integer in 0..{NUM_ROWS - 1}, got {index!r}")
    return int(index)


class NB201Benchmark(ABC):
    """A source of NB201 test accuracies, by NATS-Bench index."""

    name: ClassVar[str]

    @abstractmethod
    def accuracy(self, index: int, dataset: str) -> float:
        """Test accuracy (%) of architecture ``index`` on ``dataset``."""

    def accuracies(self, dataset: str) -> np.ndarray:
        """The whole column for ``dataset`` (index order)."""
        check_choice("dataset", dataset, BENCHMARK_DATASETS)
        return np.array([self.accuracy(i, dataset) for i in range(NUM_ROWS)], dtype=np.float64)

    def best_accuracy(self, dataset: str) -> float:
        """The highest accuracy on ``dataset`` over the space."""
        return float(np.max(self.accuracies(dataset)))


class TableBenchmark(NB201Benchmark):
    """The table bundled with the package (default source)."""

    name: ClassVar[str] = "table"

    def accuracy(self, index: int, dataset: str) -> float:
        check_choice("dataset", dataset, BENCHMARK_DATASETS)
        return float(load_table().accuracy[dataset][check_index(index)])

    def accuracies(self, dataset: str) -> np.ndarray:
        check_choice("dataset", dataset, BENCHMARK_DATASETS)
        return load_table().accuracy[dataset]

    def __repr__(self) -> str:
        return "TableBenchmark()"


def _torch_home() -> Path:
    """Where nats_bench looks by default: $TORCH_HOME, else ~/.torch."""
    if "TORCH_HOME" in os.environ:
        return Path(os.environ["TORCH_HOME"])
    return Path.home() / ".torch"


def _locate(path: Path) -> tuple[Path, bool]:
    """(file or archive folder, fast_mode) for a user path; BenchmarkError if unusable."""
    if path.is_file():
        return path, False
    if not path.is_dir():
        raise BenchmarkError(f"NATS-Bench path {str(path)!r} does not exist")
    if (path / "meta.pickle.pbz2").is_file():
        return path, True
    # A folder that holds the standard names, like $TORCH_HOME.
    if (path / NATS_ARCHIVE / "meta.pickle.pbz2").is_file():
        return path / NATS_ARCHIVE, True
    if (path / NATS_FILE).is_file():
        return path / NATS_FILE, False
    raise BenchmarkError(
        f"no NATS-Bench topology benchmark in {str(path)!r}: expected {NATS_FILE} or {NATS_ARCHIVE}/meta.pickle.pbz2"
    )


class NATSBenchmark(NB201Benchmark):
    """Accuracies read with the ``nats_bench`` package from a user's NATS-Bench files.

    Args:
        source: ``None`` (look in ``$TORCH_HOME``, default ``~/.torch``), the
            path of ``NATS-tss-v1_0-3ffb9.pickle.pbz2``, of the
            ``NATS-tss-v1_0-3ffb9-simple`` folder (loaded lazily per
            architecture) or of a folder holding either; or an in-memory dict
            in NATS-Bench's own format.

    The path is checked at once (:class:`BenchmarkError` naming it); the
    benchmark itself is opened on the first query. ``best_accuracy`` queries
    every architecture, which is slow with the ``-simple`` folder.
    """

    name: ClassVar[str] = "nats"

    def __init__(self, source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> None:
        if isinstance(source, Mapping):
            self.path: Path | None = None
            self._source: Any = dict(source)
            self._fast_mode = False
        else:
            self.path, self._fast_mode = _locate(Path(source) if source is not None else _torch_home())
            self._source = str(self.path)
        try:
            import nats_bench  # noqa: F401
        except ImportError as err:
            raise BenchmarkError(
                "reading NATS-Bench files needs the nats_bench package: pip install 'tenas-automl[nats]'"
            ) from err
        self._api: Any = None
        self._cache: dict[tuple[int, str], float] = {}

    def _open(self) -> Any:
        if self._api is None:
            import nats_bench

            try:
                self._api = nats_bench.create(self._source, "tss", fast_mode=self._fast_mode, verbose=False)
            except (ValueError, OSError, EOFError) as err:
                raise BenchmarkError(f"cannot read the NATS-Bench benchmark at {self._source_name()}: {err}") from err
        return self._api

    def _source_name(self) -> str:
        return repr(str(self.path)) if self.path is not None else "<in-memory dict>"

    def accuracy(self, index: int, dataset: str) -> float:
        check_choice("dataset", dataset, BENCHMARK_DATASETS)
        key = (check_index(index), dataset)
        if key not in self._cache:
            api = self._open()
            try:
                info = api.get_more_info(key[0], dataset, hp="200", is_random=False)
            except (ValueError, KeyError, AssertionError) as err:  # nats_bench asserts on missing files
                raise BenchmarkError(
                    f"the NATS-Bench benchmark at {self._source_name()} has no 200-epoch {dataset} result "
                    f"for index {key[0]}: {err}"
                ) from err
            self._cache[key] = float(info["test-accuracy"])
        return self._cache[key]

    def __repr__(self) -> str:
        return f"NATSBenchmark({self._source_name()})"


#: What ``NB201Space(benchmark=...)`` accepts.
BenchmarkSource = Union[NB201Benchmark, str, "os.PathLike[str]", Mapping[str, Any], None]


def resolve_benchmark(source: BenchmarkSource) -> NB201Benchmark:
    """Turn a :data:`BenchmarkSource` into a benchmark (see the module docstring)."""
    if source is None or source == "table":
        return TableBenchmark()
    if source == "nats":
        return NATSBenchmark(None)
    if isinstance(source, NB201Benchmark):
        return source
    if isinstance(source, (str, os.PathLike, Mapping)):
        return NATSBenchmark(source)
    raise UnknownNameError("benchmark source", repr(source), ("table", "nats", "a NATS-Bench path", "a dict"))


__all__ = [
    "BENCHMARK_DATASETS",
    "BenchmarkSource",
    "BenchmarkTable",
    "NATSBenchmark",
    "NB201Benchmark",
    "TableBenchmark",
    "check_index",
    "load_table",
    "resolve_benchmark",
]

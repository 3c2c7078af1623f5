"""NB201 benchmark sources: the bundled table and NATS-Bench files."""

from __future__ import annotations

import csv
import gzip
import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tenas_automl.errors import BenchmarkError, InvalidArchitectureError, UnknownNameError
from tenas_automl.spaces.nb201 import NB201Space
from tenas_automl.spaces.nb201_benchmark import (
    BENCHMARK_DATASETS,
    NATSBenchmark,
    TableBenchmark,
    load_table,
    resolve_benchmark,
)

COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
REF = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[dict[str, str]]:
    with open(shared_data / "nb201-accuracy.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_bundled_table_is_the_shared_table(shared_data: Path) -> None:
    blob = resources.files("tenas_automl").joinpath("_data/nb201-accuracy.csv.gz").read_bytes()
    assert len(blob) < 1_000_000
    assert gzip.decompress(blob) == (shared_data / "nb201-accuracy.csv").read_bytes()
    digest = hashlib.sha256(gzip.decompress(blob)).hexdigest()
    assert digest == "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e"


def test_lookup_equals_the_table_for_every_arch(rows: list[dict[str, str]]) -> None:
    space = NB201Space()
    assert load_table() is load_table()  # parsed once
    for dataset, column in COLUMNS.items():
        expected = np.array([float(r[column]) for r in rows])
        assert np.array_equal(space.benchmark.accuracies(dataset), expected)
        got = [space.benchmark_accuracy(r["ArchitectureString"], dataset) for r in rows]
        assert np.array_equal(np.array(got), expected)
    assert load_table().arch_strings == tuple(r["ArchitectureString"] for r in rows)


def test_best_accuracy() -> None:
    space = NB201Space()
    best = [round(space.best_accuracy(d), 2) for d in BENCHMARK_DATASETS]
    assert best == [94.37, 73.51, 47.31]
    assert space.benchmark_accuracy(REF, "cifar10") == pytest.approx(93.66)


def test_unknown_dataset_and_bad_index() -> None:
    space = NB201Space()
    for bad in ("cifar10-valid", "imagenet", "CIFAR10"):
        with pytest.raises(UnknownNameError, match="cifar10, cifar100, ImageNet16-120"):
            space.benchmark_accuracy(REF, bad)
    with pytest.raises(InvalidArchitectureError):
        TableBenchmark().accuracy(15625, "cifar10")
    with pytest.raises(InvalidArchitectureError):
        space.benchmark_accuracy("|nor_conv_3x3~0|", "cifar10")


def test_choosing_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(resolve_benchmark(None), TableBenchmark)
    assert isinstance(resolve_benchmark("table"), TableBenchmark)
    table = TableBenchmark()
    assert resolve_benchmark(table) is table
    with pytest.raises(UnknownNameError, match="benchmark source"):
        resolve_benchmark(3.5)  # type: ignore[arg-type]
    missing = tmp_path / "nowhere" / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    with pytest.raises(BenchmarkError, match="nowhere"):
        NB201Space(benchmark=missing)
    space = NB201Space()
    with pytest.raises(BenchmarkError, match="nowhere"):
        space.use_benchmark(str(missing))
    assert isinstance(space.benchmark, TableBenchmark)  # a failed switch keeps the old source
    # "nats" looks in $TORCH_HOME and names what it expected there.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(BenchmarkError, match="NATS-tss-v1_0-3ffb9"):
        NB201Space(benchmark="nats")
    with pytest.raises(BenchmarkError, match="does not exist"):
        NATSBenchmark(tmp_path / "missing-simple")


def fake_nats(space: NB201Space, accs: dict[int, dict[str, float]]) -> dict[str, Any]:
    """A tiny NATS-Bench topology benchmark in its own in-memory format: two
    seeds per result, whose test accuracies are acc -/+ 0.5."""
    api_utils = pytest.importorskip("nats_bench.api_utils")
    arch2infos = {}
    for index, per_dataset in accs.items():
        results = api_utils.ArchResults(index, str(space.arch_at(index)))
        for dataset, acc in per_dataset.items():
            test_set = "ori-test" if dataset == "cifar10" else "x-test"
            for seed, delta in ((777, -0.5), (888, 0.5)):
                count = api_utils.ResultsCount(dataset, None, {0: 50.0}, {0: 1.0}, 0.1, 1.0, {}, seed, 1, None)
                key = f"{test_set}@0"
                count.update_eval({key: acc + delta}, {key: 1.0}, {key: 0.1})
                results.update(dataset, seed, count)
        arch2infos[index] = {"200": results.state_dict()}
    return {
        "meta_archs": [str(a) for a in space.all_archs()],
        "arch2infos": arch2infos,
        "evaluated_indexes": sorted(accs),
    }


def test_nats_source_reads_mean_test_accuracy() -> None:
    space = NB201Space()
    ref = space.index_of(REF)
    data = fake_nats(space, {ref: {"cifar10": 91.0, "cifar100": 70.0, "ImageNet16-120": 40.0}, 3: {"cifar10": 80.0}})
    space.use_benchmark(data)
    assert isinstance(space.benchmark, NATSBenchmark)
    assert space.benchmark_accuracy(REF, "cifar10") == pytest.approx(91.0)
    assert space.benchmark_accuracy(REF, "cifar100") == pytest.approx(70.0)
    assert space.benchmark_accuracy(REF, "ImageNet16-120") == pytest.approx(40.0)
    assert space.benchmark_accuracy(space.arch_at(3), "cifar10") == pytest.approx(80.0)
    with pytest.raises(BenchmarkError, match="index 4"):
        space.benchmark_accuracy(space.arch_at(4), "cifar10")
    with pytest.raises(UnknownNameError):
        space.benchmark_accuracy(REF, "cifar10-valid")
    space.use_benchmark(None)
    assert space.benchmark_accuracy(REF, "cifar10") == pytest.approx(93.66)


def test_nats_files_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both NATS-Bench layouts: the single pickle file and the lazy '-simple' folder."""
    api_utils = pytest.importorskip("nats_bench.api_utils")
    space = NB201Space()
    data = fake_nats(space, {7: {"cifar10": 88.0, "cifar100": 60.0}})
    home = tmp_path / "torch"
    home.mkdir()
    api_utils.pickle_save(data, home / "NATS-tss-v1_0-3ffb9.pickle")  # appends .pbz2
    monkeypatch.setenv("TORCH_HOME", str(home))
    for source in ("nats", home, home / "NATS-tss-v1_0-3ffb9.pickle.pbz2"):
        bench = NB201Space(benchmark=source).benchmark
        assert isinstance(bench, NATSBenchmark)
        assert bench.accuracy(7, "cifar100") == pytest.approx(60.0)

    simple = home / "NATS-tss-v1_0-3ffb9-simple"
    simple.mkdir()
    api_utils.pickle_save({"meta_archs": data["meta_archs"]}, simple / "meta.pickle")
    api_utils.pickle_save(data["arch2infos"][7], simple / "000007.pickle")
    for source in ("nats", simple):  # the folder wins over the file: it loads lazily
        bench = NB201Space(benchmark=source).benchmark
        assert bench.path == simple
        assert bench.accuracy(7, "cifar10") == pytest.approx(88.0)
        with pytest.raises(BenchmarkError, match="index 8"):
            bench.accuracy(8, "cifar10")


def test_a_sample_larger_than_the_space_is_the_whole_space_and_the_user_is_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tenas_automl.analysis import sample_archs
    from tenas_automl.spaces import get_space

    space = get_space("nb201")
    with caplog.at_level("WARNING", logger="tenas_automl.analysis"):
        archs = sample_archs(space, 20000, seed=0)
    assert len(archs) == len(set(archs)) == 15625
    assert "a sample of 20000 asked for, but nb201 has 15625 architectures" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tenas_automl.analysis"):
        assert len(sample_archs(space, 15625, seed=0)) == 15625 and len(sample_archs(space, 10, seed=0)) == 10
    assert caplog.text == ""

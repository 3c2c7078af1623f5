"""Correlations against the benchmark, and the plots that show them and a search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tenas_automl import analysis
from tenas_automl.analysis import COMBINED, correlate, plot_scatter

ACC = np.array([90.0, 80.0, 70.0, 60.0, 50.0])


def _capture_figures(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[Any]:
    """The figures ``module`` would save, kept open for the test to read."""
    figures: list[Any] = []
    monkeypatch.setattr(module, "save_figure", lambda fig, path: figures.append(fig) or Path(path))
    return figures


def test_correlations_are_signed_by_direction_and_rank_non_finite_last() -> None:
    scores = {
        "up": np.array([5.0, 4.0, 3.0, 2.0, 1.0]),  # higher is better, in accuracy order
        "down": np.array([1.0, 2.0, 3.0, 4.0, 5.0]),  # lower is better, in accuracy order
        "holes": np.array([5.0, 4.0, 3.0, np.nan, np.inf]),  # the two worst cells failed
    }
    got = {c.indicator: c for c in correlate(scores, {"cifar10": ACC}, {"up": True, "down": False, "holes": True})}
    assert got["up"].spearman_rho == pytest.approx(1.0) and got["up"].kendall_tau == pytest.approx(1.0)
    assert got["down"].spearman_rho == pytest.approx(1.0)
    # Failed scores rank last: here that is where the accuracy puts them, but they tie with each other.
    assert 0.9 < got["holes"].spearman_rho < 1.0 and got["holes"].nonfinite == 2 and got["holes"].n == 5
    assert got[COMBINED].spearman_rho > 0.9


def test_scatter_titles_carry_the_tables_rho_and_say_what_was_not_drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _capture_figures(monkeypatch, analysis)
    scores = {"lr": np.array([5.0, 4.0, np.nan, 2.0, 1.0]), "ntk": np.array([2.0, 1.0, 3.0, 4.0, 5.0])}
    directions = {"lr": True, "ntk": False}
    plot_scatter(scores, ACC, tmp_path / "c.png", directions=directions)
    axes = [ax for ax in figures[0].axes if ax.get_title()]
    titles = {ax.get_title().split()[0]: ax for ax in axes}
    assert set(titles) == {"lr", "ntk", COMBINED}
    rho = {c.indicator: c.spearman_rho for c in correlate(scores, {"cifar10": ACC}, directions)}
    for name, ax in titles.items():
        assert f"Spearman {rho[name]:+.2f}, n=5" in ax.get_title()
    assert "1 non-finite not drawn" in titles["lr"].get_title()
    assert titles["ntk"].get_xlabel() == "ntk (lower is better)"
    assert titles[COMBINED].get_xlabel() == "TE-NAS rank sum (lower is better)"
    # The points drawn are the finite ones.
    assert len(titles["lr"].collections[0].get_offsets()) == 4


def test_prune_trajectory_plot_counts_rounds_done_from_the_full_supernet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tenas_automl import get_space, report
    from tenas_automl.strategies import get_strategy

    figures = _capture_figures(monkeypatch, report)
    space = get_space("nb201")
    result = get_strategy("prune", indicators=["lr"], overrides={"lr": {"repeats": 1}}, seed=0, device="cpu").search(space)
    report.plot_search(result, space, tmp_path / "t.png")
    lr_ax, acc_ax = figures[0].axes
    supernet, found = lr_ax.get_lines()[:2]
    assert list(supernet.get_xdata()) == [0, 1, 2] and list(found.get_xdata()) == [3]
    assert found.get_ydata()[0] == pytest.approx(result.indicators["lr"])
    mean, best = acc_ax.get_lines()[:2]
    assert list(best.get_xdata()) == [0, 1, 2, 3]
    # Before any pruning every cell without `none` is alive, the space's best among them.
    assert best.get_ydata()[0] == pytest.approx(94.37, abs=0.01)
    found_acc = space.benchmark_accuracy(result.arch, "cifar10")
    assert best.get_ydata()[-1] == mean.get_ydata()[-1] == pytest.approx(found_acc)


def test_top_focused_figures_follow_each_indicators_direction() -> None:
    acc = np.arange(12, dtype=float)  # architecture k has accuracy k
    scores = {"up": acc.copy(), "down": acc.copy(), "holes": np.where(acc > 9, np.nan, acc)}
    got = {c.indicator: c for c in correlate(scores, {"cifar10": acc}, {"up": True, "down": False, "holes": True})}
    assert (got["up"].top1_accuracy, got["up"].top10_accuracy) == (11.0, np.mean(np.arange(2, 12)))
    assert (got["down"].top1_accuracy, got["down"].top10_accuracy) == (0.0, np.mean(np.arange(10)))
    assert got["holes"].top1_accuracy == 9.0  # failed scores rank last, never first


def test_parallel_score_many_gives_the_serial_numbers(tmp_path: Path) -> None:
    from tenas_automl.scoring import score_many
    from tenas_automl.spaces import get_space

    space = get_space("nb201")
    archs = analysis.sample_archs(space, 9, seed=5)
    serial = score_many(space, archs, ["lr", "meco"], seed=2, device="cpu", use_cache=False)
    seen: list[int] = []
    parallel = score_many(
        space,
        archs,
        ["lr", "meco"],
        seed=2,
        device="cpu",
        cache_dir=tmp_path,
        workers=2,
        progress=lambda done, total, info: seen.append(done),
    )
    assert [r.arch for r in parallel] == [r.arch for r in serial]
    assert [r.values for r in parallel] == [r.values for r in serial]
    assert seen[-1] == 9 and seen == sorted(seen)
    again = score_many(space, archs, ["lr", "meco"], seed=2, device="cpu", cache_dir=tmp_path)
    assert all(set(r.cached) == {"lr", "meco"} for r in again)  # the workers wrote the shared cache


def test_sample_sizes_parse_counts_and_all() -> None:
    from tenas_automl.cli.correlate import _sample_size
    from tenas_automl.errors import TenasError

    assert _sample_size("all") is None and _sample_size("ALL") is None and _sample_size("30") == 30
    with pytest.raises(TenasError, match="'many'"):
        _sample_size("many")

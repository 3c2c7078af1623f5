"""How well indicators rank architectures: correlation with benchmark accuracy, plots.

Correlations are *signed by direction*: an indicator whose better values go
with higher accuracy gets a positive tau/rho whether "better" means higher or
lower. Non-finite scores count as the worst (ranked last), as in a search.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from tenas_automl._figures import pyplot, save_figure

logger = logging.getLogger(__name__)

COMBINED = "combined"


@dataclass(frozen=True)
class Correlation:
    """Rank correlation of one indicator (or the combined ranking) with accuracy."""

    indicator: str
    dataset: str
    kendall_tau: float
    spearman_rho: float
    n: int
    nonfinite: int
    #: Accuracy of the architecture the indicator ranks first, and the mean
    #: accuracy of its top 10 (ties broken by sample order).
    top1_accuracy: float = float("nan")
    top10_accuracy: float = float("nan")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def goodness(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Map scores to "higher is better" with non-finite values below every finite one."""
    v = np.asarray(values, dtype=float)
    g = v if higher_is_better else -v
    finite = np.isfinite(g)
    out = np.full_like(g, -np.inf)
    out[finite] = g[finite]
    if (~finite).any() and finite.any():
        out[~finite] = g[finite].min() - 1.0
    return out


def combined_goodness(scores: Mapping[str, np.ndarray], directions: Mapping[str, bool]) -> np.ndarray:
    """Negated TE-NAS rank sum: rank each indicator in its direction, add the ranks."""
    total = None
    for name, values in scores.items():
        r = stats.rankdata(-goodness(values, directions[name]), method="min")  # 1 = best
        total = r if total is None else total + r
    assert total is not None, "no indicators"
    return -total.astype(float)


def correlate(
    scores: Mapping[str, np.ndarray],
    accuracies: Mapping[str, np.ndarray],
    directions: Mapping[str, bool],
    *,
    combined: bool = True,
    combinations: Sequence[str] = (),
) -> list[Correlation]:
    """Kendall tau and Spearman rho of each indicator vs each dataset's accuracy.

    ``combined`` adds the TE-NAS rank sum of all indicators; ``combinations``
    names combinations (:mod:`tenas_automl.indicators.combinations`) whose
    members are all in ``scores``, computed over this pool.
    """
    from tenas_automl.indicators.combinations import get_combination

    good = {name: goodness(v, directions[name]) for name, v in scores.items()}
    if combined and len(scores) > 1:
        good[COMBINED] = combined_goodness(scores, directions)
    for name in combinations:
        good[name] = get_combination(name).combine(scores)
    out = []
    for dataset, acc in accuracies.items():
        acc = np.asarray(acc, dtype=float)
        known = np.isfinite(acc)
        for name, g in good.items():
            x, y = g[known], acc[known]
            nonfinite = int(np.sum(~np.isfinite(np.asarray(scores.get(name, g), float)[known])))
            if len(x) < 3 or np.all(x == x[0]):
                tau = rho = float("nan")
            else:
                tau = float(stats.kendalltau(x, y).statistic)
                rho = float(stats.spearmanr(x, y).statistic)
            order = np.argsort(-x, kind="stable")
            top1 = float(y[order[0]]) if len(x) else float("nan")
            top10 = float(y[order[:10]].mean()) if len(x) else float("nan")
            out.append(Correlation(name, dataset, tau, rho, int(known.sum()), nonfinite, top1, top10))
    return out


def plot_scatter(
    scores: Mapping[str, np.ndarray],
    accuracy: np.ndarray,
    path: str | Path,
    *,
    dataset: str = "cifar10",
    directions: Mapping[str, bool] | None = None,
    log_scale: Sequence[str] = ("ntk", "lr", "gen", "params", "flops", "synflow"),
    combinations: Sequence[str] = (),
) -> Path:
    """One scatter panel per indicator against benchmark accuracy, saved as PNG.

    With ``directions`` (name -> higher is better) each title gives the rho
    that :func:`correlate` reports (signed by direction, non-finite scores
    ranked last, so a table and its plot agree) and, for several indicators,
    a last panel plots the TE-NAS rank sum; each of ``combinations`` (computed
    over this pool) gets a panel too. Non-finite scores cannot be drawn; the
    title says how many were left out.
    """
    from tenas_automl.indicators.combinations import get_combination

    plt = pyplot()

    acc = np.asarray(accuracy, dtype=float)
    panels = {name: np.asarray(v, dtype=float) for name, v in scores.items()}
    better: dict[str, bool] = {}
    rhos: dict[str, float] = {}
    if directions is not None:
        better = {name: directions[name] for name in panels}
        if len(panels) > 1:
            panels[COMBINED] = -combined_goodness(scores, directions)  # the rank sum: lower is better
            better[COMBINED] = False
        for name in combinations:
            panels[name], better[name] = get_combination(name).combine(scores), True
        rhos = {c.indicator: c.spearman_rho for c in correlate(scores, {dataset: acc}, directions, combinations=combinations)}
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    known = np.isfinite(acc)
    for ax, (name, v) in zip(axes.flat, panels.items()):
        ok = np.isfinite(v) & known
        if name in log_scale and np.all(v[ok] > 0):
            ax.set_xscale("log")
        ax.scatter(v[ok], acc[ok], s=6, alpha=0.5)
        if name in rhos:
            rho, n = rhos[name], int(known.sum())
        else:  # no directions: the raw values' rho over the points drawn
            rho = stats.spearmanr(v[ok], acc[ok]).statistic if ok.sum() > 2 else float("nan")
            n = int(ok.sum())
        left_out = int(known.sum() - ok.sum())
        note = f"; {left_out} non-finite not drawn" if left_out else ""
        ax.set_title(f"{name}  (Spearman {rho:+.2f}, n={n}{note})", fontsize=9)
        label = "TE-NAS rank sum" if name == COMBINED else name
        if name in better:
            label += f" ({'higher' if better[name] else 'lower'} is better)"
        ax.set_xlabel(label)
        ax.set_ylabel(f"{dataset} test accuracy (%)")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path)


@dataclass
class CorrelationReport:
    """Scores of a seeded sample of a space and their correlations with the benchmark."""

    space: str
    archs: list[str]
    scores: dict[str, np.ndarray]
    accuracies: dict[str, np.ndarray]
    correlations: list[Correlation]
    seed: int
    mode: str
    #: The dataset setting the indicators scored with (classes, size, normalisation).
    dataset: str = "cifar10"
    #: Mean seconds per architecture of each indicator's computation (an
    #: indicator sharing another's work, like AZ-NAS's three, may show ~0).
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        def clean(v: np.ndarray) -> list[float | None]:
            return [float(x) if np.isfinite(x) else None for x in np.asarray(v, float)]

        return {
            "space": self.space,
            "sample": len(self.archs),
            "seed": self.seed,
            "mode": self.mode,
            "dataset": self.dataset,
            "seconds_per_arch": self.seconds,
            "correlations": [c.to_dict() for c in self.correlations],
            "archs": self.archs,
            "scores": {k: clean(v) for k, v in self.scores.items()},
            "accuracies": {k: clean(v) for k, v in self.accuracies.items()},
        }


def sample_archs(space, n: int, seed: int) -> list:  # noqa: ANN001 - any Space
    """``n`` distinct architectures drawn with a seeded generator (all of them if n >= size)."""
    rng = np.random.default_rng(seed)
    size = space.size()
    if size is None:
        raise ValueError(f"space {space.name!r} is not enumerable; correlate needs a benchmark space")
    if n >= size:
        if n > size:
            logger.warning("a sample of %d asked for, but %s has %d architectures: scoring all of them", n, space.name, size)
        return list(space.all_archs())
    return [space.arch_at(int(i)) for i in np.sort(rng.choice(size, size=n, replace=False))]


def correlate_sample(
    space,  # noqa: ANN001 - any Space with a benchmark
    n: int | None,
    indicators: Sequence[str],
    *,
    seed: int = 0,
    datasets: Sequence[str] = ("cifar10", "cifar100", "ImageNet16-120"),
    progress=None,  # noqa: ANN001
    **score_kwargs: object,
) -> CorrelationReport:
    """Score a seeded sample of ``space`` (``n=None``: all of it) and correlate every
    indicator, and every combination named in ``indicators``, with the benchmark.

    ``score_kwargs`` go to :func:`~tenas_automl.scoring.score_many` (``workers``,
    ``cache_dir``, ``mode``, ...)."""
    from tenas_automl.errors import TenasError
    from tenas_automl.indicators import higher_is_better
    from tenas_automl.indicators.combinations import split_combinations
    from tenas_automl.scoring import score_many

    if n is None:
        n = space.size()
        if n is None:
            raise TenasError(f"space {space.name!r} is too large to score all of it; give a sample size")
    if n < 3:
        raise TenasError(f"--sample must be at least 3 to compute a correlation, got {n}")
    names, combos = split_combinations(indicators)
    archs = sample_archs(space, n, seed)
    results = list(score_many(space, archs, indicators=names, seed=seed, progress=progress, **score_kwargs))
    scores = {name: np.array([r.values[name] for r in results], dtype=float) for name in names}
    done = [space.parse(r.arch) if isinstance(r.arch, str) else r.arch for r in results]
    accuracies = {ds: np.array([space.benchmark_accuracy(a, ds) for a in done], dtype=float) for ds in datasets}
    directions = {name: higher_is_better(name) for name in names}
    return CorrelationReport(
        space=space.name,
        archs=[space.format(a) for a in done],
        scores=scores,
        accuracies=accuracies,
        correlations=correlate(scores, accuracies, directions, combinations=combos),
        seed=seed,
        mode=str(score_kwargs.get("mode", "paper")),
        dataset=str(score_kwargs.get("dataset", "cifar10")),
        seconds={name: float(np.mean([r.seconds.get(name, np.nan) for r in results])) for name in names},
    )

"""How well indicators rank architectures: correlation with benchmark accuracy, plots.

Correlations are *signed by direction*: an indicator whose better values go
with higher accuracy gets a positive tau/rho whether "better" means higher or
lower. Non-finite scores count as the worst (ranked last), as in a search.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

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
) -> list[Correlation]:
    """Kendall tau and Spearman rho of each indicator vs each dataset's accuracy."""
    good = {name: goodness(v, directions[name]) for name, v in scores.items()}
    if combined and len(scores) > 1:
        good[COMBINED] = combined_goodness(scores, directions)
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
            out.append(Correlation(name, dataset, tau, rho, int(known.sum()), nonfinite))
    return out


def plot_scatter(
    scores: Mapping[str, np.ndarray],
    accuracy: np.ndarray,
    path: str | Path,
    *,
    dataset: str = "cifar10",
    log_scale: Sequence[str] = ("ntk", "lr", "gen", "params", "flops", "synflow"),
) -> Path:
    """One scatter panel per indicator against benchmark accuracy, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(scores)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    acc = np.asarray(accuracy, dtype=float)
    for ax, name in zip(axes.flat, names):
        v = np.asarray(scores[name], dtype=float)
        ok = np.isfinite(v) & np.isfinite(acc)
        if name in log_scale and np.all(v[ok] > 0):
            ax.set_xscale("log")
        ax.scatter(v[ok], acc[ok], s=6, alpha=0.5)
        rho = stats.spearmanr(v[ok], acc[ok]).statistic if ok.sum() > 2 else float("nan")
        ax.set_title(f"{name}  (Spearman {rho:+.2f}, n={int(ok.sum())})", fontsize=9)
        ax.set_xlabel(name)
        ax.set_ylabel(f"{dataset} test accuracy (%)")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path

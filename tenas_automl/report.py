"""The result of ``tenas-automl run``: the contract JSON and the trajectory plot."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tenas_automl import __version__
from tenas_automl._figures import pyplot, save_figure
from tenas_automl.spaces.base import Space
from tenas_automl.strategies.base import SearchResult

BENCHMARK_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def benchmark_of(space: Space, arch: Any) -> dict[str, float | None] | None:
    """Benchmark test accuracy of ``arch`` on each dataset, or None for spaces without one."""
    accs = {ds: space.benchmark_accuracy(arch, ds) for ds in BENCHMARK_DATASETS}
    return None if all(v is None for v in accs.values()) else accs


def run_report(result: SearchResult, space: Space, device: str | torch.device) -> dict[str, Any]:
    """The JSON document of ``design.md`` ("Result of run") for one search."""
    doc: dict[str, Any] = {
        "space": result.space,
        "strategy": result.strategy,
        "dataset": result.dataset,
        "seed": result.seed,
        "arch": result.arch_str,
        "indicators": {k: _finite(v) for k, v in result.indicators.items()},
        "benchmark": benchmark_of(space, result.arch),
        "search_seconds": round(result.seconds, 3),
        "evaluations": result.evaluations,
        "device": torch.device(device).type,
        "version": __version__,
    }
    params = space.param_count_millions(result.arch)
    if params is not None:
        doc["params_millions"] = round(float(params), 3)
    doc["interrupted"] = result.interrupted
    if result.recipe.get("preset") is not None:
        doc["preset"] = result.recipe["preset"]
    doc["recipe"] = result.to_dict()["recipe"]
    doc["history"] = result.to_dict()["history"]
    return doc


def _alive_accuracy(space: Space, alive: Sequence[Sequence[str]], dataset: str) -> tuple[float, float]:
    """Mean and max benchmark accuracy of the architectures a pruned NB201 mask still holds."""
    accs = [
        space.benchmark_accuracy(space.mask_to_arch(tuple((op,) for op in ops)), dataset) for ops in itertools.product(*alive)
    ]
    vals = [a for a in accs if a is not None]
    return (float(np.mean(vals)), float(np.max(vals))) if vals else (math.nan, math.nan)


def plot_search(result: SearchResult, space: Space, path: str | Path, dataset: str = "cifar10") -> Path:
    """Draw the search trajectory: indicator values per round or evaluation, and on
    NB201 the benchmark accuracy (of the best so far, or of the pruned sub-space)."""
    plt = pyplot()

    names = list(result.indicators)
    has_bench = benchmark_of(space, result.arch) is not None
    panels = len(names) + int(has_bench)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
    axes = list(axes.flat)
    hist = result.history
    if result.strategy == "prune":
        # x = rounds done: the supernet a round scores is the one left after the rounds before it.
        rounds = [h for h in hist if "supernet" in h]
        x = list(range(len(rounds)))
        for ax, n in zip(axes, names):
            ax.plot(x, [h["supernet"].get(n, math.nan) for h in rounds], "o-", label="supernet scored by the round")
            ax.plot([len(rounds)], [result.indicators.get(n, math.nan)], "k*", ms=9, label="found arch, scored alone")
            ax.set(title=f"{n} while pruning", xlabel="pruning rounds done")
            ax.legend(fontsize=7)
            if n == "ntk":
                ax.set_yscale("log")
        if has_bench:
            alive = [list(space.full_mask())] + [list(h["alive"].values()) for h in rounds if "alive" in h]
            stats = [_alive_accuracy(space, a, dataset) for a in alive]
            xs = list(range(len(alive)))
            ax = axes[-1]
            ax.plot(xs, [s[0] for s in stats], "o-", label="mean of alive archs")
            ax.plot(xs, [s[1] for s in stats], "s--", label="best alive arch")
            final = space.benchmark_accuracy(result.arch, dataset)
            ax.axhline(final, color="k", lw=0.8, label=f"found: {final:.2f}")
            ax.set(title=f"NB201 {dataset} test accuracy", xlabel="pruning rounds done", ylabel="%")
            ax.legend(fontsize=7)
        for ax in axes:
            ax.xaxis.get_major_locator().set_params(integer=True)
    else:
        steps = [h for h in hist if "arch" in h]
        x = np.arange(1, len(steps) + 1)
        for ax, n in zip(axes, names):
            ax.scatter(x, [h.get(n, math.nan) for h in steps], s=6, alpha=0.6)
            ax.set(title=f"{n} of each visited arch", xlabel="visit (revisits are not rescored)")
            if n == "ntk":
                ax.set_yscale("log")
        if has_bench:
            ax = axes[-1]
            best = [space.benchmark_accuracy(space.parse(h["best"]), dataset) for h in steps]
            ax.plot(x, best, "-", label="current best (by indicators)")
            ax.scatter(
                x,
                [space.benchmark_accuracy(space.parse(h["arch"]), dataset) for h in steps],
                s=5,
                alpha=0.4,
                color="gray",
                label="visited",
            )
            ax.set(title=f"NB201 {dataset} test accuracy", xlabel="visit (revisits are not rescored)", ylabel="%")
            ax.legend(fontsize=7)
    fig.suptitle(f"{result.strategy} on {result.space}: {result.arch_str}", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def plot_trials(
    path: str | Path,
    values: Sequence[float | None],
    indicators: Mapping[str, Sequence[float]] | None = None,
    *,
    origins: Sequence[str] | None = None,
    numbers: Sequence[int] | None = None,
    maximize: bool = True,
    best: float | None = None,
    title: str = "",
) -> Path:
    """Draw trials in order (Optuna trials, NNI models): value and best so far, then each indicator.

    ``values[i]`` is trial i's objective (None: no value, e.g. pruned); ``origins[i]``
    how it was chosen (a marker per origin); ``numbers[i]`` its x position (default
    i); ``best`` a reference line (the space's best accuracy). Indicator panels show
    every trial, ``ntk`` on a log scale. The file is written atomically.
    """
    plt = pyplot()
    names = list(indicators or {})
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(4.4 * (1 + len(names)), 3.4), squeeze=False)
    axes = list(axes.flat)
    x = list(numbers) if numbers is not None else list(range(len(values)))
    done = [(i, float(v)) for i, v in enumerate(values) if v is not None and math.isfinite(float(v))]
    kinds = list(origins) if origins is not None else ["trial"] * len(values)
    ax = axes[0]
    for marker, origin in zip(itertools.cycle(_MARKERS), sorted({kinds[i] for i, _ in done})):
        pick = [(i, v) for i, v in done if kinds[i] == origin]
        ax.scatter([x[i] for i, _ in pick], [v for _, v in pick], s=14, marker=marker, alpha=0.7, label=origin)
    if done:
        running = (np.maximum if maximize else np.minimum).accumulate([v for _, v in done])
        ax.step([x[i] for i, _ in done], running, where="post", color="k", lw=1.0, label="best so far")
    if best is not None:
        ax.axhline(best, color="gray", ls=":", lw=0.8, label=f"space best {best:.2f}")
    ax.set(title="objective value per trial", xlabel="trial", ylabel="value")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    for ax, name in zip(axes[1:], names):
        ys = list((indicators or {})[name])
        ok = [i for i in range(len(ys)) if values[i] is not None]
        off = [i for i in range(len(ys)) if values[i] is None]
        for pick, marker, label in ((ok, "o", "with value"), (off, "x", "no value (pruned, failed)")):
            if pick:
                ax.scatter([x[i] for i in pick], [ys[i] for i in pick], s=12, marker=marker, alpha=0.7, label=label)
        ax.set(title=f"{name} of each trial's architecture", xlabel="trial")
        if name == "ntk":
            ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)

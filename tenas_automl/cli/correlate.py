"""``tenas-automl correlate``: indicators against the NB201 benchmark on a sample."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from tenas_automl.cli._app import (
    DATA_DIR_OPT,
    DATASETS,
    DEVICE_OPT,
    MODE_OPT,
    QUIET_OPT,
    THREADS_OPT,
    _fmt,
    _progress,
    _setup,
    _split,
    app,
    out,
    write_json,
)
from tenas_automl.errors import TenasError


@app.command()
def correlate(
    space: str = typer.Option("nb201", help="A space with a benchmark (nb201)."),
    sample: str = typer.Option("200", help="Architectures to score: a seeded sample of N, or 'all'."),
    indicators: str = typer.Option(
        "ntk,lr", help="Comma-separated indicators and combinations (az, vkdnw_agg: computed over the sample)."
    ),
    seed: int = typer.Option(0, help="Seed of the sample, weights and batches."),
    device: str = DEVICE_OPT,
    dataset: str = typer.Option("cifar10", help="Images to score on: cifar10 | cifar100 | ImageNet16-120."),
    data_dir: Optional[Path] = DATA_DIR_OPT,
    mode: str = MODE_OPT,
    output: Optional[Path] = typer.Option(None, help="Write the correlations and scores as JSON."),
    plot: Optional[Path] = typer.Option(
        None, help="Scatter plot per indicator and of the rank sum, against CIFAR-10 accuracy (PNG)."
    ),
    cache_dir: Optional[Path] = typer.Option(None, help="Score cache folder; a rerun resumes from it."),
    workers: int = typer.Option(1, help="CPU processes scoring the sample (same numbers)."),
    threads: Optional[int] = THREADS_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Kendall tau and Spearman rho of indicators vs NB201 benchmark accuracy, and the
    accuracy of each indicator's top-1 and top-10 architectures in the sample."""
    from tenas_automl.analysis import correlate_sample, plot_scatter
    from tenas_automl.device import resolve_device
    from tenas_automl.spaces import get_space

    _setup(quiet, threads, dataset)
    sp = get_space(space)
    if dataset not in sp.benchmark_datasets:
        raise TenasError(
            f"space {space!r} has no benchmark accuracies for {dataset!r} to correlate with"
            + (f" (it has: {', '.join(sp.benchmark_datasets)})" if sp.benchmark_datasets else "")
        )
    names = _split(indicators) or ()
    n = _sample_size(sample)
    if workers < 1:
        raise TenasError(f"--workers must be at least 1, got {workers}")
    with _progress("scoring sample", quiet) as bar:
        report = correlate_sample(
            sp,
            n,
            names,
            seed=seed,
            progress=bar,
            device=str(resolve_device(device)),
            dataset=dataset,
            data_dir=None if data_dir is None else str(data_dir),
            mode=mode,
            cache_dir=cache_dir,
            workers=workers,
        )
    table = Table(
        "indicator",
        *[f"{ds} tau" for ds in DATASETS],
        *[f"{ds} rho" for ds in DATASETS],
        "c10 top-1",
        "c10 top-10",
        "s/arch",
        title=f"{len(report.archs)} NB201 architectures, seed {seed}, {dataset} setting, {mode} mode",
    )
    from tenas_automl.analysis import COMBINED
    from tenas_automl.indicators.combinations import COMBINATIONS

    def seconds(name: str) -> str:
        """Seconds per architecture of an indicator, or of a combination's members."""
        members = COMBINATIONS[name].members if name in COMBINATIONS else report.scores if name == COMBINED else (name,)
        return f"{sum(report.seconds.get(m, 0.0) for m in members):.2f}"

    by = {(c.indicator, c.dataset): c for c in report.correlations}
    for name in dict.fromkeys(c.indicator for c in report.correlations):
        c10 = by[name, "cifar10"]
        table.add_row(
            name,
            *[_fmt(by[name, ds].kendall_tau) for ds in DATASETS],
            *[_fmt(by[name, ds].spearman_rho) for ds in DATASETS],
            f"{c10.top1_accuracy:.2f}",
            f"{c10.top10_accuracy:.2f}",
            seconds(name),
        )
    out.print(table)
    write_json(output, report.to_dict(), quiet)
    if plot is not None:
        from tenas_automl.indicators import higher_is_better
        from tenas_automl.indicators.combinations import split_combinations

        plot_scatter(
            report.scores,
            report.accuracies["cifar10"],
            plot,
            directions={name: higher_is_better(name) for name in report.scores},
            combinations=split_combinations(names)[1],
        )


def _sample_size(text: str) -> int | None:
    """``--sample``: a positive count, or ``all`` (None)."""
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise TenasError(f"--sample must be a number of architectures or 'all', got {text!r}") from None

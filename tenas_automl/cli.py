"""The ``tenas-automl`` command line (Typer). Every command is a thin shell
over a library function; user errors become one line on stderr and exit 1."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tenas_automl import __version__
from tenas_automl.errors import TenasError, check_choice

app = typer.Typer(
    name="tenas-automl",
    help="Training-free neural architecture search (TE-NAS, NASWOT, TEG-NAS).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


# Options shared by several commands (Typer reads them as metadata, so one object serves all).
DEVICE_OPT = typer.Option("auto", help="auto | cpu | cuda | cuda:N.")
DATA_DIR_OPT = typer.Option(None, help="Folder with the dataset (default: bundled CIFAR-10 sample).")
MODE_OPT = typer.Option("paper", help="Indicator settings: paper (official code) | clean.")
THREADS_OPT = typer.Option(None, help="CPU threads for torch (default: one per core; use 1 when running several jobs).")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="Print nothing but results.")


def _split(names: str | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    parts = tuple(n.strip() for n in names.split(",") if n.strip())
    if not parts:
        raise TenasError("--indicators is empty; give a comma-separated list, e.g. ntk,lr")
    return parts


ProgressFn = Callable[[int, int, str], None]


@contextmanager
def _progress(description: str, quiet: bool) -> Iterator[ProgressFn]:
    """A rich progress bar on a terminal; silent when --quiet or not a TTY."""
    if quiet or not err.is_terminal:
        yield lambda done, total, info="": None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None, info="")

        def update(done: int, total: int, info: str = "") -> None:
            bar.update(task, completed=done, total=total, info=info)

        yield update


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def _setup(quiet: bool, threads: int | None, dataset: str) -> None:
    """What every scoring command does first: logging, torch threads, a valid dataset."""
    from tenas_automl.device import set_threads  # torch import kept out of `--help`

    _setup_logging(quiet)
    set_threads(threads)
    check_choice("dataset", dataset, DATASETS)


def _workers(workers: int | None, device: Any) -> int:
    """``--workers``, defaulting to one process per core on CPU (the strategy validates it)."""
    if workers is None:
        from tenas_automl.indicators.parallel import default_workers

        return default_workers() if device.type == "cpu" else 1
    return workers


def _version(value: bool) -> None:
    if value:
        out.print(f"tenas-automl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Training-free NAS on NAS-Bench-201 and DARTS."""


# -- list ---------------------------------------------------------------------
@app.command("list")
def list_cmd(what: str = typer.Argument(..., help="spaces | strategies | indicators")) -> None:
    """List the available spaces, strategies or indicators."""
    check_choice("list target", what, ("spaces", "strategies", "indicators"))
    if what == "spaces":
        from tenas_automl.spaces import SPACES

        for name in SPACES:
            out.print(name)
    elif what == "strategies":
        from tenas_automl.strategies import STRATEGIES

        for name in STRATEGIES:
            out.print(name)
    else:
        from tenas_automl.indicators import get_indicator, list_indicators

        table = Table("indicator", "better", "cost", "what")
        for name in list_indicators():
            ind = get_indicator(name)
            table.add_row(
                name, "higher" if ind.higher_is_better else "lower", str(ind.cost), (ind.__doc__ or "").strip().splitlines()[0]
            )
        from tenas_automl.indicators import COMBINATIONS

        for combo in COMBINATIONS.values():  # computed over the architectures ranked together
            table.add_row(combo.name, "higher", "(members)", f"{combo.description}; over the pool ranked")
        out.print(table)


# -- score --------------------------------------------------------------------
BENCH_COLUMNS = ("acc_cifar10", "acc_cifar100", "acc_ImageNet16-120")


def _read_archs(archs: list[str] | None, archs_file: Path | None) -> list[str]:
    texts = list(archs or [])
    if archs_file is not None:
        if not archs_file.is_file():
            raise TenasError(f"--archs file {str(archs_file)!r} does not exist")
        texts += [ln.strip() for ln in archs_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if not texts:
        raise TenasError("no architectures given; pass ARCH... or --archs FILE (one architecture per line)")
    return texts


@app.command()
def score(
    archs: Optional[list[str]] = typer.Argument(
        None, help="NB201 arch strings, or DARTS Genotype(...) texts or published names (darts_v2, pc_darts, ...)."
    ),
    archs_file: Optional[Path] = typer.Option(None, "--archs", help="File with one architecture per line."),
    space: str = typer.Option("nb201", help="Search space: nb201 | darts."),
    indicators: str = typer.Option(
        "ntk,lr",
        help="Comma-separated indicators and combinations (see `list indicators`); a combination "
        "is computed over the architectures given.",
    ),
    seed: int = typer.Option(0, help="Random seed of weights and batches."),
    device: str = DEVICE_OPT,
    dataset: str = typer.Option("cifar10", help="cifar10 | cifar100 | ImageNet16-120."),
    data_dir: Optional[Path] = DATA_DIR_OPT,
    mode: str = MODE_OPT,
    output: Optional[Path] = typer.Option(None, help="Write FILE.csv or FILE.json (atomically)."),
    cache_dir: Optional[Path] = typer.Option(None, help="Score cache folder (default: ~/.cache/tenas-automl)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the score cache."),
    threads: Optional[int] = THREADS_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Score architectures with training-free indicators."""
    from tenas_automl.device import resolve_device
    from tenas_automl.scoring import ScoreCache, iter_scores
    from tenas_automl.spaces import get_space

    _setup(quiet, threads, dataset)
    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        raise TenasError(f"--output {str(output)!r} must end in .csv or .json")
    from tenas_automl.indicators.combinations import get_combination, split_combinations

    sp = get_space(space)
    members, combos = split_combinations(_split(indicators) or ())
    names = tuple(members)
    parsed = [sp.parse(t) for t in _read_archs(archs, archs_file)]  # fail fast on a bad line
    dev = resolve_device(device)
    rows: list[dict[str, Any]] = []
    interrupted = False
    with _progress("scoring", quiet) as bar:
        try:
            # Streamed, so rows scored before a Ctrl-C are still written.
            for res in iter_scores(
                sp,
                parsed,
                indicators=list(names),
                seed=seed,
                device=str(dev),
                dataset=dataset,
                data_dir=None if data_dir is None else str(data_dir),
                mode=mode,
                cache=None if no_cache else ScoreCache(cache_dir),
                progress=bar,
                total=len(parsed),
            ):
                rows.append(_score_row(sp, res, names))
        except KeyboardInterrupt:
            interrupted = True
    for combo in combos:  # over the architectures of this list
        values = (
            get_combination(combo).combine({n: [float("nan") if r[n] is None else r[n] for r in rows] for n in names})
            if rows
            else []
        )
        for row, v in zip(rows, values):
            row[combo] = float(v)
    columns = ["arch", *[c for n in names for c in (n, f"{n}_seconds")], *combos, *BENCH_COLUMNS]
    shown = ["arch", *names, *combos, *BENCH_COLUMNS]
    table = Table(*shown)
    table.columns[0].overflow = "fold"
    for row in rows:
        table.add_row(*[_fmt(row.get(c)) for c in shown])
    out.print(table)
    if output is not None:
        from tenas_automl._io import atomic_write_csv, atomic_write_json

        if output.suffix.lower() == ".json":
            atomic_write_json(output, rows)
        else:
            atomic_write_csv(output, rows, columns)
        if not quiet:
            err.print(f"wrote {len(rows)} rows to {output}")
    if interrupted:
        err.print(f"[yellow]interrupted[/yellow]: scored {len(rows)} of {len(parsed)} architectures")
        raise typer.Exit(130)


def _score_row(space: Any, res: Any, names: tuple[str, ...]) -> dict[str, Any]:
    import math

    row: dict[str, Any] = {"arch": res.arch if isinstance(res.arch, str) else space.format(res.arch)}
    for n in names:
        v = float(res.values[n])
        row[n] = v if math.isfinite(v) else None
        row[f"{n}_seconds"] = round(float(res.seconds.get(n, 0.0)), 4)
    arch = space.parse(row["arch"])
    for ds, col in zip(DATASETS, BENCH_COLUMNS):
        row[col] = space.benchmark_accuracy(arch, ds)
    return row


# -- correlate ----------------------------------------------------------------
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
    check_choice("space with a benchmark", space, ("nb201",))
    names = _split(indicators) or ()
    n = _sample_size(sample)
    if workers < 1:
        raise TenasError(f"--workers must be at least 1, got {workers}")
    sp = get_space(space)
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
    if output is not None:
        from tenas_automl._io import atomic_write_json

        atomic_write_json(output, report.to_dict())
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


# -- run ----------------------------------------------------------------------
ENGINES = ("native", "optuna", "nni")


@app.command()
def run(
    space: str = typer.Option("nb201", help="Search space: nb201 | darts."),
    strategy: str = typer.Option("prune", help="prune (TE-NAS) | evolution (TEG-NAS) | random (NASWOT)."),
    dataset: str = typer.Option("cifar10", help="cifar10 | cifar100 | ImageNet16-120."),
    data_dir: Optional[Path] = DATA_DIR_OPT,
    indicators: Optional[str] = typer.Option(None, help="Comma-separated indicators (default: the strategy's)."),
    budget: Optional[int] = typer.Option(None, help="Architectures to score (evolution, random)."),
    preset: Optional[str] = typer.Option(
        None,
        help="prune: paper (default) | fast (NTK on 32 images; also the optuna prune sampler's); "
        "evolution: fast (default) | paper.",
    ),
    seed: int = typer.Option(0, help="Random seed: same seed, same architecture."),
    device: str = DEVICE_OPT,
    mode: str = MODE_OPT,
    output: Optional[Path] = typer.Option(None, help="Write the result JSON here (atomically)."),
    plot: Optional[Path] = typer.Option(None, help="Draw the search trajectory to this PNG."),
    engine: str = typer.Option("native", help="native | optuna | nni."),
    storage: Optional[str] = typer.Option(None, help="Optuna storage URL, e.g. sqlite:///study.db (engine optuna)."),
    study_name: Optional[str] = typer.Option(None, help="Optuna study name; rerunning resumes it (engine optuna)."),
    trials: Optional[int] = typer.Option(
        None,
        help="Completed trials the study should have, a rerun adds only the missing ones (engine optuna); "
        "models submitted (engine nni). Default 50.",
    ),
    workers: Optional[int] = typer.Option(
        None, help="CPU processes scoring candidates in parallel, same results (default: one per core on CPU)."
    ),
    cache_dir: Optional[Path] = typer.Option(
        None,
        help="Score cache folder (default: ~/.cache/tenas-automl); a rerun or a search resumed after "
        "Ctrl-C reuses what it holds (engine native).",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the score cache (engine native)."),
    threads: Optional[int] = THREADS_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Search a space training-free and report the architecture found."""
    from tenas_automl.device import resolve_device
    from tenas_automl.spaces import get_space

    _setup(quiet, threads, dataset)
    check_choice("engine", engine, ENGINES)
    dev = resolve_device(device)
    sp = get_space(space)
    names = _split(indicators)
    native = engine == "native" and strategy in ("prune", "evolution")
    if preset is not None and not (native or (engine == "optuna" and strategy == "prune")):
        raise TenasError(
            f"--preset {preset!r} applies to --strategy prune or evolution with --engine native "
            f"and to --strategy prune with --engine optuna; got --strategy {strategy} --engine {engine}"
        )
    _check_engine_options(
        engine,
        budget=budget,
        workers=workers,
        storage=storage,
        study_name=study_name,
        trials=trials,
        plot=plot,
        cache_dir=cache_dir,
        no_cache=no_cache or None,
    )
    if trials is not None and trials < 1:
        raise TenasError(f"--trials must be a positive integer, got {trials}")
    if engine == "native" and strategy == "prune" and budget is not None:
        # The library only warns; on the command line an ignored budget would start a long search unasked.
        raise TenasError(
            f"--budget {budget} does not apply to --strategy prune, which scores a fixed number of "
            "candidates (NB201: 54 per repeat); for a shorter search use --preset fast, "
            "or --strategy evolution|random with --budget"
        )
    n_trials = 50 if trials is None else trials
    if engine == "optuna":
        _run_optuna(
            sp,
            strategy,
            dataset,
            names,
            seed,
            str(dev),
            storage,
            study_name,
            n_trials,
            output,
            quiet,
            plot,
            mode=mode,
            data_dir=None if data_dir is None else str(data_dir),
            preset=preset,
        )
        return
    if engine == "nni":
        _run_nni(
            space,
            strategy,
            dataset,
            names,
            seed,
            str(dev),
            n_trials,
            output,
            quiet,
            plot,
            mode=mode,
            data_dir=None if data_dir is None else str(data_dir),
        )
        return

    from tenas_automl.report import plot_search, run_report
    from tenas_automl.scoring import CachedEvaluator, ScoreCache
    from tenas_automl.strategies import get_strategy

    cached = None if no_cache else CachedEvaluator(ScoreCache(cache_dir))
    try:
        with _progress(f"{strategy} on {space}", quiet) as bar:
            searcher = get_strategy(
                strategy,
                indicators=names,
                budget=budget,
                seed=seed,
                device=str(dev),
                dataset=dataset,
                data_dir=None if data_dir is None else str(data_dir),
                mode=mode,
                progress=bar,
                workers=_workers(workers, dev),
                evaluator=cached,
                **({} if preset is None else {"preset": preset}),
            )
            result = searcher.search(sp)
    finally:
        if cached is not None:
            cached.cache.close()
    if result.interrupted and result.evaluations == 0:
        # The fallback architecture would be a placeholder, not a search result.
        kept = (
            f"; the {cached.computed} values computed are cached and the same command resumes from them"
            if cached and cached.computed
            else ""
        )
        err.print(
            f"[yellow]interrupted[/yellow] before any architecture was scored: nothing to report, nothing written{kept}",
            soft_wrap=True,
        )
        raise SystemExit(130)
    doc = run_report(result, sp, dev)
    if cached is not None:
        doc["cache"] = {"dir": str(cached.cache.directory), "reused": cached.hits, "computed": cached.computed}
    if result.interrupted:
        again = (
            (
                f"; the {cached.computed} values computed are cached in {cached.cache.directory}: "
                "the same command resumes from them"
            )
            if cached and cached.computed
            else ""
        )
        err.print(
            f"[yellow]interrupted[/yellow] after {result.evaluations} evaluations; reporting the best architecture so far{again}",
            soft_wrap=True,
        )
    _print_run(doc)
    if output is not None:
        from tenas_automl._io import atomic_write_json

        atomic_write_json(output, doc)
        if not quiet:
            err.print(f"wrote {output}")
    if plot is not None:
        plot_search(result, sp, plot, dataset=dataset)
        if not quiet:
            err.print(f"wrote {plot}")


#: The ``run`` options each engine reads (besides the common ones); the others are refused, not ignored.
_ENGINE_OPTIONS = {
    "native": ("budget", "workers", "plot", "cache_dir", "no_cache"),
    "optuna": ("storage", "study_name", "trials", "plot"),
    "nni": ("trials", "plot"),
}


def _check_engine_options(engine: str, **given: Any) -> None:
    def flags(names: Sequence[str]) -> str:
        return ", ".join("--" + k.replace("_", "-") for k in names)

    unused = [k for k, v in given.items() if v is not None and k not in _ENGINE_OPTIONS[engine]]
    if unused:
        hint = " (the number of trials is --trials)" if "budget" in unused else ""
        verb = "does" if len(unused) == 1 else "do"
        raise TenasError(
            f"{flags(unused)} {verb} not apply to --engine {engine}{hint}; it takes {flags(_ENGINE_OPTIONS[engine])}"
        )


def _field_table(title: str) -> Table:
    """A two-column table whose values fold instead of being cut: an arch must stay copyable."""
    table = Table("field", "value", title=title, show_header=False)
    table.columns[1].overflow = "fold"
    return table


def _print_run(doc: dict[str, Any], title: str | None = None, first: Sequence[tuple[str, str]] = ()) -> None:
    table = _field_table(title or f"{doc['strategy']} on {doc['space']} ({doc['dataset']}, seed {doc['seed']})")
    for row in first:
        table.add_row(*row)
    table.add_row("arch", doc["arch"])
    for name, value in doc["indicators"].items():
        table.add_row(name, _fmt(value))
    if doc.get("benchmark"):
        for ds, acc in doc["benchmark"].items():
            table.add_row(f"test acc {ds}", _fmt(acc))
    if "params_millions" in doc:
        table.add_row("params (M)", _fmt(doc["params_millions"]))
    table.add_row("evaluations", str(doc["evaluations"]))
    if doc.get("cache", {}).get("reused"):
        c = doc["cache"]
        table.add_row("score cache", f"{c['reused']} values reused, {c['computed']} computed ({c['dir']})")
    table.add_row("seconds", f"{doc['search_seconds']:.1f}")
    table.add_row("device", doc["device"])
    out.print(table)


def _run_optuna(
    space: Any,
    strategy: str,
    dataset: str,
    names: tuple[str, ...] | None,
    seed: int,
    device: str,
    storage: str | None,
    study_name: str | None,
    trials: int,
    output: Path | None,
    quiet: bool,
    plot: Path | None,
    **extra: Any,
) -> None:
    import optuna

    from tenas_automl.integrations.optuna import ORIGIN_ATTR, plot_study, run_optuna_study, summarize_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs: dict[str, Any] = dict(extra) if names is None else {"indicators": names, **extra}
    start = time.perf_counter()
    with _progress("optuna trials", quiet) as bar:
        study = run_optuna_study(
            space,
            storage=storage,
            study_name=study_name,
            trials=trials,
            sampler_strategy=strategy,
            seed=seed,
            dataset=dataset,
            device=device,
            progress=bar,
            **kwargs,
        )
    best = study.best_trial
    doc = {
        "space": space.name,
        "strategy": strategy,
        "engine": "optuna",
        "dataset": dataset,
        "seed": seed,
        **summarize_study(study, space),
        "study_name": study.study_name,
        "trials": len(study.trials),
        "best_value": best.value,
        "device": device,
        "version": __version__,
        # This command's time: a resumed study counts only the trials it added.
        "search_seconds": round(time.perf_counter() - start, 3),
    }
    origin = best.user_attrs.get(ORIGIN_ATTR)
    _print_run(doc, f"optuna study {study.study_name!r} ({strategy}, {dataset}, seed {seed})", [
        ("trials", str(doc["trials"])),
        ("best trial", f"#{best.number}" + (f" ({origin})" if origin else "")),
        ("best value", _fmt(best.value)),
    ])  # fmt: skip
    if output is not None:
        from tenas_automl._io import atomic_write_json

        atomic_write_json(output, doc)
        if not quiet:
            err.print(f"wrote {output}")
    if plot is not None:
        plot_study(study, plot, space, dataset)
        if not quiet:
            err.print(f"wrote {plot}")


def _run_nni(
    space: str,
    strategy: str,
    dataset: str,
    names: tuple[str, ...] | None,
    seed: int,
    device: str,
    trials: int,
    output: Path | None,
    quiet: bool,
    plot: Path | None,
    **extra: Any,
) -> None:
    from tenas_automl.integrations.nni import run_nni_experiment

    kwargs: dict[str, Any] = dict(extra) if names is None else {"indicators": names, **extra}
    with _progress("NNI models", quiet) as bar:
        result = run_nni_experiment(
            space, strategy=strategy, budget=trials, seed=seed, dataset=dataset, device=device, progress=bar, **kwargs
        )
    doc = result.to_dict()
    _print_run(doc, f"NNI {strategy} on {doc['space']} ({dataset}, seed {seed})", [
        ("models submitted", str(doc["models"])),
        (f"metric ({doc['evaluator']})", _fmt(doc["metric"])),
    ])  # fmt: skip
    if output is not None:
        from tenas_automl._io import atomic_write_json

        atomic_write_json(output, doc)
        if not quiet:
            err.print(f"wrote {output} (with every submitted model)")
    if plot is not None:
        result.plot(plot)
        if not quiet:
            err.print(f"wrote {plot}")


# -- cache --------------------------------------------------------------------
@app.command("cache")
def cache_cmd(
    action: str = typer.Argument("info", help="info (what the score cache holds) | clear (empty it)."),
    cache_dir: Optional[Path] = typer.Option(None, help="Score cache folder (default: ~/.cache/tenas-automl)."),
) -> None:
    """Show or empty the score cache that score, correlate and run share."""
    from tenas_automl.scoring import CACHE_FILE, ScoreCache, default_cache_dir

    check_choice("cache action", action, ("info", "clear"))
    path = (cache_dir.expanduser() if cache_dir is not None else default_cache_dir()) / CACHE_FILE
    if not path.is_file():
        out.print(f"no score cache at {path}")
        return
    with ScoreCache(path.parent) as cache:
        if action == "clear":
            out.print(f"removed {cache.clear()} values from {path}")
            return
        table = Table("space", "indicator", "values", title=f"score cache {path} ({path.stat().st_size / 1e6:.1f} MB)")
        for space, indicator, count in cache.summary():
            table.add_row(space, indicator, str(count))
        table.add_row("all", "", str(len(cache)))
        out.print(table)


# -- nni-config ---------------------------------------------------------------
@app.command("nni-config")
def nni_config(
    space: str = typer.Option("nb201", help="Search space: nb201 | darts."),
    out_dir: Path = typer.Option(Path("nni-experiment"), "--out", help="Folder to write the experiment into."),
    benchmark: bool = typer.Option(False, "--benchmark", help="Trials report the NB201 benchmark accuracy (no training)."),
    trials: int = typer.Option(20, help="maxTrialNumber of the experiment."),
    concurrency: int = typer.Option(2, help="trialConcurrency of the experiment."),
    seed: int = typer.Option(0, help="Seed of the training-free tuner."),
) -> None:
    """Write a runnable `nnictl create --config` experiment guided by TrainingFreeTuner."""
    from tenas_automl.integrations.nni_config import write_nni_config

    paths = write_nni_config(space, out_dir, benchmark=benchmark, trials=trials, concurrency=concurrency, seed=seed)
    for kind, path in paths.items():
        out.print(f"{kind}: {path}")
    out.print(f"run it with: nnictl create --config {paths['config']}")


def _stop_as_on_ctrl_c(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry: run the app, turning user errors into one line and exit 1.

    SIGTERM (a batch scheduler's time limit, ``kill``) stops a command as Ctrl-C
    does: the work done so far is reported, written and cached.
    """
    previous = signal.signal(signal.SIGTERM, _stop_as_on_ctrl_c)
    try:
        _main()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main() -> None:
    try:
        app(standalone_mode=False)
    except TenasError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except typer.Abort:
        err.print("aborted")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:
        # Parser errors: typer >= 0.29 raises its bundled click's exceptions, older
        # typer the click package's; both have format_message() and exit_code.
        if _is_usage_error(exc):
            err.print(f"[red]error:[/red] {_usage_line(exc)}", highlight=False, soft_wrap=True)
            raise SystemExit(1) from None
        if isinstance(exc, typer.Exit):  # click's Exit under older typer, typer's own since 0.29
            raise SystemExit(exc.exit_code) from None
        raise


def _is_usage_error(exc: BaseException) -> bool:
    """A command-line parsing error (unknown option or command, bad value, missing argument)."""
    kinds = [getattr(typer, "TyperException", None)]
    try:
        import click

        kinds.append(click.exceptions.ClickException)
    except ImportError:  # typer >= 0.29 does not need the click package
        pass
    return any(k is not None and isinstance(exc, k) for k in kinds) and hasattr(exc, "format_message")


def _usage_line(exc: Any) -> str:
    """The parser's message on one line, with where to look for the allowed values."""
    message = " ".join(str(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "tenas-automl"
    return f"{escape(message)} (see '{command} --help')"


if __name__ == "__main__":
    main()

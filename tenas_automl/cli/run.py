"""``tenas-automl run``: a training-free search, natively or through Optuna or NNI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import typer

from tenas_automl.cli._app import (
    DATA_DIR_OPT,
    DEVICE_OPT,
    MODE_OPT,
    QUIET_OPT,
    THREADS_OPT,
    _progress,
    _setup,
    _split,
    _workers,
    app,
    err,
    print_run,
    write_json,
)
from tenas_automl.cli.engines import run_nni, run_optuna
from tenas_automl.errors import TenasError, check_choice

ENGINES = ("native", "optuna", "nni")


@app.command()
def run(
    space: str = typer.Option("nb201", help="Search space: nb201 | darts."),
    strategy: Optional[str] = typer.Option(
        None,
        help="prune (TE-NAS) | evolution (TEG-NAS) | random (NASWOT). Default: evolution with --preset best, else prune.",
    ),
    dataset: str = typer.Option("cifar10", help="cifar10 | cifar100 | ImageNet16-120."),
    data_dir: Optional[Path] = DATA_DIR_OPT,
    indicators: Optional[str] = typer.Option(None, help="Comma-separated indicators (default: the strategy's)."),
    budget: Optional[int] = typer.Option(None, help="Architectures to score (evolution, random)."),
    preset: Optional[str] = typer.Option(
        None,
        help="best (guided evolution ranked by the ensemble, in parallel batches; implies --strategy "
        "evolution); prune: paper (default, the TE-NAS reproduction) | fast (NTK on 32 images; also the optuna "
        "prune sampler's); evolution: fast (default) | paper | best.",
    ),
    seed: int = typer.Option(0, help="Random seed: same seed, same architecture."),
    device: str = DEVICE_OPT,
    mode: str = MODE_OPT,
    output: Optional[Path] = typer.Option(None, help="Write the result JSON here (atomically)."),
    plot: Optional[Path] = typer.Option(None, help="Draw the search trajectory to this PNG."),
    engine: str = typer.Option("native", help="native | optuna | nni."),
    storage: Optional[str] = typer.Option(
        None,
        help="Optuna storage (engine optuna): sqlite:///study.db, postgresql+psycopg://user@host/db, or "
        "journal:PATH (a file on a shared disk). Many workers may share one study: same --study-name, own --seed.",
    ),
    study_name: Optional[str] = typer.Option(None, help="Optuna study name; rerunning resumes it (engine optuna)."),
    trials: Optional[int] = typer.Option(
        None,
        help="Completed trials the study should have, a rerun adds only the missing ones (engine optuna); "
        "models submitted (engine nni). Default 50.",
    ),
    heartbeat: Optional[int] = typer.Option(
        None,
        "--heartbeat",
        help="Seconds between heartbeats of a running trial; 0 turns them off (engine optuna, default 10).",
    ),
    grace: Optional[int] = typer.Option(
        None,
        "--grace",
        help="Seconds without heartbeat after which a dead worker's trial is failed and its architecture "
        "queued again (engine optuna, default 30).",
    ),
    workers: Optional[int] = typer.Option(
        None, help="CPU processes scoring candidates in parallel, same results (default: one per core on CPU)."
    ),
    cache_dir: Optional[Path] = typer.Option(
        None,
        help="Score cache folder (default: ~/.cache/tenas-automl); a rerun or a search resumed after "
        "Ctrl-C reuses what it holds (engines native and optuna; optuna workers may share one on a shared disk).",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the score cache (engines native and optuna)."),
    threads: Optional[int] = THREADS_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Search a space training-free and report the architecture found."""
    from tenas_automl.device import resolve_device
    from tenas_automl.spaces import get_space

    _setup(quiet, threads, dataset)
    check_choice("engine", engine, ENGINES)
    if strategy is None:
        strategy = "evolution" if preset == "best" else "prune"
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
        heartbeat=heartbeat,
        grace=grace,
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
    common: dict[str, Any] = {"mode": mode, "data_dir": None if data_dir is None else str(data_dir)}
    if engine == "optuna":
        from tenas_automl.integrations.optuna import HEARTBEAT_INTERVAL_S, default_grace_period

        beat = HEARTBEAT_INTERVAL_S if heartbeat is None else (heartbeat or None)
        if beat is None and grace is not None:
            raise TenasError(f"--grace {grace} needs the heartbeat, which --heartbeat 0 turns off")
        run_optuna(
            sp, strategy, dataset, names, seed, str(dev), storage, study_name, n_trials, output, quiet, plot,
            preset=preset, heartbeat_interval=beat, use_cache=not no_cache,
            cache_dir=None if cache_dir is None else str(cache_dir),
            grace_period=None if beat is None else (grace if grace is not None else default_grace_period(beat)),
            **common,
        )  # fmt: skip
        return
    if engine == "nni":
        run_nni(space, strategy, dataset, names, seed, str(dev), n_trials, output, quiet, plot, **common)
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
    print_run(doc)
    write_json(output, doc, quiet)
    if plot is not None:
        plot_search(result, sp, plot, dataset=dataset)
        if not quiet:
            err.print(f"wrote {plot}")


#: The ``run`` options each engine reads (besides the common ones); the others are refused, not ignored.
_ENGINE_OPTIONS = {
    "native": ("budget", "workers", "plot", "cache_dir", "no_cache"),
    "optuna": ("storage", "study_name", "trials", "plot", "heartbeat", "grace", "cache_dir", "no_cache"),
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

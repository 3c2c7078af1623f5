"""``run --engine optuna`` and ``--engine nni``: a study or an experiment, reported as ``run`` does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tenas_automl import __version__
from tenas_automl.cli._app import (
    _fmt,
    _progress,
    err,
    print_run,
    write_json,
)


def run_optuna(
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
    print_run(doc, f"optuna study {study.study_name!r} ({strategy}, {dataset}, seed {seed})", [
        ("trials", str(doc["trials"])),
        ("best trial", f"#{best.number}" + (f" ({origin})" if origin else "")),
        ("best value", _fmt(best.value)),
    ])  # fmt: skip
    write_json(output, doc, quiet)
    if plot is not None:
        plot_study(study, plot, space, dataset)
        if not quiet:
            err.print(f"wrote {plot}")


def run_nni(
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
    print_run(doc, f"NNI {strategy} on {doc['space']} ({dataset}, seed {seed})", [
        ("models submitted", str(doc["models"])),
        (f"metric ({doc['evaluator']})", _fmt(doc["metric"])),
    ])  # fmt: skip
    write_json(output, doc, quiet, " (with every submitted model)")
    if plot is not None:
        result.plot(plot)
        if not quiet:
            err.print(f"wrote {plot}")

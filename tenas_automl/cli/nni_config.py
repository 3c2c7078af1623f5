"""``tenas-automl nni-config``: a runnable NNI experiment folder."""

from __future__ import annotations

from pathlib import Path

import typer

from tenas_automl.cli._app import (
    app,
    out,
)


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
    from tenas_automl.integrations.nni.config import write_nni_config

    paths = write_nni_config(space, out_dir, benchmark=benchmark, trials=trials, concurrency=concurrency, seed=seed)
    for kind, path in paths.items():
        out.print(f"{kind}: {path}")
    out.print(f"run it with: nnictl create --config {paths['config']}")

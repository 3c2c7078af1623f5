"""``tenas-automl score``: indicators (and combinations) of given architectures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

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
    err,
    out,
)
from tenas_automl.errors import TenasError

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

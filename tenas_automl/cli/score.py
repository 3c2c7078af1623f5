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
    indicators: Optional[str] = typer.Option(
        None,
        help="Comma-separated indicators and combinations (see `list indicators`; default ntk,lr, with "
        "--model naswot); a combination is computed over the architectures given.",
    ),
    model: Optional[str] = typer.Option(
        None,
        help="Score your own model instead: MODULE:FACTORY or FILE.py:FACTORY, a zero-argument function "
        "returning an nn.Module (indicators that work on any model: naswot, ntk, params, flops, synflow, "
        "snip, grad_norm, jacov, az_expressivity, az_progressivity, az_trainability, vkdnw, zico, meco, swap).",
    ),
    input_shape: Optional[str] = typer.Option(
        None, help="With --model: C,H,W of the model's input (default: the dataset's images, 3,32,32)."
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
    if model is not None:
        if archs or archs_file is not None:
            raise TenasError("give architectures or --model, not both")
        _score_model(model, indicators or "naswot", input_shape, seed, device, dataset, data_dir, mode, output, quiet)
        return
    if input_shape is not None:
        raise TenasError("--input-shape applies to --model")
    indicators = indicators or "ntk,lr"
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


def load_factory(spec: str) -> Any:
    """The callable ``MODULE:FACTORY`` or ``FILE.py:FACTORY`` names (a one-line error otherwise)."""
    from tenas_automl._loading import load_callable

    return load_callable(spec, "--model", "FACTORY")


def _score_model(
    spec: str, indicators: str, input_shape: str | None, seed: int, device: str, dataset: str,
    data_dir: Path | None, mode: str, output: Path | None, quiet: bool,
) -> None:  # fmt: skip
    from tenas_automl.model_scoring import score_model

    shape = None
    if input_shape is not None:
        try:
            shape = tuple(int(v) for v in input_shape.split(","))
        except ValueError:
            raise TenasError(f"--input-shape {input_shape!r}: expected C,H,W, e.g. 1,28,28") from None
    names = list(_split(indicators) or ())
    result = score_model(
        load_factory(spec), names, seed=seed, device=device, data=None if data_dir is None else str(data_dir),
        input_shape=shape, dataset=dataset, mode=mode,
    )  # fmt: skip
    import math

    row: dict[str, Any] = {"model": spec}
    for n in names:
        v = float(result.values[n])
        row[n] = v if math.isfinite(v) else None
        row[f"{n}_seconds"] = round(float(result.seconds.get(n, 0.0)), 4)
    table = Table("model", *names)
    table.add_row(spec, *[_fmt(row[n]) for n in names])
    out.print(table)
    if output is not None:
        from tenas_automl._io import atomic_write_csv, atomic_write_json

        if output.suffix.lower() == ".json":
            atomic_write_json(output, [row])
        else:
            atomic_write_csv(output, [row], ["model", *[c for n in names for c in (n, f"{n}_seconds")]])
        if not quiet:
            err.print(f"wrote 1 row to {output}")

"""The Typer app and what its commands share: options, progress bars, output."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from tenas_automl import __version__
from tenas_automl.errors import TenasError, check_choice

if TYPE_CHECKING:  # torch stays out of `--help`
    from tenas_automl.scoring import ProgressFn

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


def _field_table(title: str) -> Table:
    """A two-column table whose values fold instead of being cut: an arch must stay copyable."""
    table = Table("field", "value", title=title, show_header=False)
    table.columns[1].overflow = "fold"
    return table


def print_run(doc: dict[str, Any], title: str | None = None, first: Sequence[tuple[str, str]] = ()) -> None:
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


def write_json(path: Path | None, doc: Any, quiet: bool, what: str = "") -> None:
    """Write ``doc`` to ``path`` atomically (nothing when ``path`` is None) and say so unless quiet."""
    if path is None:
        return
    from tenas_automl._io import atomic_write_json

    atomic_write_json(path, doc)
    if not quiet:
        err.print(f"wrote {path}{what}")

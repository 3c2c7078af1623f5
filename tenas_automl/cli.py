"""The ``tenas-automl`` command line (Typer). Every command is a thin shell
over a library function; user errors become one line on stderr and exit 1."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
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
            table.add_row(name, "higher" if ind.higher_is_better else "lower", str(ind.cost),
                          (ind.__doc__ or "").strip().splitlines()[0])
        out.print(table)


def main() -> None:
    """Console-script entry: run the app, turning user errors into one line and exit 1."""
    try:
        app(standalone_mode=False)
    except TenasError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise SystemExit(1) from None
    except typer.Abort:
        err.print("aborted")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.exceptions.Exit):
            raise SystemExit(exc.exit_code) from None
        raise


if __name__ == "__main__":
    main()

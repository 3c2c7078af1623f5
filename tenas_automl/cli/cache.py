"""``tenas-automl cache``: what the score cache holds, or empty it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from tenas_automl.cli._app import (
    app,
    out,
)
from tenas_automl.errors import check_choice


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

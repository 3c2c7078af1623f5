"""``tenas-automl list``: spaces, strategies, indicators and combinations."""

from __future__ import annotations

import typer
from rich.table import Table

from tenas_automl.cli._app import (
    app,
    out,
)
from tenas_automl.errors import check_choice


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

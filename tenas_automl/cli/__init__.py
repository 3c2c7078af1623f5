"""The ``tenas-automl`` command line (Typer). Every command is a thin shell
over a library function; user errors become one line on stderr and exit 1.

One module per command; :mod:`._app` holds the app and what they share.
"""

from __future__ import annotations

import signal
from typing import Any

import typer
from rich.markup import escape

from tenas_automl.cli import cache, correlate, list_cmd, nni_config, run, score  # noqa: F401  (register the commands)
from tenas_automl.cli._app import app, err
from tenas_automl.errors import TenasError


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

"""Loading a user's callable from ``MODULE:NAME`` or ``FILE.py:NAME`` (a model factory, a ``model_fn``)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from tenas_automl.errors import TenasError


def load_callable(spec: str, what: str, placeholder: str = "NAME") -> Any:
    """The callable ``spec`` names; a one-line :class:`TenasError` starting with ``what`` otherwise.

    ``MODULE:NAME`` imports ``MODULE`` (from ``sys.path``); ``FILE.py:NAME``
    executes that file (relative to the working directory).
    """
    where, sep, name = str(spec).rpartition(":")
    if not sep or not where or not name:
        raise TenasError(f"{what} {spec!r}: expected MODULE:{placeholder} or FILE.py:{placeholder}")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise TenasError(f"{what} {spec!r}: file {where!r} does not exist")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except TenasError:
        raise
    except Exception as exc:  # the user's code: any failure is theirs to see, in one line
        raise TenasError(f"{what} {spec!r}: importing {where!r} failed: {type(exc).__name__}: {exc}") from exc
    found = getattr(module, name, None)
    if not callable(found):
        raise TenasError(f"{what} {spec!r}: {where!r} has no callable {name!r}")
    return found

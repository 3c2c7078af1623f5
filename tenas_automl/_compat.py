"""Keyword arguments renamed for one vocabulary across the searches, kept working."""

from __future__ import annotations

import warnings
from typing import Any

from tenas_automl.errors import TenasError


def renamed(owner: str, new: str, value: Any, old: str, old_value: Any, default: Any) -> Any:
    """The value of argument ``new``, accepting its former name ``old`` with a FutureWarning.

    None means "not given" for both; giving both with different values is an error.
    """
    if old_value is None:
        return default if value is None else value
    warnings.warn(f"{owner}({old}=...) is renamed {new}=; {old}= will be removed", FutureWarning, stacklevel=3)
    if value is not None and value != old_value:
        raise TenasError(f"{owner}: give {new}= (or its former name {old}=), not both")
    return old_value


__all__ = ["renamed"]

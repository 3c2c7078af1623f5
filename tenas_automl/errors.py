"""Typed errors for user mistakes.

Every error a user can cause derives from :class:`TenasError`; the CLI turns it
into a one-line message and exit code 1. Each subclass also derives from the
builtin that fits (``ValueError``, ``FileNotFoundError``) so callers that
catch those keep working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class TenasError(Exception):
    """Base class of errors caused by bad input (never by a bug)."""


class InvalidArchitectureError(TenasError, ValueError):
    """A malformed architecture string or value (wrong edge count, unknown op, ...)."""


class UnknownNameError(TenasError, ValueError):
    """An unknown space, op, indicator, strategy or dataset name."""

    def __init__(self, kind: str, name: object, allowed: Iterable[str]) -> None:
        self.kind, self.name, self.allowed = kind, name, tuple(allowed)
        super().__init__(f"unknown {kind} {name!r}; allowed: {', '.join(self.allowed)}")


class DataError(TenasError, ValueError):
    """Missing or malformed image data (bad folder, wrong shape, too few images)."""


class BenchmarkError(TenasError, FileNotFoundError):
    """A benchmark file or path that does not exist or cannot be read."""


def check_choice(kind: str, name: str, allowed: Iterable[str]) -> str:
    """Return ``name`` if it is one of ``allowed``, else raise :class:`UnknownNameError`."""
    allowed = tuple(allowed)
    if name not in allowed:
        raise UnknownNameError(kind, name, allowed)
    return name


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name when it has none (for one-line errors)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def key_mismatch(given: Iterable[str], expected: Sequence[str], ignored: Iterable[str] = ()) -> str | None:
    """``"lacks key 'a' (and 2 more)"`` or ``"has unknown key 'b'"`` for a dict's keys, or None when they match."""
    given, skip = list(given), set(ignored)
    missing = [k for k in expected if k not in given]
    if missing:
        return f"lacks key {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
    extra = [k for k in given if k not in expected and k not in skip]
    return f"has unknown key {extra[0]!r}" if extra else None

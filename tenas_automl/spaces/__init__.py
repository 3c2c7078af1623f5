"""Search spaces: NB201 and DARTS behind one :class:`Space` protocol."""

from __future__ import annotations

from functools import cache

from tenas_automl.errors import TenasError, check_choice
from tenas_automl.spaces.base import Mask, Space, Supernet

SPACES = ("nb201", "darts")


@cache
def get_space(name: str) -> Space:
    """The search space called ``name`` (one of :data:`SPACES`), created once."""
    check_choice("space", name, SPACES)
    if name == "nb201":
        from tenas_automl.spaces.nb201 import NB201Space

        return NB201Space()
    from tenas_automl.spaces.darts import DartsSpace

    return DartsSpace()


def resolve_space(space: Space | str) -> Space:
    """``space`` itself, or the space called ``space`` (one of :data:`SPACES`)."""
    if isinstance(space, str):
        return get_space(space)
    if isinstance(space, Space):
        return space
    raise TenasError(f"expected a space or one of {', '.join(SPACES)}, got {space!r}")


__all__ = ["SPACES", "Mask", "Space", "Supernet", "get_space", "resolve_space"]

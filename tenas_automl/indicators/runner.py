"""``evaluate``: score masks of a space with several indicators, on shared weights and data."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from tenas_automl.data import ImageData, load_data
from tenas_automl.device import exact_numerics, resolve_device
from tenas_automl.errors import InvalidArchitectureError, TenasError, UnknownNameError, check_choice
from tenas_automl.indicators.base import MODES, Context, Indicator
from tenas_automl.indicators.registry import INDICATORS, get_indicator
from tenas_automl.spaces.base import Mask, Space

logger = logging.getLogger(__name__)


def resolve_indicators(
    names: Iterable[str | Indicator], overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Indicator]:
    """Indicator objects for ``names`` (names or ready instances), ``overrides[name]`` applied.

    ``overrides`` may hold entries for indicators not in ``names`` (so one
    dict can serve several calls), but every key must name an indicator.
    """
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in INDICATORS:
            raise UnknownNameError("indicator (in overrides)", key, INDICATORS)
    out: list[Indicator] = []
    seen: set[str] = set()
    for item in names:
        ind = item if isinstance(item, Indicator) else get_indicator(item, **dict(overrides.get(item, {})))
        if ind.name in seen:
            raise TenasError(f"indicator {ind.name!r} is listed twice")
        seen.add(ind.name)
        out.append(ind)
    return out


def _check_masks(space: Space, masks: Sequence[Mask]) -> list[Mask]:
    edges = len(space.edges)
    checked = []
    for mask in masks:
        mask = tuple(tuple(ops) for ops in mask)
        if len(mask) != edges:
            raise InvalidArchitectureError(f"a mask of {space.name} needs {edges} edges, got {len(mask)}")
        for ops in mask:
            for op in ops:
                check_choice(f"{space.name} op", op, space.ops)
        checked.append(mask)
    return checked


def make_context(
    space: Space,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    data: ImageData | None = None,
    dataset: str = "cifar10",
    data_dir: str | None = None,
    mode: str = "paper",
) -> Context:
    """The state that scoring calls share: data, device, seeded networks.

    Reusing one context across calls (as :func:`~tenas_automl.scoring.score_many`
    does) avoids rebuilding networks; values are the same as with fresh contexts,
    because every network and batch is seeded by ``seed`` alone.
    """
    check_choice("mode", mode, MODES)
    if data is None:
        data = load_data(dataset, data_dir)
    return Context(space=space, seed=int(seed), device=resolve_device(device), data=data, mode=mode)


#: Contexts kept per thread for :func:`shared_context` (the last ones used).
CONTEXTS_KEPT = 2
_contexts = threading.local()


def shared_context(space: Space, **kwargs: Any) -> Context:
    """:func:`make_context` (same keywords), reusing one this thread built with the same arguments.

    A search calls :func:`evaluate` once per step; building the seeded networks
    (and AZ-NAS's re-initialised copy, synflow's) again each time costs more
    than scoring a step's few architectures. Values do not change: a context
    holds only what ``seed`` determines. Each thread keeps its own last
    :data:`CONTEXTS_KEPT` contexts (a context's networks are switched between
    masks, so threads never share one).
    """
    fresh = make_context(space, **kwargs)  # no network yet: cheap
    # A space's networks depend on its class alone (NB201's benchmark table does not build any), so a
    # space unpickled in a worker process finds its context again; the context holds the data, so its id
    # stays its own while the context is kept.
    key = (type(space), space.name, fresh.seed, str(fresh.device), id(fresh.data), fresh.mode)
    kept: OrderedDict[tuple[Any, ...], Context] = getattr(_contexts, "kept", None) or OrderedDict()
    _contexts.kept = kept
    ctx = kept.pop(key, None) or fresh
    kept[key] = ctx
    while len(kept) > CONTEXTS_KEPT:
        kept.popitem(last=False)
    return ctx


def clear_contexts() -> None:
    """Drop the contexts :func:`shared_context` keeps for this thread (their networks are freed)."""
    _contexts.kept = OrderedDict()


def score_in_context(ctx: Context, indicator: Indicator, masks: Sequence[Mask], *, warn: bool = True) -> np.ndarray:
    """One indicator's values for ``masks`` (validated here), with a warning for
    non-finite ones unless ``warn`` is off (a caller that scores one mask at a
    time and sums the warnings up itself)."""
    masks = _check_masks(ctx.space, masks)
    if not masks:
        return np.zeros(0)
    with exact_numerics(ctx.device):
        values = np.asarray(indicator.score_masks(ctx.space, masks, ctx), dtype=float)
    if warn:
        warn_non_finite(indicator.name, values)
    return values


def warn_non_finite(name: str, values: np.ndarray, what: str = "masks") -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        logger.warning(
            "%s: %d of %d %s scored non-finite (%s); they rank last",
            name,
            int(bad.sum()),
            len(values),
            what,
            ", ".join(sorted({str(v) for v in values[bad]})),
        )


def evaluate(
    space: Space,
    masks: Sequence[Mask],
    names: Iterable[str | Indicator],
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    data: ImageData | None = None,
    dataset: str = "cifar10",
    data_dir: str | None = None,
    mode: str = "paper",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 1,
) -> dict[str, np.ndarray]:
    """Score every mask with every indicator: ``{name: array of one float per mask}``.

    All masks are scored on the same weights and the same batches (common
    random numbers), so differences between masks are not noise from
    re-initialisation; the same ``seed`` gives the same numbers, and a mask's
    value does not depend on the other masks of the call. ``data`` (an
    :class:`~tenas_automl.data.ImageData`) takes precedence over ``dataset`` and
    ``data_dir``. ``mode`` is ``"paper"`` (the official code's behaviour) or
    ``"clean"`` (its quirks fixed; see each indicator). ``overrides`` maps an
    indicator name to settings, e.g. ``{"ntk": {"batch_size": 16, "repeats": 1}}``.
    Non-finite values (NaN for masks without a path from input to output, inf
    for a singular kernel) are logged as a warning; rank them with
    :func:`~tenas_automl.indicators.rank`, which puts them last. ``workers``
    > 1 deals the masks to that many CPU processes (same numbers; see
    :mod:`~tenas_automl.indicators.parallel`); ignored on CUDA.
    """
    indicators = resolve_indicators(names, overrides)
    masks = _check_masks(space, masks)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise TenasError(f"workers must be a positive integer, got {workers!r}")
    if workers > 1 and len(masks) > 1 and resolve_device(device).type == "cpu":
        from tenas_automl.indicators.parallel import evaluate_parallel

        kwargs = dict(seed=seed, device="cpu", data=data, dataset=dataset, data_dir=data_dir, mode=mode)
        values = evaluate_parallel(space, masks, indicators, workers, kwargs)
        for name, v in values.items():
            warn_non_finite(name, v)
        return values
    ctx = shared_context(space, seed=seed, device=device, data=data, dataset=dataset, data_dir=data_dir, mode=mode)
    return {ind.name: score_in_context(ctx, ind, masks) for ind in indicators}

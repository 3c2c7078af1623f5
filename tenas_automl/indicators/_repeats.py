"""The repeat loop shared by the indicators that score each mask on one input per repeat."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from tenas_automl.indicators.base import Context, NetSettings, repeat_indices
from tenas_automl.spaces.base import Mask, Supernet

Inputs = TypeVar("Inputs")


def mean_over_repeats(
    s: NetSettings,
    masks: Sequence[Mask],
    ctx: Context,
    inputs: Callable[[int], Inputs],
    score: Callable[[Supernet, Inputs], float],
    network: Callable[[int], Supernet] | None = None,
) -> np.ndarray:
    """Mean over ``s.repeats`` of ``score(net, inputs(data_index))`` for each mask.

    Each repeat builds its network first and then draws its inputs (the order
    the indicators' random streams rely on); every mask is scored on the same
    network and inputs, switched on with ``set_mask``. ``network(weights_index)``
    replaces ``ctx.network(s, weights_index)``.
    """
    values = np.full((s.repeats, len(masks)), np.nan)
    for r in range(s.repeats):
        wi, di = repeat_indices(s, r)
        net = ctx.network(s, wi) if network is None else network(wi)
        data = inputs(di)
        for k, mask in enumerate(masks):
            net.set_mask(mask)
            values[r, k] = score(net, data)
    return values.mean(0)

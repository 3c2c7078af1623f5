"""TE-NAS's ranking of relative changes, rounding and tie rule included.

``prune_tenas.py`` rounds each change, sorts by the change rounded to
significant figures, and lets equal neighbours share a rank while the next
distinct value gets the next integer (*dense* ranking). The order of the sort
matters too: ties of the final rank sum are broken by it. Whole-architecture
rankings (evolution, random) use :func:`tenas_automl.indicators.rank_sum`.

NaN ranks last here (the official code crashes on it).
"""

from __future__ import annotations

import math

import numpy as np


def round_sig(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant figures (NaN and inf unchanged)."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def dense_rank(
    values: np.ndarray, *, descending: bool, precision: int = 3, round_first: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """TE-NAS ranks of ``values`` (rank 0 first) and the order they were sorted in.

    As in ``prune_tenas.py``: each value is rounded to ``precision`` decimals
    (``round_first=False``: the caller did it, e.g. per repeat before a mean),
    the list is stably sorted by the value rounded to ``precision``
    significant figures, and an entry shares its predecessor's rank when the
    values are equal, else takes the next integer. NaNs come after every
    number and share one rank.
    """
    vals = np.array([round(float(v), precision) if round_first and math.isfinite(v) else float(v) for v in values])
    keys = np.array([round_sig(v, precision) for v in vals])
    finite = ~np.isnan(keys)
    idx = np.flatnonzero(finite)
    sorted_idx = idx[np.argsort(-keys[idx] if descending else keys[idx], kind="stable")]
    order = np.concatenate([sorted_idx, np.flatnonzero(~finite)]).astype(int)
    ranks = np.zeros(len(vals), dtype=int)
    for pos in range(1, len(order)):
        cur, prev = vals[order[pos]], vals[order[pos - 1]]
        same = cur == prev or (math.isnan(cur) and math.isnan(prev))
        ranks[order[pos]] = ranks[order[pos - 1]] + (0 if same else 1)
    return ranks, order

"""Named combinations of indicators, computed within the pool being ranked.

A combination is not a per-architecture score: its value for an architecture
depends on the other architectures it is ranked with (a ``correlate`` sample,
a ``score`` list, a search's population). Each one names its members, which
are scored as usual, and how their ranks are combined.

- ``az``: AZ-NAS's aggregate (Lee and Ham, CVPR 2024), the log-rank sum
  (:func:`~tenas_automl.indicators.aggregate.log_rank_sum`) of its
  expressivity, progressivity and trainability and the network's FLOPs.
- ``ensemble``: the library's recommended ranking, the log-rank sum of
  ``meco``, ``lr``, ``synflow`` and AZ-NAS's expressivity, progressivity and
  trainability, each at its paper settings. The members were chosen on a
  development sample of NB201 (every set of up to seven cheap indicators
  within a cost budget, the one whose smallest Spearman rho over the three
  datasets was highest) and are reported on other architectures in
  ``benchmarks/README.md``.
- ``vkdnw_agg``: VKDNW's aggregate (Tybl and Neumann, CVPR 2025), the
  log-rank sum of ``vkdnw`` (dense ranks, as VKDNW ranks its (tensors,
  entropy) pairs), AZ-NAS's expressivity and trainability, FLOPs and
  ``jacov``. VKDNW's ``jacov`` runs on Kaiming-normal fan-in weights; pass
  ``overrides={"jacov": {"init": "kaiming_normal_fan_in"}}`` to match it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tenas_automl.errors import UnknownNameError
from tenas_automl.indicators.aggregate import log_rank_sum


@dataclass(frozen=True)
class Combination:
    """A log-rank aggregation of ``members`` (higher is better), optionally weighted."""

    name: str
    members: tuple[str, ...]
    description: str
    weights: Mapping[str, float] = field(default_factory=dict)
    #: Members ranked densely (see :func:`log_rank_sum`).
    dense: tuple[str, ...] = ()

    def combine(self, scores: Mapping[str, object]) -> np.ndarray:
        """The combination's values over the pool whose member scores are ``scores``."""
        missing = [m for m in self.members if m not in scores]
        if missing:
            raise UnknownNameError(f"member of {self.name}", missing[0], list(scores))
        return log_rank_sum({m: scores[m] for m in self.members}, weights=self.weights or None, dense=self.dense)


COMBINATIONS: dict[str, Combination] = {
    c.name: c
    for c in (
        Combination(
            "az",
            ("az_expressivity", "az_progressivity", "az_trainability", "flops"),
            "AZ-NAS aggregate: log-rank sum of expressivity, progressivity, trainability and FLOPs",
        ),
        Combination(
            "ensemble",
            ("meco", "lr", "synflow", "az_expressivity", "az_progressivity", "az_trainability"),
            "recommended: log-rank sum of MeCo, TE-NAS linear regions, SynFlow and AZ-NAS's three scores",
        ),
        Combination(
            "vkdnw_agg",
            ("vkdnw", "az_expressivity", "az_trainability", "flops", "jacov"),
            "VKDNW aggregate: log-rank sum of vkdnw (dense ranks), AZ-NAS expressivity and trainability, FLOPs and jacov",
            dense=("vkdnw",),
        ),
    )
}


def get_combination(name: str) -> Combination:
    if name not in COMBINATIONS:
        raise UnknownNameError("combination", name, COMBINATIONS)
    return COMBINATIONS[name]


def split_combinations(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(indicators to score, combinations to compute) for a list of names.

    Combination names are replaced by their members (each indicator once, in
    order of first appearance); other names pass through unchanged.
    """
    indicators: dict[str, None] = {}
    combos: list[str] = []
    for name in names:
        if name in COMBINATIONS:
            combos.append(name)
            indicators.update(dict.fromkeys(COMBINATIONS[name].members))
        else:
            indicators[name] = None
    return list(indicators), combos


def pool_ranking(
    cols: Mapping[str, object],
    higher_is_better: Mapping[str, bool],
    combinations: Iterable[str] = (),
    *,
    method: str = "min",
) -> np.ndarray:
    """Rank of each architecture of a pool by the columns ``cols``; lower is better.

    With combinations named, minus one log-rank sum over every column (with
    the combinations' weights and dense members); otherwise TE-NAS's rank sum
    (ties by ``method``). Non-finite values rank last either way. Every search
    (native, Optuna, NNI) ranks its pool with this.
    """
    from tenas_automl.indicators.aggregate import rank_sum

    combos = [get_combination(c) for c in combinations]
    if not combos:
        return rank_sum(cols, higher_is_better, method=method)
    weights: dict[str, float] = dict.fromkeys(cols, 1.0)
    dense: set[str] = set()
    for combo in combos:
        weights.update(combo.weights)
        dense |= set(combo.dense)
    return -log_rank_sum(cols, higher_is_better, weights=weights, dense=dense)

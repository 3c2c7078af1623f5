"""TE-NAS supernet pruning (Chen, Gong & Wang, ICLR 2021).

Start from the supernet with every op but ``none`` alive. Each round scores
the current supernet and, in the same evaluator call (same weights and
batches), every sub-supernet with one alive op removed. For each indicator the
relative change ``d = (v_super - v_without) / |v_super|`` measures what
removing the op does; an op whose removal *improves* the indicator (lower
condition number, more linear regions) is unimportant. Ranks per indicator
are summed (with a combination named, e.g. ``ensemble``, its log-rank
sum over the round's candidates ranks them instead) and every edge drops its ``space.ops_pruned_per_round(dataset)``
least important ops, until one op per edge is left (NB201: 4 -> 3 -> 2 -> 1,
24 + 18 + 12 = 54 candidate scorings). Spaces whose nodes choose their inputs
(DARTS) then keep, node by node, the ``space.inputs_per_node`` edges whose
removal hurts most, ranked the same way.

As in ``prune_tenas.py``, paper mode takes the change per repeat, rounds it
to ``precision`` decimals and averages the repeats (each repeat is one
evaluator call, ``first_repeat`` picking its draw); clean mode takes the
change of the repeat-averaged values. Differences from ``prune_tenas.py``:
the denominator is ``|v_super|`` so that indicators that can be negative
keep their direction; NaN changes rank as least prunable instead of
crashing (the official issue #3), with a warning. All candidates of a round
share the round's networks and batches (common random numbers): the
official code draws a fresh NTK batch per candidate and repeat (on the
round's network) and recomputes the supernet's NTK with it, and builds a
freshly initialised linear-region network per candidate (its three repeats
share the weights and see new crops), which adds noise to each candidate's
change and costs twice the NTKs. ``draws="per_candidate"`` reproduces that:
the NTK on the round's network with batches of the candidate's own, the
other indicators on a network and inputs drawn from the candidate's seed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar

import numpy as np

from tenas_automl.errors import check_choice
from tenas_automl.spaces.base import Mask, Space
from tenas_automl.strategies.base import ProgressFn, SearchState, SearchStrategy
from tenas_automl.strategies.ranking import dense_rank

logger = logging.getLogger(__name__)

#: A candidate removal: (edge index, op name), or (edge index, None) for the whole edge.
Removal = tuple[int, "str | None"]


def _without(mask: Mask, removal: Removal) -> Mask:
    edge, op = removal
    ops = () if op is None else tuple(o for o in mask[edge] if o != op)
    return mask[:edge] + (ops,) + mask[edge + 1 :]


#: How each round's candidates are scored: ``common`` (one set of networks and
#: batches per round) or ``per_candidate`` (the official code's fresh draw per
#: candidate, with the supernet rescored on it).
DRAWS = ("common", "per_candidate")

#: Pruning presets: indicator settings of the rounds, per space. ``paper`` is
#: TE-NAS's; ``fast`` scores the NB201 NTK on 32 images instead of 72: the
#: exact batch Jacobian costs B backward passes over a batch of B, so the NTK
#: is about 5x cheaper, the whole NB201 search about 4x on a CPU (101 vs 434 s;
#: benchmarks/README.md compares the two presets' accuracy).
PRUNE_PRESETS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "paper": {},
    "fast": {"nb201": {"ntk": {"batch_size": 32}}},
}


def preset_settings(preset: str, space: str, indicators: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The indicator settings :data:`PRUNE_PRESETS` gives ``space``, for the ``indicators`` in use."""
    check_choice("prune preset", preset, PRUNE_PRESETS)
    return {n: dict(s) for n, s in PRUNE_PRESETS[preset].get(space, {}).items() if n in indicators}


def pruning_progress(show: Callable[[str], None]) -> ProgressFn:
    """A ``progress`` for a pruning run nested in a longer job: ``show("TE-NAS pruning 24/54 round 1")``."""

    def report(done: int, total: int, info: str) -> None:
        show(f"TE-NAS pruning {done}/{total} {info}".rstrip())

    return report


class PruneStrategy(SearchStrategy):
    """TE-NAS pruning-by-importance; ``budget`` is not used.

    Args:
        preset: ``"paper"`` (TE-NAS's settings) or ``"fast"`` (NB201 NTK on 32
            images; see :data:`PRUNE_PRESETS`); ``overrides`` win over both.
        precision: decimals/significant figures the relative changes are
            rounded to before ranking (TE-NAS: 3), so that noise-level
            differences tie.
        draws: ``"common"`` (default: every candidate of a round on the same
            networks and batches) or ``"per_candidate"`` (the official code's
            fresh batches (and linear-region networks) per candidate, twice the cost; see the
            module docstring).
        **kwargs: see :class:`SearchStrategy`.
    """

    name = "prune"
    default_indicators = ("ntk", "lr")

    #: How TE-NAS's pruning loop (``prune_tenas.py``) repeats its indicators,
    #: in every space, unlike the single-architecture defaults: the repeats
    #: share one network and see different data (the init the launcher asks
    #: for is not recognised, so nothing re-initialises, and both loaders
    #: yield new batches: the linear-region collector's iterator keeps going
    #: under torch 1.6, the pinned version).
    PAPER_REPEATS: ClassVar[dict[str, dict[str, Any]]] = {"ntk": {"resample": "data"}, "lr": {"resample": "data"}}
    #: Per-space settings of TE-NAS's pruning runs (``prune_launch.py``): DARTS
    #: uses 14 NTK images. Both apply to the rounds under ``mode="paper"``; the
    #: user's ``overrides`` win.
    PAPER_OVERRIDES: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {"darts": {"ntk": {"batch_size": 14}}}
    #: Under ``draws="per_candidate"``, indicators whose network is the round's
    #: (the official code copies the round's NTK weights into every candidate;
    #: it builds a new linear-region network per candidate).
    ROUND_NETWORK: ClassVar[frozenset[str]] = frozenset({"ntk"})

    def __init__(self, *, preset: str = "paper", precision: int = 3, draws: str = "common", **kwargs: Any) -> None:
        check_choice("prune preset", preset, PRUNE_PRESETS)
        check_choice("prune draws", draws, DRAWS)
        super().__init__(**kwargs)
        self.preset = preset
        self.draws = draws
        if self.budget is not None:
            logger.warning("prune has a fixed cost; budget=%d is ignored", self.budget)
        self.precision = int(precision)
        self._mask: Mask = ()
        self._sums: dict[Removal, int] = {}

    def recipe(self) -> dict[str, Any]:
        return {**super().recipe(), "preset": self.preset, "draws": self.draws, "precision": self.precision}

    def _round_overrides(self, space: Space) -> dict[str, dict[str, Any]] | None:
        """Indicator settings of the pruning rounds: paper defaults, then the user's."""
        merged: dict[str, dict[str, Any]] = {}
        if self.mode == "paper":
            per_space = self.PAPER_OVERRIDES.get(space.name, {})
            for name in self.indicators:
                settings = {**self.PAPER_REPEATS.get(name, {}), **per_space.get(name, {})}
                if settings:
                    merged[name] = settings
        for name, settings in preset_settings(self.preset, space.name, self.indicators).items():
            merged[name] = {**merged.get(name, {}), **settings}
        for name, settings in (self.overrides or {}).items():
            merged[name] = {**merged.get(name, {}), **settings}
        return merged or None

    # -- the search ---------------------------------------------------------
    def _search(self, space: Space, state: SearchState) -> tuple[Hashable, dict[str, float]]:
        self._mask, self._sums = space.full_mask(), {}
        per_round = space.ops_pruned_per_round(self.dataset)
        total = self.planned_evaluations(space)
        rnd = 0
        while any(len(ops) > 1 for ops in self._mask):
            removals = [(e, op) for e, ops in enumerate(self._mask) if len(ops) > 1 for op in ops]
            order = self._rank_round(space, state, removals, rnd, "ops")
            pruned: list[Removal] = []
            for e, ops in enumerate(self._mask):
                drop = max(0, min(per_round, len(ops) - 1))
                pruned += [r for r in order if r[0] == e][:drop]
            self._apply(space, state, pruned)
            rnd += 1
            self._report(state.evaluations, total, f"round {rnd}")
        for group in space.input_groups():
            alive = [e for e in group if self._mask[e]]
            if len(alive) <= space.inputs_per_node:
                continue
            order = self._rank_round(space, state, [(e, None) for e in alive], rnd, "edges")
            self._apply(space, state, order[: len(order) - space.inputs_per_node])
            rnd += 1
            self._report(state.evaluations, total, f"edges {rnd}")
        arch = space.mask_to_arch(self._mask)
        # Scored like any single architecture (``tenas-automl score`` gives the same).
        values = self._evaluate(space, [space.arch_to_mask(arch)])
        return arch, {n: float(v[0]) for n, v in values.items()}

    def planned_evaluations(self, space: Space) -> int:
        """Candidate scorings a full search of ``space`` makes (NB201: 54)."""
        k = space.ops_pruned_per_round(self.dataset)
        counts, total = [len(ops) for ops in space.full_mask()], 0
        while any(c > 1 for c in counts):
            total += sum(c for c in counts if c > 1)
            counts = [max(1, c - k) if c > 1 else c for c in counts]
        full = space.full_mask()
        for group in space.input_groups():
            alive = sum(1 for e in group if full[e])
            total += alive if alive > space.inputs_per_node else 0
        return total

    # -- one round ------------------------------------------------------------
    def _rank_round(self, space: Space, state: SearchState, removals: Sequence[Removal], rnd: int, phase: str) -> list[Removal]:
        """Score the removals against the current supernet; most prunable first."""
        overrides = self._round_overrides(space)
        if self.draws == "common":
            # A fresh seed per round, as the official code re-initialises every round.
            values = self._score(
                space,
                [self._mask] + [_without(self._mask, r) for r in removals],
                self._draw_seed(rnd),
                overrides,
            )
            supernet = {n: float(np.mean(v[:, 0])) for n, v in values.items()}
            deltas = {n: self._deltas(n, v[:, :1], v[:, 1:]) for n, v in values.items()}
        else:
            supernet, deltas = self._per_candidate(space, removals, rnd, overrides)
        state.evaluations += len(removals)
        names = list(self.indicators)
        ranks, first_order = {}, None
        for n in names:
            # Prunable first: removal lowered a lower-is-better indicator, or
            # raised a higher-is-better one. Per-repeat changes arrive rounded.
            ranks[n], order = dense_rank(
                deltas[n],
                descending=not self.higher_is_better[n],
                precision=self.precision,
                round_first=not self._per_repeat,
            )
            first_order = order if first_order is None else first_order
        sums = sum(ranks[n] for n in names)
        # Ties of the sum keep the order of the first indicator's ranking, as the
        # official stable sort over its insertion-ordered dict does.
        assert first_order is not None
        if self.combinations:
            # A combination ranks the networks left by each removal: -d grows with the
            # candidate's value, so the most prunable removal leaves the best network.
            from tenas_automl.indicators import pool_ranking

            key = pool_ranking({n: -deltas[n] for n in names}, self.higher_is_better, self.combinations)
            ordered = sorted(first_order, key=lambda i: key[i])
            sums = np.empty(len(removals), dtype=int)
            sums[ordered] = np.arange(len(ordered))  # each removal's place in the order
        else:
            ordered = sorted(first_order, key=lambda i: sums[i])
        self._sums = {removals[i]: int(sums[i]) for i in range(len(removals))}
        state.history.append(
            {
                "round": rnd,
                "phase": phase,
                "supernet": supernet,
                "candidates": [
                    {
                        "edge": space.edges[e],
                        "op": op,
                        **{f"delta_{n}": float(deltas[n][i]) for n in names},
                        "rank_sum": int(sums[i]),
                    }
                    for i, (e, op) in enumerate(removals)
                ],
            }
        )
        return [removals[i] for i in ordered]

    def _draw_seed(self, *keys: int) -> int:
        """The evaluator seed of one draw (a round, or a round's candidate)."""
        return int(np.random.SeedSequence([self.seed, *keys]).generate_state(1)[0])

    @property
    def _per_repeat(self) -> bool:
        """Paper mode takes the relative change per repeat, as ``prune_tenas.py``."""
        return self.mode == "paper"

    def _repeats(self, name: str, overrides: dict[str, dict[str, Any]] | None) -> int:
        """Repeats indicator ``name`` makes under ``overrides`` (1 if it cannot be split)."""
        from tenas_automl.indicators import get_indicator

        settings = get_indicator(name, **(overrides or {}).get(name, {})).settings
        return settings.repeats if hasattr(settings, "first_repeat") else 1

    def _score(
        self,
        space: Space,
        masks: Sequence[Mask],
        seed: int,
        overrides: dict[str, dict[str, Any]] | None,
        names: Sequence[str] | None = None,
        first_draw: int = 0,
    ) -> dict[str, np.ndarray]:
        """Values of ``masks`` per repeat, shape (repeats, masks) per indicator.

        Paper mode scores each repeat on its own (``repeats=1``,
        ``first_repeat`` = ``first_draw`` + r: the same draws as one call with
        all repeats); clean mode makes one call, its mean as a single row.
        """
        names = list(self.indicators if names is None else names)
        if not self._per_repeat:
            return {n: v[None] for n, v in self._evaluate(space, masks, seed=seed, overrides=overrides, names=names).items()}
        reps = {n: self._repeats(n, overrides) for n in names}
        rows: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for r in range(max(reps.values())):
            now = [n for n in names if reps[n] > r]
            split = {
                n: {**(overrides or {}).get(n, {}), "repeats": 1, "first_repeat": first_draw + r}
                for n in now
                if reps[n] > 1 or first_draw
            }
            values = self._evaluate(space, masks, seed=seed, overrides={**(overrides or {}), **split}, names=now)
            for n in now:
                rows[n].append(values[n])
        return {n: np.stack(v) for n, v in rows.items()}

    def _per_candidate(
        self, space: Space, removals: Sequence[Removal], rnd: int, overrides: dict[str, dict[str, Any]] | None
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Each candidate against the supernet on batches (and networks) of its own.

        As ``prune_tenas.py``: the NTK network is the round's, each candidate
        with new batches; the other indicators (linear regions) get a network
        of their own per candidate. Returns the supernet's values (mean over
        the candidates' draws) and the relative changes.
        """
        refs: dict[str, list[np.ndarray]] = {n: [] for n in self.indicators}
        cands: dict[str, list[np.ndarray]] = {n: [] for n in self.indicators}
        kept = [n for n in self.indicators if n in self.ROUND_NETWORK]
        fresh = [n for n in self.indicators if n not in self.ROUND_NETWORK]
        for i, r in enumerate(removals):
            pair = [self._mask, _without(self._mask, r)]
            values: dict[str, np.ndarray] = {}
            if kept:
                draws = max(self._repeats(n, overrides) for n in kept)
                values |= self._score(space, pair, self._draw_seed(rnd), overrides, kept, first_draw=i * draws)
            if fresh:
                values |= self._score(space, pair, self._draw_seed(rnd, i + 1), overrides, fresh)
            for n, v in values.items():
                refs[n].append(v[:, 0])
                cands[n].append(v[:, 1])
        supernet = {n: float(np.mean(v)) for n, v in refs.items()}
        deltas = {n: self._deltas(n, np.stack(refs[n], 1), np.stack(cands[n], 1)) for n in self.indicators}
        return supernet, deltas

    def _deltas(self, name: str, ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Relative changes ``(ref - cand) / |ref|`` per repeat (rows), then their mean.

        ``ref`` is (repeats, 1) (shared by the candidates) or (repeats,
        candidates). In paper mode each repeat's change is rounded to
        ``precision`` decimals before the mean, as in ``prune_tenas.py``.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (ref - cand) / abs(ref)
        if self._per_repeat:
            d = np.vectorize(lambda x: round(float(x), self.precision) if math.isfinite(x) else x, otypes=[float])(d)
        d = d.mean(0)
        if not np.all(np.isfinite(d)):
            logger.warning(
                "%d of %d relative changes of %r are not finite (supernet value %s); NaN ranks as least prunable",
                int(np.sum(~np.isfinite(d))),
                len(d),
                name,
                ref.mean(),
            )
        return d

    def _apply(self, space: Space, state: SearchState, pruned: Sequence[Removal]) -> None:
        for r in pruned:
            self._mask = _without(self._mask, r)
        last = state.history[-1]
        last["pruned"] = [{"edge": space.edges[e], "op": op} for e, op in pruned]
        last["alive"] = {space.edges[e]: list(ops) for e, ops in enumerate(self._mask)}

    # -- Ctrl-C -----------------------------------------------------------------
    def _fallback(self, space: Space, state: SearchState) -> tuple[Hashable, dict[str, float]]:
        """Finish the current mask greedily from the latest ranking; not scored."""
        if not self._mask:
            self._mask = space.full_mask()
        keep = -math.inf

        def importance(r: Removal) -> float:
            return self._sums.get(r, keep)

        mask = list(self._mask)
        for e, ops in enumerate(mask):
            if len(ops) > 1:
                # Highest rank sum = least prunable; ties go to the first op.
                mask[e] = (max(ops, key=lambda o: importance((e, o))),)
        for group in space.input_groups():
            alive = [e for e in group if mask[e]]
            if len(alive) > space.inputs_per_node:
                best = sorted(alive, key=lambda e: -importance((e, None)))[: space.inputs_per_node]
                mask = [() if (e in alive and e not in best) else ops for e, ops in enumerate(mask)]
        return space.mask_to_arch(tuple(mask)), {}

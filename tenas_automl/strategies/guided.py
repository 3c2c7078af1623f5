"""The search steps of the integrations, as ask/tell objects: told what was measured, asked what to train next.

The Optuna sampler, the NNI strategies and the NNI tuner train what these
objects propose with the user's objective and tell them the values that come
back; the objects never see a framework. Two searches are written here once:

* :class:`GuidedEvolution` -- aging evolution on the *measured* values whose
  children are screened without training: a tournament among the most recent
  measured architectures picks the parent (best value; ties: the earlier),
  ``candidates`` distinct untried mutants of it are drawn, and the one the
  training-free ranking puts first is proposed.
* :class:`LocalSearch` -- the best untried neighbour of the best measured
  architecture (TE-NAS's pruning result until something is measured); when a
  neighbourhood is used up, the next best architecture's.

Where candidates come from is a :class:`CandidateSource` (a space, an NNI
model space, an NNI search-space dict: each integration adapts its own), and
which candidate is best is the ``rank`` callable the adapter passes, so its
indicator scores, caches and objective model stay its own. A seed gives the
same proposals whatever calls them: the generator is drawn in a fixed order.

Example:
    >>> import numpy as np
    >>> class Ring:  # architectures 0..99; a mutation moves up to 9 steps round the ring
    ...     tried: set[int] = set()
    ...     def sample(self, rng): return int(rng.integers(100))
    ...     def mutate(self, arch, rng): return (arch + int(rng.integers(-9, 10))) % 100
    ...     def key(self, arch): return arch
    ...     def is_fresh(self, arch): return arch not in self.tried
    >>> source, rng = Ring(), np.random.default_rng(0)
    >>> search = GuidedEvolution(population_size=4, tournament_size=2, candidates=3)
    >>> for arch, value in [(11, 0.3), (52, 0.9), (70, 0.1)]:
    ...     search.tell(arch, value)
    ...     source.tried.add(arch)
    >>> child = search.ask(source, rng, rank=lambda archs: int(np.argmax(archs)))
    >>> child in source.tried, 0 <= child < 100
    (False, True)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tenas_automl.strategies.selection import distinct_draws, tournament

#: Index of the best of a list of candidates by the training-free ranking.
Rank = Callable[[Sequence[Hashable]], int]


class CandidateSource(Protocol):
    """Where an integration's candidates come from, and which of them it has not tried yet."""

    def sample(self, rng: np.random.Generator) -> Hashable | None:
        """A uniform draw (None: nothing can be drawn)."""

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable | None:
        """A random one-step change of ``arch`` (None: it has none)."""

    def key(self, arch: Hashable) -> Hashable:
        """What makes two candidates the same (e.g. NB201 cells up to isomorphism)."""

    def is_fresh(self, arch: Hashable) -> bool:
        """Whether ``arch`` is allowed and not tried yet."""


@dataclass(frozen=True)
class Measured:
    """An architecture trained by the user's objective, and its value (higher is better)."""

    arch: Hashable
    value: float


def fresh_mutations(
    source: CandidateSource, parent: Hashable, n: int, rng: np.random.Generator, *, tries: int, walk: int = 0
) -> list[Hashable]:
    """Up to ``n`` distinct fresh one-step mutants of ``parent``, in the order drawn.

    With ``walk``, when every neighbour is taken the search steps further out
    (up to ``walk`` times; each step: four mutations of every frontier member),
    each draw mutating a frontier member chosen uniformly.
    """
    frontier = [parent]

    def draw() -> Hashable | None:
        return source.mutate(frontier[int(rng.integers(len(frontier)))] if walk else parent, rng)

    out: list[Hashable] = []
    for step in range(walk + 1):
        if step:  # every candidate nearer in is taken: one step further out
            frontier = [m for a in frontier for m in (source.mutate(a, rng) for _ in range(4)) if m is not None]
        out = distinct_draws(draw, n, tries=tries, key=source.key, accept=source.is_fresh)
        if out:
            break
    return out


def fresh_samples(
    source: CandidateSource, n: int, rng: np.random.Generator, *, tries: int, listed: Iterable[Hashable] | None = None
) -> list[Hashable]:
    """Up to ``n`` distinct fresh uniform draws; with ``listed`` (every candidate of a small space), what is
    left of it makes up for draws that keep hitting tried ones."""
    out = distinct_draws(lambda: source.sample(rng), n, tries=tries, key=source.key, accept=source.is_fresh)
    if listed is None or len(out) >= n:
        return out
    seen = {source.key(a) for a in out}
    for arch in listed:
        if len(out) >= n:
            break
        if source.key(arch) not in seen and source.is_fresh(arch):
            out.append(arch)
            seen.add(source.key(arch))
    return out


class _Told:
    """The measured architectures, in the order told."""

    def __init__(self) -> None:
        self.history: list[Measured] = []

    def tell(self, arch: Hashable, value: float) -> None:
        """Record the measured ``value`` (higher is better) of ``arch``; non-finite values are left out."""
        if np.isfinite(value):
            self.history.append(Measured(arch, float(value)))

    def best_first(self) -> list[Measured]:
        """Measured architectures by value, best first (ties: the earlier told)."""
        order = sorted(range(len(self.history)), key=lambda i: (-self.history[i].value, i))
        return [self.history[i] for i in order]


class GuidedEvolution(_Told):
    """Aging evolution on measured values whose children are screened by a training-free ranking.

    Args:
        population_size: the aging window: parents come from the last
            ``population_size`` architectures told.
        tournament_size: entrants of each parent's tournament.
        candidates: mutants drawn per proposal, of which ``rank`` picks one.
        mutation_tries, sample_tries: draws allowed for the mutants and for
            the uniform draws that replace them when the parent's
            neighbourhood is used up (default ``20 * candidates`` each).
        walk: steps further out from a used-up parent before uniform draws
            (see :func:`fresh_mutations`).
    """

    def __init__(
        self,
        *,
        population_size: int,
        tournament_size: int,
        candidates: int,
        mutation_tries: int | None = None,
        sample_tries: int | None = None,
        walk: int = 0,
    ) -> None:
        super().__init__()
        self.population_size, self.tournament_size, self.candidates = population_size, tournament_size, candidates
        self.mutation_tries = 20 * candidates if mutation_tries is None else mutation_tries
        self.sample_tries = 20 * candidates if sample_tries is None else sample_tries
        self.walk = walk

    def parent(self, rng: np.random.Generator) -> Measured | None:
        """The tournament winner among the last ``population_size`` told (None before any)."""
        window = self.history[-self.population_size :]
        if not window:
            return None
        entrants = tournament(rng, len(window), self.tournament_size)
        return window[int(max(entrants, key=lambda i: (window[i].value, -i)))]

    def children(
        self, source: CandidateSource, parent: Hashable, rng: np.random.Generator, listed: Iterable[Hashable] | None = None
    ) -> list[Hashable]:
        """``candidates`` fresh mutants of ``parent``; uniform fresh draws if it has none left."""
        kids = fresh_mutations(source, parent, self.candidates, rng, tries=self.mutation_tries, walk=self.walk)
        return kids or fresh_samples(source, self.candidates, rng, tries=self.sample_tries, listed=listed)

    def ask(self, source: CandidateSource, rng: np.random.Generator, rank: Rank) -> Hashable | None:
        """The next architecture to train (None: nothing measured yet, or nothing fresh left)."""
        parent = self.parent(rng)
        if parent is None:
            return None
        kids = self.children(source, parent.arch, rng)
        return kids[rank(kids)] if kids else None


class LocalSearch(_Told):
    """The best untried neighbour of the best measured architecture, by a training-free ranking.

    Args:
        start: where the search begins before anything is measured (TE-NAS's
            pruning result).
    """

    def __init__(self, start: Hashable) -> None:
        super().__init__()
        self.start = start

    def ask(
        self, neighbours: Callable[[Hashable], Sequence[Hashable]], rank: Rank, also: Sequence[Hashable] = ()
    ) -> Hashable | None:
        """The ranking's pick of the fresh ``neighbours`` of the best measured architecture; of the next
        best's when those are used up, then of ``also`` (e.g. architectures still training), then of
        ``start`` when there is nothing else (None: nothing fresh anywhere)."""
        centres = [m.arch for m in self.best_first()] + list(also)
        for centre in centres or [self.start]:
            candidates = neighbours(centre)
            if candidates:
                return candidates[rank(candidates)]
        return None


__all__ = ["CandidateSource", "GuidedEvolution", "LocalSearch", "Measured", "Rank", "fresh_mutations", "fresh_samples"]

"""How :class:`~tenas_automl.integrations.nni.tuner.TrainingFreeTuner` chooses its proposals, and its state.

The tuner's NNI interface, checkpoint files and set-up are in
:mod:`tenas_automl.integrations.nni.tuner`; this mixin holds the search and
what it knows (``state_dict``, ``load_state``): the candidates of each proposal (an indicator-scored pool before any metric,
then mutations of metric-driven tournament winners, or fresh uniform draws),
their scoring with the tuner's indicators, and the choice among them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import nni
import numpy as np

from tenas_automl.errors import TenasError
from tenas_automl.integrations.nni.config import arch_from_params, params_from_arch
from tenas_automl.spaces.params import ParamSpace
from tenas_automl.strategies.guided import GuidedEvolution, fresh_mutations, fresh_samples
from tenas_automl.strategies.selection import pick_best, tournament

if TYPE_CHECKING:
    from tenas_automl.config import ScoringConfig
    from tenas_automl.indicators.base import Indicator
    from tenas_automl.integrations.nni.config import Choices
    from tenas_automl.spaces import Space

STRATEGIES = ("evolution", "random")
OPTIMIZE_MODES = ("maximize", "minimize")
#: Indicator settings per preset, applied to the chosen indicators only. ``fast``
#: keeps each network but shrinks batches and repeats, for about 1/30 of
#: ``paper``'s cost per cell.
SCORING_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "fast": {
        "ntk": {"batch_size": 16, "repeats": 1},
        "lr": {"batch_size": 250, "batches": 1, "repeats": 1},
        "gen": {"batch_size": 16, "test_batch_size": 16, "repeats": 1},
        "naswot": {"batch_size": 32},
    },
    "paper": {},
}
logger = logging.getLogger("tenas_automl.integrations.nni.tuner")

_FORMAT = "tenas-automl/nni-tuner"
_RANDOM_TRIES = 200
_ENUMERATE_LIMIT = 200_000


@dataclass
class TrialRecord:
    """One trial the tuner knows of: proposed here, imported, or replayed on resume."""

    arch: str
    params: dict[str, Any]
    #: Scalar final metric; None for a failed trial or one still running.
    metric: float | None = None
    status: str = "running"  # running | succeeded | failed
    parameter_id: int | None = None
    trial_job_id: str | None = None


class TunerSearch:
    """The tuner's search, over the attributes the tuner sets up."""

    space: Space | ParamSpace
    choices: Choices | ParamChoices
    #: Parameters <-> architecture (:class:`SpaceCodec` or the :class:`ParamSpace` itself).
    codec: SpaceCodec | ParamSpace
    #: With ``model_fn``: builds the model of a parameter dict.
    model_fn: Any
    config: ScoringConfig
    strategy: str
    optimize_mode: str
    population_size: int
    candidates: int
    tournament_size: int
    threads: int | None
    rng: np.random.Generator
    indicators: tuple[str, ...]
    combinations: tuple[str, ...]
    higher_is_better: dict[str, bool]
    scores: dict[str, dict[str, float]]
    results: list[TrialRecord]
    tried: set[str]
    pool: list[str]
    _indicator_objs: list[Indicator]
    space_name: str
    settings_key: str
    pending: dict[int, TrialRecord]
    _ended: dict[int, TrialRecord]

    def _ready(self) -> None:
        raise NotImplementedError

    #: Whether ``threads`` was applied (torch's thread count is set once, at the first scoring).
    _threads_set: bool = False

    # -- state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue, JSON-ready (non-finite numbers as null)."""
        self._ready()
        return {
            "format": _FORMAT,
            "version": 1,
            "space": self.space_name,
            "settings": self.settings_key,
            "rng": self.rng.bit_generator.state,
            "results": [{**asdict(r), "metric": json_float(r.metric)} for r in self.results],
            "pending": [asdict(r) for r in self.pending.values()],
            "tried": sorted(self.tried),
            "pool": list(self.pool),
            "scores": {a: {n: json_float(v) for n, v in vals.items()} for a, vals in self.scores.items()},
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output. Trials that were in flight stay
        "tried" (NNI reruns them and replays their results via :meth:`import_data`);
        indicator values are kept only if they were computed with the same settings."""
        self._ready()
        if state.get("format") != _FORMAT:
            raise TenasError(f"not a TrainingFreeTuner checkpoint (format {state.get('format')!r})")
        if state.get("space") != self.space_name:
            raise TenasError(f"the checkpoint is of space {state.get('space')!r}, not {self.space_name!r}")
        self.rng.bit_generator.state = state["rng"]
        self.results = [record_of(r) for r in state.get("results", [])]
        self.tried = set(state.get("tried", []))
        self.tried.update(self._key(self.space.parse(r["arch"])) for r in state.get("pending", []))
        self.pending, self._ended = {}, {}
        self.pool = list(state.get("pool", []))
        if state.get("settings") == self.settings_key:
            self.scores = {
                a: {n: math.nan if v is None else float(v) for n, v in vals.items()}
                for a, vals in state.get("scores", {}).items()
            }
        else:
            logger.warning("indicator settings changed since the checkpoint; its indicator values are not reused")
            self.scores = {}

    def best(self) -> TrialRecord | None:
        """The finished trial with the best metric so far."""
        done = self._finished()
        return done[int(np.argmax([self._signed(r) for r in done]))] if done else None

    # -- proposals ---------------------------------------------------------------
    def _propose(self) -> Hashable:
        pool = self._fresh_samples(self.candidates) if self.strategy == "random" else self._evolution_candidates()
        if not pool:  # e.g. every neighbour of the parent was tried
            pool = self._fresh_samples(self.candidates)
        if not pool:
            raise nni.NoMoreTrialError(f"all {len(self.tried)} architectures the search space allows were proposed")
        return pool[self._argbest(self._score(pool))]

    def _evolution_candidates(self) -> list[Hashable]:
        search = GuidedEvolution(
            population_size=self.population_size, tournament_size=self.tournament_size, candidates=self.candidates,
            mutation_tries=_RANDOM_TRIES, sample_tries=_RANDOM_TRIES * self.candidates,
        )  # fmt: skip
        for record in self._finished()[-self.population_size :]:
            search.tell(self.space.parse(record.arch), self._signed(record))
        parent = search.parent(self.rng)
        if parent is not None:  # parents by reported metric: aging tournament over the last finished trials
            return self._fresh_mutations(parent.arch)
        # No metric yet: the indicator-scored pool, best first; then mutations of its tournament winners.
        if not self.pool:
            samples = self._fresh_samples(self.population_size)
            self._score(samples)
            self.pool = [self.space.format(a) for a in samples]
        archs = [self.space.parse(a) for a in self.pool]
        fresh = [a for a in archs if self._is_fresh(a)]
        if fresh:
            return fresh
        values = self._score(archs)
        pick = tournament(self.rng, len(archs), self.tournament_size)
        children = self._fresh_mutations(archs[int(pick[self._argbest([values[i] for i in pick])])])
        self.pool = (self.pool + [self.space.format(a) for a in children])[-self.population_size :]
        return children

    def _fresh_mutations(self, parent: Hashable) -> list[Hashable]:
        return fresh_mutations(_TunerSource(self), parent, self.candidates, self.rng, tries=_RANDOM_TRIES)

    def _fresh_samples(self, n: int) -> list[Hashable]:
        # Draws that keep hitting tried architectures are made up for by listing what is left, if the space is small.
        listed = (self.codec.arch(p) for p in self.choices.enumerate()) if self.choices.size() <= _ENUMERATE_LIMIT else None
        return fresh_samples(_TunerSource(self), n, self.rng, tries=_RANDOM_TRIES * n, listed=listed)

    def _is_fresh(self, arch: Hashable) -> bool:
        return self._key(arch) not in self.tried and self.choices.contains(self.codec.params(arch))

    def _key(self, arch: Hashable) -> str:
        """Dedup key (:meth:`~tenas_automl.spaces.Space.dedup_key`): NB201 cells up to isomorphism, DARTS
        genotypes up to pair order, a model's parameters as JSON."""
        return self.space.dedup_key(arch)

    # -- indicators and metrics ----------------------------------------------------
    def _score(self, archs: Sequence[Hashable]) -> list[dict[str, float]]:
        """Indicator values of ``archs``; uncached ones are scored in one call."""
        names = [self.space.format(a) for a in archs]
        todo = list(dict.fromkeys(n for n in names if n not in self.scores))
        if todo:
            if self.threads is not None and not self._threads_set:  # once, before the first scoring
                import torch

                torch.set_num_threads(self.threads)
                self._threads_set = True
            self.scores.update(self._score_models(todo) if self.model_fn is not None else self._score_cells(todo))
        return [self.scores[n] for n in names]

    def _score_cells(self, todo: Sequence[str]) -> dict[str, dict[str, float]]:
        from tenas_automl.indicators.runner import score_in_context, shared_context

        kwargs = self.config.evaluate_kwargs()
        del kwargs["overrides"]  # applied to the indicator objects
        ctx = shared_context(self.space, **kwargs)  # the seeded networks and batches of earlier proposals
        masks = [self.space.arch_to_mask(self.space.parse(n)) for n in todo]  # type: ignore[union-attr]
        values = {ind.name: score_in_context(ctx, ind, masks) for ind in self._indicator_objs}
        return {n: {k: float(v[i]) for k, v in values.items()} for i, n in enumerate(todo)}

    def _score_models(self, todo: Sequence[str]) -> dict[str, dict[str, float]]:
        """Each candidate's ``model_fn(params)`` scored by :func:`~tenas_automl.model_scoring.score_params`;
        one that cannot be built or scored gets NaN (it ranks last), with a warning naming it."""
        from tenas_automl.model_scoring import score_params

        out = {}
        for n in todo:
            params = self.codec.params(self.space.parse(n))
            try:
                out[n] = score_params(self.model_fn, params, self.config)
            except TenasError as exc:
                logger.warning("candidate %s could not be scored (it ranks last): %s", n, exc)
                out[n] = {k: math.nan for k in self.indicators}
        return out

    def _argbest(self, rows: Sequence[Mapping[str, float]]) -> int:
        """Best by the indicators' rank sum (TE-NAS) or the combination named, ties to the first;
        non-finite values rank last."""
        return pick_best({n: [r[n] for r in rows] for n in self.indicators}, self.higher_is_better, self.combinations)

    def _finished(self) -> list[TrialRecord]:
        return [r for r in self.results if r.metric is not None and math.isfinite(r.metric)]

    def _signed(self, record: TrialRecord) -> float:
        assert record.metric is not None
        return record.metric if self.optimize_mode == "maximize" else -record.metric


@dataclass(frozen=True)
class _TunerSource:
    """The tuner's draws as a :class:`~tenas_automl.strategies.guided.CandidateSource`: its choices, its
    dedup keys, and what it has proposed."""

    tuner: TunerSearch

    def sample(self, rng: np.random.Generator) -> Hashable:
        return self.tuner.codec.arch(self.tuner.choices.sample(rng))

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable | None:
        child = self.tuner.choices.mutate(self.tuner.codec.params(arch), rng)
        return None if child is None else self.tuner.codec.arch(child)

    def key(self, arch: Hashable) -> str:
        return self.tuner._key(arch)

    def is_fresh(self, arch: Hashable) -> bool:
        return self.tuner._is_fresh(arch)


@dataclass(frozen=True)
class SpaceCodec:
    """NNI parameters <-> architectures of a :class:`~tenas_automl.spaces.Space`."""

    space: Space

    def params(self, arch: Hashable) -> dict[str, Any]:
        return params_from_arch(arch, self.space)

    def arch(self, params: Mapping[str, Any]) -> Hashable:
        return arch_from_params(params, self.space)


@dataclass(frozen=True)
class ParamChoices:
    """A :class:`ParamSpace` seen as the tuner's choices: draws and mutations as parameter dicts."""

    space: ParamSpace

    def contains(self, params: Mapping[str, Any]) -> bool:
        return self.space.contains(params)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.space.params(self.space.sample(rng))

    def mutate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any] | None:
        arch = self.space.arch(params)
        child = self.space.mutate(arch, rng)
        return None if child == arch else self.space.params(child)

    def size(self) -> int | float:
        return self.space.size()

    def enumerate(self) -> Any:
        return (self.space.params(v) for v in self.space.enumerate())


def json_float(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def record_of(row: Mapping[str, Any]) -> TrialRecord:
    metric = row.get("metric")
    return TrialRecord(
        arch=str(row["arch"]), params=dict(row["params"]), metric=None if metric is None else float(metric),
        status=str(row.get("status", "succeeded")), parameter_id=row.get("parameter_id"),
        trial_job_id=row.get("trial_job_id"),
    )  # fmt: skip


def positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise TenasError(f"{name} must be a positive integer, got {value!r}")
    return int(value)

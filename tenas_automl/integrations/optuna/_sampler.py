"""``TrainingFreeSampler``: an Optuna sampler that proposes architectures screened without training.

The architecture parameters (see :mod:`._params`) are sampled
*relatively*, a whole architecture per trial; every other parameter goes to a
fallback sampler (TPE by default). All state is rebuilt from the study's
storage at each trial, so several processes can share one study and a resumed
study continues where it stopped.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from tenas_automl._compat import renamed
from tenas_automl.config import ScoringConfig, scoring_config
from tenas_automl.errors import TenasError, check_choice
from tenas_automl.integrations.optuna._choice import CandidateChooser
from tenas_automl.integrations.optuna._once import run_once
from tenas_automl.integrations.optuna._param_space import ParamSpace
from tenas_automl.integrations.optuna._params import ArchitectureParamError, get_codec
from tenas_automl.integrations.optuna._scores import ModelTrialScorer, TrialScorer
from tenas_automl.integrations.optuna._storage import StaleTrialError, beating
from tenas_automl.integrations.optuna._view import Key, StudyReader
from tenas_automl.spaces import Space, resolve_space
from tenas_automl.strategies.surrogate import check_weight

if TYPE_CHECKING:
    from tenas_automl.strategies import ProgressFn, SearchResult

logger = logging.getLogger(__name__)

SAMPLER_STRATEGIES = ("evolution", "prune")
#: User attribute naming how the trial's architecture was chosen.
ORIGIN_ATTR = "tenas:origin"
_PRUNE_ATTR = "tenas:prune_result"
_CLAIM_ATTEMPTS = 6


def _is_prune_doc(doc: object) -> bool:
    return isinstance(doc, Mapping) and isinstance(doc.get("arch"), str)


class TrainingFreeSampler(CandidateChooser, StudyReader, BaseSampler):
    """Propose architectures ranked by training-free indicators.

    ``strategy="evolution"``: the first ``n_startup_trials`` trials each take
    the best (by indicator rank sum) of ``candidates`` random
    architectures. Afterwards a tournament of ``tournament_size`` drawn from
    the ``population_size`` most recent completed trials picks a parent by
    objective value (respecting the study direction; by indicator rank sum
    while fewer trials than ``n_startup_trials`` have values, e.g. when a
    pruner stops them); ``candidates`` distinct one-step mutations
    of it are scored without training and the best one not yet tried is
    proposed.

    ``strategy="prune"``: runs the TE-NAS pruning search once per study (its
    result is stored in the study, so other processes and resumed runs reuse
    it; of processes that start together on a new study one runs it and
    the others wait, see :mod:`._once`; a Ctrl-C during the run
    stores nothing) and proposes its architecture first; every later trial proposes the
    indicator-best untried neighbour (one mutation) of the best trial so far
    (the pruning result until a trial completes). With the NB201 accuracy as
    objective, ``strategy="prune"`` with ``ntk, lr`` and the NTK on 32 images
    (``overrides={"ntk": {"batch_size": 32}}``, the ``fast`` pruning preset)
    is the best recipe measured, level with TPE after five times as many
    trials; ``lr`` alone comes close in seconds per study. Figures and
    commands: ``benchmarks/README.md``, section "Optuna".

    Once two trials have values, both strategies rank a trial's candidates by
    the indicators' rank sum plus ``surrogate_weight`` times their rank under
    an additive model of the objective fitted to the completed trials (ridge
    regression on the one-hot ops, :mod:`tenas_automl.strategies.surrogate`):
    an edit that made one measured cell worse then counts against the same
    edit in its neighbours, which the indicators cannot know.

    Completed trials without this space's architecture parameters (suggested
    under other names) are ignored, with a warning; parameters under this
    space's names with other choices are an error.

    No architecture that another trial of the study has (finished, running,
    waiting or failed) is proposed again while untried ones remain. Each trial
    records ``tenas:arch``, the indicator values (``tenas:ntk``, ...),
    ``tenas:settings``, ``tenas:scores`` (values by settings, see
    :mod:`._scores`) and ``tenas:origin`` in its user attributes.

    Example:
        .. code-block:: python

            import optuna
            from tenas_automl import get_space
            from tenas_automl.integrations.optuna import TrainingFreeSampler, suggest_architecture

            space = get_space("nb201")
            sampler = TrainingFreeSampler(space, "prune", ("ntk", "lr"), seed=0,
                                          overrides={"ntk": {"batch_size": 32}})
            study = optuna.create_study(direction="maximize", sampler=sampler)
            study.optimize(lambda t: space.benchmark_accuracy(suggest_architecture(t, space), "cifar10"),
                           n_trials=20)

    Args:
        space: the search space (object or name).
        strategy: ``"evolution"`` or ``"prune"``.
        indicators: indicator names ranked by their rank sum (TE-NAS: ntk, lr); a combination
            (``ensemble``, ``az``) is scored by its members and ranks by its log-rank sum.
        seed: seeds the proposals (per trial number, so a run is deterministic
            regardless of timing) and, unless ``indicator_seed`` is given, the
            indicators. None: random.
        fallback: sampler for parameters other than the architecture
            (default: ``TPESampler(seed=seed)``).
        candidates: architectures scored per proposal (formerly ``candidates_per_trial``).
        n_startup_trials, population_size, tournament_size: evolution settings.
            The defaults (5 startup trials, 12 candidates) were chosen on
            synthetic indicators of the measured rank correlation
            (``benchmarks/optuna_sampler_sim.py``) and checked with the real
            ones. The search goes where the indicators point: a cell whose
            better neighbour they all rank low stops it.
        device, dataset, data_dir, mode, overrides: indicator evaluation, as
            for :func:`tenas_automl.indicators.evaluate`.
        indicator_seed: seed of the indicators' weights and batches.
        cache_dir, use_cache: the on-disk score cache
            (:func:`tenas_automl.scoring.score_many`).
        progress: ``progress(done, total, info)`` during this object's TE-NAS
            pruning run (``strategy="prune"``: evaluations done of the 54 on
            NB201, after each round), which takes minutes inside the first trial.
        pruned: ``strategy="prune"``: a TE-NAS pruning result computed
            earlier (an architecture or its string, e.g. the ``arch`` of
            ``tenas-automl run`` with the same indicators and settings): the
            study starts from it instead of running the pruning. A result
            already stored in the study still takes precedence.
        surrogate_weight: weight of the objective model's rank beside the
            indicators' (0: indicators only). The default 0.5 was chosen with
            ``lr`` on seeds 0-39 of the NB201 benchmark (weights 0.5 and 1
            alike, 2 no better than 0).
        config: the indicators and their settings as one
            :class:`~tenas_automl.ScoringConfig`, instead of ``indicators``,
            ``indicator_seed`` and the indicator evaluation arguments.
        model_fn, search_space: for any objective instead of a space:
            ``search_space`` is ``{name: distribution}`` of the parameters that
            shape the model (categorical, int, float, log), ``model_fn(params)``
            builds it, and candidates are scored by
            :func:`tenas_automl.score_model` (default ``naswot``; evolution
            only; the objective model is off unless every parameter is
            categorical). Other parameters go to ``fallback``.
    """

    def __init__(
        self,
        space: Space | str | None = None,
        strategy: str = "evolution",
        indicators: Sequence[str] | None = None,
        *,
        seed: int | None = None,
        fallback: BaseSampler | None = None,
        candidates: int | None = None,
        n_startup_trials: int = 5,
        population_size: int = 20,
        tournament_size: int = 5,
        device: str = "auto",
        dataset: str = "cifar10",
        data_dir: str | None = None,
        mode: str = "paper",
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        indicator_seed: int | None = None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        progress: ProgressFn | None = None,
        pruned: Hashable | str | None = None,
        surrogate_weight: float = 0.5,
        config: ScoringConfig | None = None,
        candidates_per_trial: int | None = None,
        model_fn: Callable[[dict[str, Any]], Any] | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
    ) -> None:
        candidates = renamed("TrainingFreeSampler", "candidates", candidates, "candidates_per_trial", candidates_per_trial, 12)
        if (model_fn is None) != (search_space is None) or (model_fn is not None and space is not None):
            raise TenasError(
                "TrainingFreeSampler takes a space (nb201, darts), or model_fn and search_space for any "
                "objective; got " + ", ".join(n for n, v in (("space", space), ("model_fn", model_fn),
                                                             ("search_space", search_space)) if v is not None)
            )  # fmt: skip
        if model_fn is not None and strategy != "evolution":
            raise TenasError(f"with model_fn the sampler's strategy is evolution (pruning needs a supernet), got {strategy!r}")
        self.space: Any = ParamSpace(search_space) if search_space is not None else resolve_space(space)
        self.progress = progress
        self.strategy = check_choice("sampler strategy", strategy, SAMPLER_STRATEGIES)
        for name, value in (
            ("candidates", candidates),
            ("population_size", population_size),
            ("tournament_size", tournament_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TenasError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or n_startup_trials < 0:
            raise TenasError(f"n_startup_trials must be a non-negative integer, got {n_startup_trials!r}")
        self.surrogate_weight = check_weight(surrogate_weight)
        self.candidates = candidates
        self.n_startup_trials = n_startup_trials
        self.population_size, self.tournament_size = population_size, tournament_size
        self._fixed_seed = seed is not None
        self._seed = int(seed) if seed is not None else random.SystemRandom().randrange(2**31)
        self.codec: Any = self.space if model_fn is not None else get_codec(self.space)
        ind_seed = indicator_seed if indicator_seed is not None else (seed if seed is not None and config is None else None)
        default = ("ntk", "lr") if model_fn is None else ("naswot",)
        config = scoring_config(
            config, indicators, default, seed=ind_seed, device=device, dataset=dataset, data_dir=data_dir,
            mode=mode, overrides=overrides,
        )  # fmt: skip
        if model_fn is not None:
            self.scorer: TrialScorer = ModelTrialScorer(model_fn, config, params_of=self.space.params)
            if not self.space.categorical:  # its one-hot model of the objective needs categories
                self.surrogate_weight = 0.0
        else:
            self.scorer = TrialScorer(self.space, self.codec, config, cache_dir=cache_dir, use_cache=use_cache)
        self.fallback: BaseSampler = fallback if fallback is not None else TPESampler(seed=seed)
        self._lock = threading.RLock()
        self._parsed: dict[str, Key | None] = {}
        self._checked: set[int] = set()
        if pruned is not None and self.strategy != "prune":
            raise TenasError(f"pruned= is the start of strategy='prune'; this sampler's strategy is {strategy!r}")
        self._prune_arch: Hashable | None = None
        if pruned is not None:  # parsing checks it, also when given as an architecture object
            self._prune_arch = self.space.parse(pruned if isinstance(pruned, str) else self.space.format(pruned))
        #: The pruning search this object ran (None if it read another process's result).
        self.prune_result: SearchResult | None = None

    def __repr__(self) -> str:
        return (
            f"TrainingFreeSampler({self.space.name!r}, strategy={self.strategy!r}, "
            f"indicators={self.scorer.indicators}, seed={self._seed})"
        )

    @property
    def candidates_per_trial(self) -> int:
        """Former name of :attr:`candidates`."""
        return self.candidates

    # -- BaseSampler ---------------------------------------------------------------
    def reseed_rng(self) -> None:
        # Proposals draw from a generator keyed by trial number, so threads never
        # share a stream; an explicit seed is kept for reproducibility.
        if not self._fixed_seed:
            self._seed = random.SystemRandom().randrange(2**31)
        self.fallback.reseed_rng()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.fallback.before_trial(study, trial)
        given = self._given_params(trial)
        if given is not None:
            # An enqueued or retried architecture never reaches sample_relative: record it here.
            origin = "retry" if "failed_trial" in trial.system_attrs else "enqueued"
            try:
                with beating(study, trial._trial_id):
                    self._record(study, trial, self.codec.arch(given), origin)
            except BaseException as exc:
                # Optuna calls this outside the objective's try: without this, an error or a Ctrl-C
                # here would leave the trial RUNNING in storage for good (a stale one is failed already).
                if not isinstance(exc, StaleTrialError):
                    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                raise

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        self._check_study(study)
        space = {
            k: v for k, v in self.fallback.infer_relative_search_space(study, trial).items() if k not in self.codec.distributions
        }
        space.update(self.codec.distributions)
        return space

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        other = {k: v for k, v in search_space.items() if k not in self.codec.distributions}
        params = dict(self.fallback.sample_relative(study, trial, other)) if other else {}
        if not any(k in self.codec.distributions for k in search_space):
            return params
        given = self._given_params(trial)
        if given is not None:
            # Enqueued or retried (recorded in before_trial): Optuna prefers fixed and stored
            # parameters to these; a retry of a claim alone has only these.
            params.update(given)
            return params
        with beating(study, trial._trial_id):
            arch = self._propose(study, trial)
        params.update(self.codec.params(arch))
        return params

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.fallback.after_trial(study, trial, state, values)
        if state == TrialState.FAIL:
            return
        if not self.codec.has_arch(trial.params):
            if state == TrialState.COMPLETE:
                self.codec.arch(trial.params)  # raises, naming the expected parameters
            return
        arch = self.codec.arch(trial.params)
        latest = study._storage.get_trial(trial._trial_id)
        if self.scorer.stored(latest, self.space.format(arch)) is None:
            # Some parameters were fixed or sampled elsewhere: attrs must describe the arch trained.
            self.scorer.write(study, trial._trial_id, arch, self.scorer.score(arch))

    # -- proposals -------------------------------------------------------------------
    def _propose(self, study: optuna.Study, trial: FrozenTrial) -> Hashable:
        """Choose an architecture and claim it in storage, avoiding concurrent duplicates.

        Threads of this process are serialised by a lock. Processes cannot share
        it, so each writes its claim and then re-reads every other trial: seeing
        the same arch there means both may have chosen it, and this trial backs
        off (random delay) and picks again. Of two clashing claims, the one
        written last always sees the other, so no two trials keep the same arch.
        """
        rng = np.random.default_rng([self._seed, trial.number])
        jitter = random.Random()
        with self._lock:
            arch, origin = None, ""
            for attempt in range(_CLAIM_ATTEMPTS):
                view = self._view(study, trial)
                arch, origin = self._choose(study, view, rng)
                self._record(study, trial, arch, origin)
                if self.codec.key(arch) not in self._other_claims(study, trial):
                    return arch
                logger.debug("trial %d: %s is claimed by another trial; retrying", trial.number, arch)
                time.sleep(jitter.uniform(0.02, 0.2) * (attempt + 1))
            logger.warning("trial %d: could not avoid a concurrent duplicate of %s", trial.number, arch)
            return arch

    def _record(self, study: optuna.Study, trial: FrozenTrial, arch: Hashable, origin: str) -> None:
        values = self.scorer.score(arch)
        try:
            self.scorer.write(study, trial._trial_id, arch, values)
            study._storage.set_trial_user_attr(trial._trial_id, ORIGIN_ATTR, origin)
        except optuna.exceptions.UpdateFinishedTrialError:  # failed as stale by another worker meanwhile
            raise StaleTrialError(trial.number) from None

    def _pruned_arch(self, study: optuna.Study) -> Hashable:
        """The TE-NAS pruning result, computed once per study and settings (by one of its processes)."""
        ranking = "".join(f"/{c}" for c in self.scorer.combinations)
        attr = f"{_PRUNE_ATTR}:{'/'.join(self.scorer.settings_keys[n] for n in self.scorer.indicators)}{ranking}"
        stored = study._storage.get_study_system_attrs(study._study_id).get(attr)
        if not _is_prune_doc(stored) and self._prune_arch is not None:
            # Given as pruned=, or this sampler pruned for another study with the same settings.
            study._storage.set_study_system_attr(study._study_id, attr, {"arch": self.space.format(self._prune_arch)})
            return self._prune_arch
        doc = stored if _is_prune_doc(stored) else run_once(study, attr, self._run_pruning, _is_prune_doc, tag=self)
        self._prune_arch = self.space.parse(doc["arch"])
        return self._prune_arch

    def _run_pruning(self) -> dict[str, Any]:
        from tenas_automl.scoring import CachedEvaluator, ScoreCache
        from tenas_automl.strategies import get_strategy

        s = self.scorer
        # On the score cache, a pruning interrupted with its study resumes where it stopped.
        cache = ScoreCache(s.cache_dir) if s.use_cache else None
        try:
            result = get_strategy(
                "prune", config=s.config, progress=self.progress, evaluator=None if cache is None else CachedEvaluator(cache)
            ).search(self.space)
        finally:
            if cache is not None:
                cache.close()
        if result.interrupted:
            # A partial pruning must not become the study's result.
            raise KeyboardInterrupt
        logger.info("TE-NAS pruning chose %s in %.1f s", result.arch_str, result.seconds)
        self.prune_result = result
        return {"arch": result.arch_str, "seconds": result.seconds, "evaluations": result.evaluations}


__all__ = ["SAMPLER_STRATEGIES", "ArchitectureParamError", "TrainingFreeSampler"]

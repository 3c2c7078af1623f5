"""NNI evaluators that need no training: the NB201 benchmark table, or the indicators.

Both are :class:`nni.nas.evaluator.FunctionalEvaluator` instances whose
function receives the *frozen model space* (``ExecutableModelSpace``, with its
``sample``) instead of an instantiated network, so no network is built just
to look a number up. The functions are module-level and their arguments
plain values, so NNI can serialise them for its training-service engine too.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import nni
import numpy as np
from nni.nas.evaluator import FunctionalEvaluator

from tenas_automl.config import ScoringConfig, ScoringSettings, scoring_config
from tenas_automl.errors import TenasError, check_choice
from tenas_automl.indicators import evaluate, get_indicator
from tenas_automl.indicators.base import derive_seed
from tenas_automl.integrations.nni._mapping import resolve_space, sample_keys, to_arch
from tenas_automl.integrations.nni._models import ModelScorer
from tenas_automl.spaces.base import Space
from tenas_automl.spaces.nb201_benchmark import BENCHMARK_DATASETS

if TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)


class SampleEvaluator(FunctionalEvaluator):
    """A FunctionalEvaluator whose function gets the frozen ``ExecutableModelSpace``.

    NNI's default builds the network first (``model.executable_model()``); the
    evaluators here only need the sample, or build their own networks.
    """

    def _execute(self, model: Any) -> Any:
        return self.evaluate(model)


def _cell_sample(model: Any, space: Space) -> dict[str, Any]:
    sample = getattr(model, "sample", None)
    if not isinstance(sample, Mapping):
        raise TenasError(
            "this evaluator reads the architecture from the frozen NNI model it is given; "
            f"got {type(model).__name__} without a sample"
        )
    keys = set(sample_keys(space))
    return {k: v for k, v in sample.items() if k in keys}


def _report(value: float) -> float:
    # Inside an NNI engine report it; called directly, just return it.
    if nni.get_current_parameter() is not None:
        nni.report_final_result(value)
    return value


def benchmark_trial(model: Any, space: str, dataset: str) -> float:
    """Report the NAS-Bench-201 test accuracy (%, 200 epochs) of the frozen model's architecture."""
    sp = resolve_space(space)
    arch = to_arch(_cell_sample(model, sp), sp)
    return _report(float(sp.benchmark_accuracy(arch, dataset)))


def benchmark_evaluator(space: Space | str = "nb201", dataset: str = "cifar10") -> FunctionalEvaluator:
    """An NNI evaluator whose metric is the NAS-Bench-201 accuracy of each model: no training, no GPU.

    Works with NNI's ``NasBench201`` hub space (labels ``cell/j_i``); the
    accuracy is the benchmark's mean test accuracy after 200 epochs on
    ``dataset`` (``cifar10``, ``cifar100`` or ``ImageNet16-120``), read from
    the table bundled with tenas-automl.
    """
    sp = resolve_space(space)
    if not sp.benchmark_datasets:
        raise TenasError(f"space {sp.name!r} has no benchmark table; benchmark_evaluator needs one (nb201)")
    check_choice("dataset", dataset, BENCHMARK_DATASETS)
    return SampleEvaluator(benchmark_trial, space=sp.name, dataset=dataset)


# -- training-free evaluation ------------------------------------------------------
_REFERENCE_CACHE: dict[str, dict[str, np.ndarray]] = {}


#: The metric of a model the indicators cannot score (no path from input to output, singular
#: kernel): finite, so that JSON and NNI's web UI take it, and below any real score.
WORST_METRIC = -1e9


def _signed(value: float, higher_is_better: bool) -> float:
    """``value`` with "higher is better"; WORST_METRIC where it is not finite."""
    g = value if higher_is_better else -value
    return float(g) if math.isfinite(g) else WORST_METRIC


def reference_score(
    values: Mapping[str, float], reference: Mapping[str, np.ndarray], higher_is_better: Mapping[str, bool]
) -> float:
    """Mean over indicators of the model's standard score against a reference sample; higher is better.

    For each indicator, values are log-transformed when every finite reference
    value is positive (condition numbers and region counts span orders of
    magnitude), then ``z = (t(v) - mean) / std`` over the reference, signed so
    that better is higher. Unlike a rank against the reference, it keeps
    ordering models better than every reference architecture. A value that
    cannot be scored (non-finite, or not positive where logs are taken) gives
    :data:`WORST_METRIC`.
    """
    scores = []
    for name, v in values.items():
        ref = np.asarray(reference[name], dtype=float)
        ref = ref[np.isfinite(ref)]
        use_log = len(ref) > 0 and bool(np.all(ref > 0))
        if not math.isfinite(v) or (use_log and v <= 0):
            return WORST_METRIC
        t, tv = (np.log(ref), math.log(v)) if use_log else (ref, v)
        sd = float(np.std(t, ddof=1)) if len(t) > 1 else 0.0
        z = (tv - float(np.mean(t))) / sd if sd > 0 else 0.0
        scores.append(z if higher_is_better[name] else -z)
    return float(np.mean(scores))


def _reference_values(space: Space, names: Sequence[str], reference: int, options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    key = json.dumps([space.name, list(names), reference, dict(options)], sort_keys=True, default=str)
    if key not in _REFERENCE_CACHE:
        rng = np.random.default_rng(derive_seed(int(options["seed"]), "nni-reference"))
        archs = [space.sample(rng) for _ in range(reference)]
        _REFERENCE_CACHE[key] = evaluate(space, [space.arch_to_mask(a) for a in archs], list(names), **options)
    return _REFERENCE_CACHE[key]


def training_free_trial(
    model: Any,
    space: str | None,
    indicators: list[str],
    reference: int,
    options: dict[str, Any],
) -> float:
    """Score the frozen model with the indicators and report one number (higher is better)."""
    directions = {n: get_indicator(n).higher_is_better for n in indicators}
    if space is None:
        scorer = ModelScorer(indicators, **options)
        values = scorer.score(lambda: model.executable_model())
    else:
        sp = resolve_space(space)
        arch = to_arch(_cell_sample(model, sp), sp)
        raw = evaluate(sp, [sp.arch_to_mask(arch)], list(indicators), **options)
        values = {n: float(raw[n][0]) for n in indicators}
    if reference > 0:
        assert space is not None
        ref = _reference_values(resolve_space(space), indicators, reference, options)
        metric = reference_score(values, ref, directions)
    else:
        (name,) = indicators
        metric = _signed(values[name], directions[name])
    logger.debug("training-free metric %.4g from %s", metric, values)
    return _report(metric)


def training_free_evaluator(
    space: Space | str | None = "nb201",
    indicators: Sequence[str] | None = None,
    *,
    reference: int | None = None,
    config: ScoringConfig | None = None,
    **settings: Unpack[ScoringSettings],
) -> FunctionalEvaluator:
    """An NNI evaluator whose metric is a training-free score: ``NasExperiment`` runs without training.

    With one indicator and ``reference=0`` the metric is its value, negated if
    lower is better. Otherwise it is :func:`reference_score`, the mean
    standard score against ``reference`` (default 32) random architectures of
    ``space``, scored once per process with the same settings. ``space=None``
    scores the frozen model itself (any NNI model space; one model-agnostic
    indicator, no reference). Models that cannot be scored get
    :data:`WORST_METRIC`. A combination (``ensemble``) counts as its members.
    ``config`` gives the indicators and their settings as one
    :class:`~tenas_automl.ScoringConfig` instead of ``indicators`` to ``overrides``.
    """
    config = scoring_config(config, indicators, ("ntk", "lr"), **settings)
    names = list(config.members)
    if space is None:
        from tenas_automl.integrations.nni._models import check_model_indicators

        check_model_indicators(names)
        ref = 0 if reference is None else reference
        if ref != 0 or len(names) != 1:
            raise TenasError(
                "training_free_evaluator(space=None) scores one indicator per model; "
                "combining several needs a reference sample of one of our spaces (nb201, darts)"
            )
        space_name = None
    else:
        space_name = resolve_space(space).name
        ref = (32 if len(names) > 1 else 0) if reference is None else int(reference)
        if ref < 0 or (ref == 0 and len(names) > 1):
            raise TenasError(f"reference must be >= 1 to combine {len(names)} indicators, got {reference!r}")
    options = config.evaluate_kwargs()  # plain JSON: NNI serialises the evaluator's arguments
    return SampleEvaluator(training_free_trial, space=space_name, indicators=names, reference=ref, options=options)

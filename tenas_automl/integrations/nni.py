"""NNI 3.0 integration: training-free strategies and evaluators for ``NasExperiment``.

Needs the ``nni`` extra (``pip install 'tenas-automl[nni]'``: NNI 3.0 and
pytorch-lightning); importing this module without them raises
:class:`MissingDependencyError` saying so. The rest of tenas-automl never
imports NNI.

Strategies (subclasses of ``nni.nas.strategy.Strategy``) that screen
architectures with training-free indicators and submit only ``budget`` of them
to NNI's engine; they detect NNI's ``NasBench201`` and ``DARTS`` hub spaces
and score them on our supernets with the papers' settings::

    from nni.nas.experiment import NasExperiment, NasExperimentConfig
    from nni.nas.hub.pytorch import NasBench201
    from tenas_automl.integrations.nni import TENASPruningStrategy, benchmark_evaluator

    config = NasExperimentConfig("sequential", "simplified")   # in-process, no web UI
    config.max_trial_number = 20
    exp = NasExperiment(NasBench201(), benchmark_evaluator("nb201"), TENASPruningStrategy(budget=20), config)
    exp.run()
    print(exp.export_top_models(formatter="dict"))             # -> to_arch(sample, "nb201")

:class:`IndicatorEvolutionStrategy` also searches any other NNI model space,
scoring frozen models with model-agnostic indicators (``ntk``, ``naswot``, ...).
:func:`training_free_evaluator` makes the indicators the metric, so an
experiment runs without any training; :func:`run_nni_experiment` does the whole
thing in one call (what ``tenas-automl run --engine nni`` uses).
"""

from __future__ import annotations

from tenas_automl.integrations._nni_compat import INSTALL_HINT, MissingDependencyError, require_nni

require_nni()

from tenas_automl.integrations._nni_codecs import Codec, ModelCodec, SpaceCodec, make_codec  # noqa: E402
from tenas_automl.integrations._nni_compat import use_json_checkpoints  # noqa: E402
from tenas_automl.integrations._nni_evaluators import (  # noqa: E402
    WORST_METRIC,
    SampleEvaluator,
    benchmark_evaluator,
    reference_score,
    training_free_evaluator,
)
from tenas_automl.integrations._nni_mapping import (  # noqa: E402
    NB201_TO_NNI,
    detect_space,
    from_arch,
    nni_op_names,
    sample_keys,
    to_arch,
)
from tenas_automl.integrations._nni_models import MODEL_INDICATORS, ModelScorer  # noqa: E402
from tenas_automl.integrations._nni_run import (  # noqa: E402
    EVALUATORS,
    NNI_STRATEGIES,
    NNIExperimentResult,
    hub_space,
    make_strategy,
    run_nni_experiment,
)
from tenas_automl.integrations._nni_strategies import IndicatorEvolutionStrategy, TENASPruningStrategy  # noqa: E402
from tenas_automl.integrations._nni_strategy_base import StrategySettingError, SubmittedModel  # noqa: E402

# The HPO tuner for ``nnictl`` YAML experiments lives in a light module of its own
# (NNI kills a tuner that takes over 10 s to start); re-exported for the documented name.
from tenas_automl.integrations.nni_tuner import TrainingFreeTuner  # noqa: E402

__all__ = [
    "TrainingFreeTuner",
    "EVALUATORS",
    "WORST_METRIC",
    "INSTALL_HINT",
    "MODEL_INDICATORS",
    "NB201_TO_NNI",
    "NNI_STRATEGIES",
    "Codec",
    "IndicatorEvolutionStrategy",
    "MissingDependencyError",
    "ModelCodec",
    "ModelScorer",
    "NNIExperimentResult",
    "SampleEvaluator",
    "SpaceCodec",
    "StrategySettingError",
    "SubmittedModel",
    "TENASPruningStrategy",
    "benchmark_evaluator",
    "detect_space",
    "from_arch",
    "hub_space",
    "make_codec",
    "make_strategy",
    "nni_op_names",
    "reference_score",
    "run_nni_experiment",
    "sample_keys",
    "to_arch",
    "training_free_evaluator",
    "use_json_checkpoints",
]

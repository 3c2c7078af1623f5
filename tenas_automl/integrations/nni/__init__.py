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

The package loads its parts on first use: the HPO tuner
(:mod:`.tuner`, for ``nnictl`` YAML experiments) must start within the 10
seconds NNI gives it, without NNI's NAS stack or torch; the NAS strategies
and evaluators load that stack (``require_nni``) when first asked for.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from tenas_automl.integrations.nni._compat import INSTALL_HINT, MissingDependencyError, require_nni

for _name in ("nni", "pytorch_lightning"):
    # Cheap presence check at import (no NNI import yet): the one-line install hint now, not later.
    if find_spec(_name) is None:
        require_nni()
del _name

#: Public name -> the submodule that defines it.
_WHERE = {
    "Codec": "_codecs",
    "EVALUATORS": "_run",
    "INSTALL_HINT": "_compat",
    "IndicatorEvolutionStrategy": "_strategies",
    "MODEL_INDICATORS": "_models",
    "MissingDependencyError": "_compat",
    "ModelCodec": "_codecs",
    "ModelScorer": "_models",
    "NB201_TO_NNI": "_mapping",
    "NNIExperimentResult": "_run",
    "NNI_STRATEGIES": "_run",
    "SampleEvaluator": "_evaluators",
    "SpaceCodec": "_codecs",
    "StrategySettingError": "_strategy_base",
    "SubmittedModel": "_strategy_base",
    "TENASPruningStrategy": "_strategies",
    "TrainingFreeTuner": "tuner",
    "WORST_METRIC": "_evaluators",
    "benchmark_evaluator": "_evaluators",
    "detect_space": "_mapping",
    "from_arch": "_mapping",
    "hub_space": "_run",
    "make_codec": "_codecs",
    "make_strategy": "_run",
    "nni_op_names": "_mapping",
    "reference_score": "_evaluators",
    "require_nni": "_compat",
    "run_nni_experiment": "_run",
    "sample_keys": "_mapping",
    "to_arch": "_mapping",
    "training_free_evaluator": "_evaluators",
    "use_json_checkpoints": "_compat",
}
#: Submodules that do not need NNI's NAS stack; the others are loaded after ``require_nni``.
_LIGHT = {"tuner", "config", "_compat"}

if TYPE_CHECKING:
    from tenas_automl.integrations.nni._codecs import Codec, ModelCodec, SpaceCodec, make_codec
    from tenas_automl.integrations.nni._compat import use_json_checkpoints
    from tenas_automl.integrations.nni._evaluators import (
        WORST_METRIC,
        SampleEvaluator,
        benchmark_evaluator,
        reference_score,
        training_free_evaluator,
    )
    from tenas_automl.integrations.nni._mapping import (
        NB201_TO_NNI,
        detect_space,
        from_arch,
        nni_op_names,
        sample_keys,
        to_arch,
    )
    from tenas_automl.integrations.nni._models import MODEL_INDICATORS, ModelScorer
    from tenas_automl.integrations.nni._run import (
        EVALUATORS,
        NNI_STRATEGIES,
        NNIExperimentResult,
        hub_space,
        make_strategy,
        run_nni_experiment,
    )
    from tenas_automl.integrations.nni._strategies import IndicatorEvolutionStrategy, TENASPruningStrategy
    from tenas_automl.integrations.nni._strategy_base import StrategySettingError, SubmittedModel
    from tenas_automl.integrations.nni.tuner import TrainingFreeTuner


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if module not in _LIGHT:
        require_nni()
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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

"""Former home of :mod:`tenas_automl.integrations.nni.tuner`, kept so that existing
NNI YAML files (``className: tenas_automl.integrations.nni_tuner.TrainingFreeTuner``) keep working."""

from tenas_automl.integrations.nni.tuner import *  # noqa: F403
from tenas_automl.integrations.nni.tuner import __all__  # noqa: F401

"""Former home of :mod:`tenas_automl.integrations.nni.config`, re-exported."""

from tenas_automl.integrations.nni.config import *  # noqa: F403
from tenas_automl.integrations.nni.config import __all__  # noqa: F401

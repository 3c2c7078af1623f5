"""The CNN family of ``examples/optuna_custom_cnn.py``, for the tuner's ``model_fn`` and for the trials.

``TrainingFreeTuner`` imports ``cnn_space:build`` (NNI puts the tuner's
``codeDirectory``, this folder, on ``sys.path``) and scores ``build(params)``
of each candidate without training; ``trial.py`` trains the proposals.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/, for optuna_custom_cnn

from optuna_custom_cnn import build, train, validation_split  # noqa: E402

__all__ = ["build", "train", "validation_split"]

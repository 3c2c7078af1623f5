"""Frozen NNI models are scored by the core :mod:`tenas_automl.model_scoring`; re-exported here."""

from tenas_automl.model_scoring import MODEL_INDICATORS, ModelScorer, check_model_indicators

__all__ = ["MODEL_INDICATORS", "ModelScorer", "check_model_indicators"]

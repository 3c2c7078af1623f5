"""Integrations with hyperparameter-optimisation frameworks.

* :mod:`tenas_automl.integrations.optuna`: ``TrainingFreeSampler``,
  ``TrainingFreePruner``, ``suggest_architecture``, ``run_optuna_study``.
* :mod:`tenas_automl.integrations.nni`: NNI strategies and helpers.

Import the submodule you need; this package imports neither framework.
"""

"""Training-free indicators: score architectures (masks) of a space without training.

``evaluate(space, masks, names)`` is the entry point: one float per mask and
indicator, all masks on the same seeded weights and batches. Each indicator
is a class with a direction, a cost and settings whose defaults are the
official code's (``get_indicator(name, **overrides)``):

============= ======= ==========================================================
name          better  what (paper network on NB201)
============= ======= ==========================================================
``ntk``       lower   NTK condition number (TE-NAS): supernet 3 ch / 1 cell, 72
                      augmented images, 3 repeats
``lr``        higher  linear regions (TE-NAS): 1-ch single cell, 3 x 1,000 3x3
                      crops, 3 repeats
``gen``       lower   NTK kernel-regression error on test images (TEG-NAS):
                      as ``ntk``, 64 + 64 images
``naswot``    higher  log|K| of ReLU-code agreement (NASWOT): 16 ch / 5 cells,
                      one output, 128 images
``params``    higher  parameters of the network that runs (16 ch / 5 cells)
``flops``     higher  conv + linear multiply-accumulates per image
``synflow``   higher  synaptic flow (zero-cost proxies), 16 ch / 5 cells
``jacov``     higher  input-Jacobian correlation score, 64 images
``snip``      higher  sum |w * dL/dw|, 64 images
``grad_norm`` higher  sum of layer gradient norms, 64 images
``az_*``      higher  AZ-NAS expressivity, progressivity, trainability: 16 ch /
                      5 cells, Kaiming fan-in init, 64 ``randn`` images
``zico``      higher  ZiCo: log sum mean|g| / std g per layer, 2 x 64 images
``meco``      higher  MeCo: sum of the smallest eigenvalue of each module's
                      channel correlation, one image
============= ======= ==========================================================

Combinations computed within a pool (:mod:`~tenas_automl.indicators.combinations`):
``az``, AZ-NAS's log-rank sum (:func:`log_rank_sum`) of its three scores and FLOPs.

Modes: ``paper`` reproduces the official code (NTK's NaN -> 1e5; ReLUs on
dead branches still count; G's kernel includes NB201's reduction blocks);
``clean`` fixes those quirks (a singular NTK is ``inf``; only ReLUs whose
input depends on the network input and whose output reaches the network
output count; G uses the search cells only). In both modes a mask with no
path from input to output scores NaN, and :func:`rank` puts NaN/inf last.

Repeats (``resample``): ``"weights"`` (default; TEG-NAS: separately
initialised networks on the same batch), ``"data"`` (TE-NAS's pruning loop:
one network, a new batch per repeat) or ``"both"``. On DARTS the TE-NAS
indicators default to TE-NAS's DARTS network (1 channel, a normal and a
reduction cell, stem multiplier 1; NTK batch 14, 24 on ImageNet).
"""

from __future__ import annotations

from tenas_automl.indicators.aggregate import log_rank_sum, rank, rank_sum
from tenas_automl.indicators.base import MODES, Context, Indicator, JacobianSettings, NetSettings, Settings
from tenas_automl.indicators.combinations import (
    COMBINATIONS,
    Combination,
    get_combination,
    pool_ranking,
    split_combinations,
)
from tenas_automl.indicators.registry import INDICATORS, get_indicator, higher_is_better, list_indicators
from tenas_automl.indicators.runner import evaluate, make_context, score_in_context

__all__ = [
    "COMBINATIONS",
    "INDICATORS",
    "MODES",
    "Combination",
    "Context",
    "Indicator",
    "JacobianSettings",
    "NetSettings",
    "Settings",
    "evaluate",
    "get_combination",
    "get_indicator",
    "higher_is_better",
    "list_indicators",
    "log_rank_sum",
    "make_context",
    "pool_ranking",
    "rank",
    "rank_sum",
    "score_in_context",
    "split_combinations",
]

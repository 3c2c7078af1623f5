"""``ntk``: condition number of the neural tangent kernel (TE-NAS; TEG-NAS's "T").

Theta = J J^T over a batch, where row ``J_i`` is the gradient of the sum of
sample ``i``'s logits with respect to every parameter named ``*weight*``
(convolutions, BatchNorm scales, classifier), with the network in train mode.
kappa = lambda_max / lambda_min; lower is better (more trainable).

Paper settings (TE-NAS on NB201): the supernet with 3 channels and 1 cell per
stage (with stem) masked to the candidate, 72 training images with crop+flip
augmentation, 3 repeats averaged. ``paper`` mode replaces a NaN kappa by 1e5
like the official code; ``clean`` mode reports an infinite kappa for a
singular kernel and NaN for a failed one, which rank last. A mask whose output
does not depend on the input (no path from input to output) scores NaN in
both modes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tenas_automl.indicators._nn import is_constant, jacobian, weight_parameters
from tenas_automl.indicators.base import DARTS_TINY, Context, Indicator, JacobianSettings, repeat_indices
from tenas_automl.spaces.base import Mask, Space

#: What the official code puts in place of a NaN condition number.
PAPER_NAN_VALUE = 1e5


def ntk_matrix(jac: torch.Tensor) -> torch.Tensor:
    """Theta = J J^T in float64 (the eigenvalues need the precision)."""
    j = jac.detach().to(torch.float64)
    return j @ j.T


def condition_number(theta: torch.Tensor, mode: str = "paper") -> float:
    """lambda_max / lambda_min of a symmetric kernel (eigenvalues in float64).

    ``paper``: the plain ratio, NaN replaced by 1e5 (as the official code).
    ``clean``: ``inf`` when lambda_min <= 0 (singular kernel), NaN when the
    kernel itself is not finite.
    """
    theta = theta.to(torch.float64)
    if not bool(torch.isfinite(theta).all()):
        return PAPER_NAN_VALUE if mode == "paper" else math.nan
    eig = torch.linalg.eigvalsh(theta.cpu())
    lo, hi = float(eig[0]), float(eig[-1])
    if mode == "paper":
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = float(np.float64(hi) / np.float64(lo))
        return PAPER_NAN_VALUE if math.isnan(kappa) else kappa
    if lo <= 0.0:
        return math.inf
    return hi / lo


@dataclass(frozen=True)
class NTKSettings(JacobianSettings):
    """NTK settings; defaults are TE-NAS's NB201 ones."""

    batch_size: int = 72


class NTK(Indicator):
    """NTK condition number lambda_max/lambda_min (TE-NAS); lower is better."""

    name = "ntk"
    higher_is_better = False
    cost = "medium"
    settings_class = NTKSettings
    #: 2: the CPU plan keeps the batch contiguous (the official code's summation order).
    version = 2
    #: TE-NAS on DARTS: 1 channel, a normal + a reduction cell, stem multiplier 1, batch 14
    #: (24 on ImageNet).
    space_defaults = {"darts": {**DARTS_TINY, "batch_size": 14}, "darts:imagenet": {"batch_size": 24}}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, NTKSettings)
        mode = self.resolved_mode(ctx)
        values = np.full((s.repeats, len(masks)), np.nan)
        for r in range(s.repeats):
            wi, di = repeat_indices(s, r)
            net = ctx.network(s, wi)
            x, _ = ctx.images(s.batch_size, index=di, augment=s.augment, input_size=s.input_size)
            params = weight_parameters(net)
            plan = s.plan(x.device)
            for k, mask in enumerate(masks):
                net.set_mask(mask)
                jac, out = jacobian(net, x, params, *plan)
                if is_constant(out):
                    continue  # no path input -> output: NaN, ranked last
                values[r, k] = condition_number(ntk_matrix(jac), mode)
        return values.mean(0)

"""``gen``: NTK kernel-regression error on held-out images (TEG-NAS's "G"); lower is better.

With ``J_x`` the per-sample gradients (as for ``ntk``) of the cell weights on
training images and ``J_y`` those on test images, Theta_xx = J_x J_x^T and
Theta_yx = J_y J_x^T. Kernel regression of the centred one-hot labels
predicts Yhat = Theta_yx Theta_xx^-1 Y_x, and G = mean_i ||Yhat_i - Y_i||^2.

Paper settings (TEG-NAS on NB201): the same supernet as ``ntk`` (3 channels,
1 cell per stage) in train mode, 64 augmented training images and 64 test
images, labels centred per batch, 3 repeats averaged. The official code
takes the weights of every module under its ``cells`` list, which includes
the two residual reduction blocks; ``paper`` mode does the same
(``Supernet.cell_parameters()``), ``clean`` mode uses the search cells only
(``cell_parameters(search_only=True)``). The linear solve is in float64 in both
modes. A singular Theta_xx (for instance fewer cell weights than images)
gives NaN, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tenas_automl.indicators._nn import is_constant, jacobian, weight_parameters
from tenas_automl.indicators.base import DARTS_TINY, Context, Indicator, JacobianSettings, repeat_indices
from tenas_automl.spaces.base import Mask, Space, Supernet


def centred_one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot labels minus their batch mean, float64."""
    y = torch.nn.functional.one_hot(labels.long(), num_classes).to(torch.float64)
    return y - y.mean(0, keepdim=True)


def kernel_regression_error(theta_xx: torch.Tensor, theta_yx: torch.Tensor, y_x: torch.Tensor, y_y: torch.Tensor) -> float:
    """mean_i ||(Theta_yx Theta_xx^-1 Y_x)_i - Y_y,i||^2; NaN if Theta_xx is singular."""
    txx, tyx = theta_xx.to(torch.float64).cpu(), theta_yx.to(torch.float64).cpu()
    yx, yy = y_x.to(torch.float64).cpu(), y_y.to(torch.float64).cpu()
    if not (bool(torch.isfinite(txx).all()) and bool(torch.isfinite(tyx).all())):
        return math.nan
    sol, info = torch.linalg.solve_ex(txx, yx)
    if int(info) != 0:
        return math.nan
    # Guard against a numerically singular kernel that LU did not flag.
    if torch.linalg.matrix_rank(txx, hermitian=True) < txx.shape[0]:
        return math.nan
    err = float(((tyx @ sol - yy) ** 2).sum(1).mean())
    return err if math.isfinite(err) else math.nan


def gen_parameters(net: Supernet, mode: str) -> list[nn.Parameter]:
    """The weights G differentiates: ``net.cell_parameters()`` (paper: for NB201
    these include the reduction blocks, as the official ``"cell" in name`` does),
    or the search cells only (clean), where the space can tell them apart."""
    cells = net.cell_parameters
    if mode == "clean":
        try:
            params = list(cells(search_only=True))  # type: ignore[call-arg]
        except TypeError:
            params = list(cells())
    else:
        params = list(cells())
    return weight_parameters(net, {id(p) for p in params})


@dataclass(frozen=True)
class GenSettings(JacobianSettings):
    """Generalization-indicator settings; defaults are TEG-NAS's NB201 ones."""

    batch_size: int = 64
    test_batch_size: int = 64


class Gen(Indicator):
    """NTK kernel-regression error on held-out images (TEG-NAS); lower is better."""

    name = "gen"
    higher_is_better = False
    cost = "high"
    settings_class = GenSettings
    #: 2: the CPU plan keeps the batch contiguous (the official code's summation order).
    version = 2
    space_defaults = {"darts": dict(DARTS_TINY)}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, GenSettings)
        mode = self.resolved_mode(ctx)
        nc = ctx.data.num_classes
        values = np.full((s.repeats, len(masks)), np.nan)
        for r in range(s.repeats):
            wi, di = repeat_indices(s, r)
            net = ctx.network(s, wi)
            x, lx = ctx.images(s.batch_size, index=di, augment=s.augment, input_size=s.input_size)
            t, lt = ctx.images(s.test_batch_size, index=di, split="test", input_size=s.input_size)
            y_x, y_t = centred_one_hot(lx, nc), centred_one_hot(lt, nc)
            params = gen_parameters(net, mode)
            plan = s.plan(x.device)
            for k, mask in enumerate(masks):
                net.set_mask(mask)
                jx, out = jacobian(net, x, params, *plan)
                if is_constant(out):
                    continue
                jt, _ = jacobian(net, t, params, *plan)
                if jx.shape[1] < jx.shape[0]:
                    continue  # fewer weights than images: Theta_xx is singular
                jx64, jt64 = jx.to(torch.float64), jt.to(torch.float64)
                values[r, k] = kernel_regression_error(jx64 @ jx64.T, jt64 @ jx64.T, y_x, y_t)
        return values.mean(0)

"""``meco``: MeCo, the minimum eigenvalue of the feature correlation (Jiang et al., NeurIPS 2023).

One image goes through the network. Every module's output, taken for that
sample as a ``C x (H W)`` matrix, gives the ``C x C`` correlation matrix of its
channels (entries that are NaN, from a constant channel, set to 0); the score
is the sum of the smallest eigenvalues over the modules. Higher is better.

Paper settings, as the official NB201 code (HamsterMimi/MeCo): the full network
(16 channels, 5 cells per stage, PyTorch default init, train-mode BatchNorm),
one training image without augmentation, a forward hook on *every* module, so
a feature that several modules return (an op, its ``Sequential`` and its last
BatchNorm) counts once per module. The official network's cells use
BatchNorm without affine parameters and convolutions with a bias; at
initialisation neither changes a channel correlation (BatchNorm's affine
parameters start at 1 and 0, and a per-channel bias cancels in a correlation).
Its module tree wraps the stem and each stage in one more container, which
counts those four features once more than this network's tree does.
Outputs with one value per channel (pooled features, logits) have no
correlation and add 0, as there. ``clean`` mode counts each distinct feature
tensor once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tenas_automl.indicators._nn import logits
from tenas_automl.indicators._repeats import mean_over_repeats
from tenas_automl.indicators.base import Context, Indicator, NetSettings
from tenas_automl.spaces.base import Mask, Space


@dataclass(frozen=True)
class MecoSettings(NetSettings):
    """MeCo settings; defaults are the official NB201 ones (one image)."""

    width: int = 16
    cells: int = 5
    batch_size: int = 1
    repeats: int = 1
    augment: bool = False


def min_correlation_eigenvalues(features: Sequence[torch.Tensor]) -> np.ndarray:
    """Smallest eigenvalue of each ``(C, P)`` matrix's row correlation (float32, NaN entries 0)."""
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, f in enumerate(features):
        by_shape[tuple(f.shape)].append(k)
    out = np.zeros(len(features))
    for idx in by_shape.values():
        f = torch.stack([features[k] for k in idx]).to(torch.float32)
        f = f - f.mean(-1, keepdim=True)
        cov = f @ f.transpose(1, 2)
        d = torch.sqrt(torch.diagonal(cov, dim1=1, dim2=2))
        corr = cov / (d[:, :, None] * d[:, None, :])
        # As torch.corrcoef: clipped to [-1, 1]; then MeCo's NaN (constant channel) -> 0.
        corr = torch.nan_to_num(corr.clamp(-1.0, 1.0), nan=0.0, posinf=0.0, neginf=0.0)
        out[idx] = torch.linalg.eigvalsh(corr)[:, 0].double().cpu().numpy()
    return out


def meco_score(model: nn.Module, x: torch.Tensor, distinct: bool = False) -> tuple[float, torch.Tensor]:
    """MeCo of ``model`` on sample 0 of ``x``; and the logits."""
    feats: list[torch.Tensor] = []
    seen: list[torch.Tensor] = []  # keeps the outputs alive, so their ids stay unique

    def hook(_m: nn.Module, _inp: object, out: object) -> None:
        t = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(t, torch.Tensor) or t.dim() < 3:
            return
        if distinct:
            if any(t is s for s in seen):
                return
            seen.append(t)
        f = t[0].detach().reshape(t.shape[1], -1)
        if f.shape[1] > 1:  # one value per channel: no correlation, adds 0
            feats.append(f.clone())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            out = logits(model, x)
    finally:
        for h in handles:
            h.remove()
    values = min_correlation_eigenvalues(feats)
    values = values[np.isfinite(values)]
    return float(values.sum()), out


class Meco(Indicator):
    """MeCo: sum over modules of the smallest eigenvalue of the channel correlation (NeurIPS 2023); higher is better."""

    name = "meco"
    higher_is_better = True
    cost = "low"
    settings_class = MecoSettings
    #: DARTS: the DARTS search network's size (16 channels, 8 cells); no paper setting.
    space_defaults = {"darts": {"layers": 8}}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, MecoSettings)
        distinct = self.resolved_mode(ctx) == "clean"

        def batch(di: int) -> torch.Tensor:
            return ctx.images(s.batch_size, index=di, augment=s.augment, input_size=s.input_size)[0]

        return mean_over_repeats(s, masks, ctx, batch, lambda net, x: meco_score(net, x, distinct)[0])

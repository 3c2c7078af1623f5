"""AZ-NAS's three training-free scores (Lee and Ham, CVPR 2024); higher is better.

All three read the feature maps of :meth:`~tenas_automl.spaces.base.Supernet.features`
(the stem's output and every cell's and reduction block's output) for one batch:

- ``az_expressivity``: for each feature map, the entropy of the normalised
  eigenvalues of its channel covariance (positions and samples pooled); the
  sum over feature maps. An isotropic feature scores ``log C``.
- ``az_progressivity``: the smallest increase of that entropy from one feature
  map to the next.
- ``az_trainability``: for each pair of consecutive feature maps, a Rademacher
  vector ``g`` is pulled back through the block between them; with
  ``M = E[g_in g^T]`` (over samples and positions, the input space-to-depth
  rearranged when the block downsamples) and ``s`` its largest singular value,
  the block scores ``-s - 1/s + 2`` (0 for ``s = 1``); the mean over blocks. A
  block that passes the gradient through unchanged (an identity cell) scores
  -inf, and so does the architecture.

Paper settings, as the official NB201 code (cvlab-yonsei/AZ-NAS): the full
network (16 channels, 5 cells per stage), Kaiming-normal fan-in weights
(biases 0, BatchNorm 1 and 0), train-mode BatchNorm, one batch of 64
``randn`` images at the data's resolution, float32. Where the official code's
eigenvalues are NaN it reports -inf; so do these indicators in ``paper`` mode.
Float32 rounding can make the zero eigenvalues of a rank-deficient covariance
slightly negative; ``log(p + 1e-8)`` is then NaN and the official code, like
``paper`` mode, scores the architecture -inf (some NB201 cells of skips and
pools; DARTS's 48-channel stem, which reads 27-value patches, on most draws).
``clean`` mode takes the spectrum in float64 with eigenvalues clamped at 0,
and reports NaN, not -inf, for a feature map that is constant (a cell with
no path from input to output). On DARTS, for which the official code has no
setting, ``clean`` is the default (``paper`` would score nearly every cell
-inf); ``overrides={"az_expressivity": {"mode": "paper"}}`` asks for the other.

The three indicators share one computation: scoring any of them for a mask
scores all three and keeps the other two for the same call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tenas_automl.errors import check_choice
from tenas_automl.indicators._backward import fast_pools
from tenas_automl.indicators._nn import reinitialised_copy
from tenas_automl.indicators.base import INITS, Context, Indicator, NetSettings, derive_seed, repeat_indices
from tenas_automl.spaces.base import Mask, Space, Supernet

#: The official entropy adds this inside the logarithm.
ENTROPY_EPS = 1e-8
#: The official trainability adds this to the singular value it inverts.
SIGMA_EPS = 1e-6
INPUTS = ("randn", "images")


@dataclass(frozen=True)
class AzSettings(NetSettings):
    """AZ-NAS settings; defaults are the official NB201 ones.

    ``init``: ``kaiming_normal_fan_in`` (official) or ``default`` (PyTorch's).
    ``input``: ``randn`` (official: standard normal images) or ``images``
    (real training images).
    """

    width: int = 16
    cells: int = 5
    batch_size: int = 64
    repeats: int = 1
    init: str = "kaiming_normal_fan_in"
    input: str = "randn"

    def validate(self) -> None:
        super().validate()
        check_choice("input", self.input, INPUTS)


def kaiming_fan_in_init(model: nn.Module) -> None:
    """AZ-NAS's initialisation: Kaiming-normal fan-in (ReLU gain) for conv and linear
    weights, zero biases, BatchNorm/GroupNorm weight 1 and bias 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def spectral_entropy(feature: torch.Tensor, clean: bool = False) -> float:
    """Entropy of the normalised eigenvalues of the channel covariance of ``feature`` (N, C, H, W)."""
    c = feature.shape[1]
    f = feature.detach().permute(0, 2, 3, 1).reshape(-1, c)
    if clean:
        f = f.to(torch.float64)
    f = f - f.mean(0, keepdim=True)
    sigma = f.T @ f / f.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    if clean:  # rounding can make the zero eigenvalues of a rank-deficient covariance negative
        s = s.clamp(min=0.0)
    p = s / s.sum()
    return float(-(p * torch.log(p + ENTROPY_EPS)).sum())


def block_trainability(f_in: torch.Tensor, f_out: torch.Tensor, g_out: torch.Tensor) -> float:
    """``-s - 1/s + 2`` for the block from ``f_in`` to ``f_out`` (see the module docstring)."""
    (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
    if g_in is None:  # the block ignores its input: the pulled-back gradient is 0
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and bool(torch.equal(g_in, g_out)):
        return -math.inf
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    n = g_out.shape[0] * g_out.shape[2] * g_out.shape[3]
    a = g_in.permute(0, 2, 3, 1).reshape(n, -1)
    b = g_out.permute(0, 2, 3, 1).reshape(n, -1)
    sigma = float(torch.linalg.svdvals(a.T @ b / n).max())
    return -sigma - 1.0 / (sigma + SIGMA_EPS) + 2.0


def az_scores(net: nn.Module, x: torch.Tensor, generator: torch.Generator, clean: bool = False) -> tuple[float, float, float]:
    """(expressivity, progressivity, trainability) of ``net`` on ``x``.

    ``net`` must have a ``features(x)`` method (a :class:`Supernet`); the
    Rademacher vectors are drawn from ``generator``, deepest block first.
    """
    with fast_pools(net):  # the same values, a faster CPU pooling kernel
        return _az_scores(net, x, generator, clean)


def _az_scores(net: nn.Module, x: torch.Tensor, generator: torch.Generator, clean: bool) -> tuple[float, float, float]:
    # Without a stem the first feature is the input, so it must take a gradient.
    feats = net.features(x.detach().clone().requires_grad_(True))
    ents = np.array([spectral_entropy(f, clean) for f in feats])
    steps = ents[1:] - ents[:-1]
    expressivity = float(ents.sum())
    progressivity = float(steps.min()) if steps.size else math.nan
    scores = []
    for i in reversed(range(1, len(feats))):
        f_in, f_out = feats[i - 1], feats[i]
        # Drawn for every block, so that all masks see the same vectors.
        signs = torch.randint(0, 2, f_out.shape, generator=generator, dtype=torch.int8)
        g_out = (signs.to(f_out.dtype) * 2 - 1).to(f_out.device)
        if not (f_out.requires_grad and f_in.requires_grad):
            # A constant output, or a constant input (a cell that nothing alive
            # crosses): the pulled-back gradient is taken as 0, so s = 0.
            scores.append(2.0 - 1.0 / SIGMA_EPS)
        else:
            scores.append(block_trainability(f_in, f_out, g_out))
    trainability = float(np.mean(scores)) if scores else math.nan
    values = (expressivity, progressivity, trainability)
    if clean:
        constant = any(float(f.detach().std()) == 0.0 for f in feats[1:])
        return (math.nan, math.nan, math.nan) if constant else values
    return tuple(-math.inf if math.isnan(v) else v for v in values)  # type: ignore[return-value]


class _AzIndicator(Indicator):
    """Shared computation of the three AZ-NAS scores (memoised per call)."""

    higher_is_better = True
    cost = "low"
    settings_class = AzSettings
    #: DARTS: the DARTS search network's size (16 channels, 8 cells) and clean mode; no paper setting.
    space_defaults = {"darts": {"layers": 8, "mode": "clean"}}
    #: 2: clean mode by default on DARTS (NB201 values unchanged).
    version = 2
    #: Position of this indicator in :func:`az_scores`'s tuple.
    _index: int

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, AzSettings)
        clean = (s.mode or ctx.mode) == "clean"  # the space's default mode counts (DARTS: clean)
        values = np.full((s.repeats, len(masks)), np.nan)
        for r in range(s.repeats):
            wi, di = repeat_indices(s, r)
            net = self._network(s, ctx, wi)
            x = self._input(s, ctx, di)
            for k, mask in enumerate(masks):
                key = ("az", s.digest(), clean, wi, di, mask)

                def make(net: Supernet = net, mask: Mask = mask, di: int = di, x: torch.Tensor = x) -> tuple[float, float, float]:
                    net.set_mask(mask)
                    gen = torch.Generator().manual_seed(derive_seed(ctx.seed, "az-rademacher", di))
                    return az_scores(net, x, gen, clean)

                values[r, k] = ctx.memo(key, make)[self._index]
        return values.mean(0)

    @staticmethod
    def _network(s: AzSettings, ctx: Context, wi: int) -> Supernet:
        return initialised_network(ctx, s, s.init, wi)

    @staticmethod
    def _input(s: AzSettings, ctx: Context, di: int) -> torch.Tensor:
        if s.input == "images":
            return ctx.images(s.batch_size, index=di, augment=s.augment, input_size=s.input_size)[0]
        return random_images(ctx, s, di)


def initialised_network(ctx: Context, s: NetSettings, init: str, wi: int) -> Supernet:
    """The network ``s`` describes (weights index ``wi``), re-initialised by ``init``.

    ``kaiming_normal_fan_in`` draws from a generator seeded by the context's
    seed and ``wi``; the copy is memoised, so AZ-NAS's and VKDNW's indicators
    share it. Returned in train mode.
    """
    base = ctx.network(s, wi)
    if init == "default":
        return base
    check_choice("init", init, INITS)
    config = tuple(sorted(s.net_kwargs(ctx.data.num_classes).items()))

    def make() -> Supernet:
        return reinitialised_copy(base, kaiming_fan_in_init, derive_seed(ctx.seed, "kaiming", wi))  # type: ignore[return-value]

    return ctx.memo(("kaiming-network", config, wi), make)


def random_images(ctx: Context, s: NetSettings, di: int) -> torch.Tensor:
    """``s.batch_size`` standard-normal images at the data's resolution (or ``s.input_size``)."""
    size = s.input_size or ctx.data.train_images.shape[1]
    shape = (s.batch_size, s.in_channels, size, size)

    def make() -> torch.Tensor:
        gen = torch.Generator().manual_seed(derive_seed(ctx.seed, "randn", di))
        return torch.randn(shape, generator=gen).to(ctx.device)

    return ctx.memo(("randn", shape, di), make)


class AzExpressivity(_AzIndicator):
    """AZ-NAS expressivity: summed entropy of the features' covariance spectra; higher is better."""

    name = "az_expressivity"
    _index = 0


class AzProgressivity(_AzIndicator):
    """AZ-NAS progressivity: smallest entropy increase between consecutive features; higher is better."""

    name = "az_progressivity"
    _index = 1


class AzTrainability(_AzIndicator):
    """AZ-NAS trainability: mean over blocks of -s - 1/s + 2 (s: gradient-map spectral norm); higher is better."""

    name = "az_trainability"
    _index = 2

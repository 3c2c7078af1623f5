"""NAS-Bench-201 networks: candidate ops, the maskable cell, and the macro skeleton.

One network class serves both as the stand-alone network of an architecture
(one op per edge) and as the TE-NAS supernet (several ops per edge). Module
layout, construction order and arithmetic follow NAS-Bench-201's
``TinyNetwork``/``InferCell`` and TE-NAS's ``TinyNetworkDarts``/
``NAS201SearchCell``, so that parameter counts, the random-number stream used
for initialisation, and forward values match the reference code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from tenas_automl.errors import InvalidArchitectureError, UnknownNameError
from tenas_automl.spaces._common_ops import Identity, ReLUConvBN, SequentialOp, check_built
from tenas_automl.spaces.base import Mask, Supernet, edge_ops

#: The NB201 op vocabulary, in the benchmark's order (also the construction order).
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (source node, target node) of every cell edge, in arch-string / mask order.
EDGE_NODES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: Edge keys, in mask order.
EDGES: tuple[str, ...] = tuple(f"{j}->{i}" for j, i in EDGE_NODES)
NUM_NODES = 4
#: How the alive ops of one edge are combined (see :class:`NB201Cell`).
OP_WEIGHTINGS: tuple[str, ...] = ("mean", "sum")


class AvgPool(SequentialOp):
    """3x3 average pooling, stride 1; padding is not counted in the average."""

    def __init__(self) -> None:
        super().__init__()
        self.op = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class Zero(nn.Module):
    """``none``: cuts the edge. Cells skip it, so it is never evaluated there."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    """The module of op ``name`` on a ``channels`` -> ``channels``, stride-1 cell edge."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine, track_running_stats)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine, track_running_stats)
    if name == "avg_pool_3x3":
        return AvgPool()
    raise UnknownNameError("op", name, OPS)


class ResNetBasicBlock(nn.Module):
    """The fixed residual block between stages: two 3x3 ReLUConvBN (the first
    with stride 2) plus a 2x2 average-pool + 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def check_mask(mask: Sequence[Sequence[str]]) -> Mask:
    """Validate an NB201 mask and return it canonical: tuples, ops in :data:`OPS` order."""
    if isinstance(mask, str) or not isinstance(mask, Sequence) or len(mask) != len(EDGE_NODES):
        got = len(mask) if isinstance(mask, Sequence) and not isinstance(mask, str) else type(mask).__name__
        raise InvalidArchitectureError(
            f"an NB201 mask needs one tuple of ops per edge ({', '.join(EDGES)}): 6 entries, got {got}"
        )
    out = []
    for edge, ops in zip(EDGES, mask):
        if isinstance(ops, str) or not isinstance(ops, Sequence):
            raise InvalidArchitectureError(f"edge {edge}: expected a tuple of op names, got {ops!r}")
        out.append(edge_ops(str(edge), ops, OPS))
    return tuple(out)


class NB201Cell(nn.Module):
    """A 4-node NB201 cell whose edges hold a maskable set of candidate ops.

    Combination rule (the official TE-NAS one, ``op_weighting="mean"``): TE-NAS
    starts every architecture logit at 0 and marks a pruned op with -1000, so
    the softmax weight of each alive op on an edge is exactly 1/k (k = number of
    alive ops, ``none`` included when alive), and ops with weight <= 0.01 are
    not evaluated. An edge is sum(w * op(x)) over its alive ops, in op order; a
    node is the sum of its incoming edges, in source order (the same float
    summation order as the reference). ``none`` adds exactly zero, so it is
    skipped; a node with nothing alive is a zero tensor. With one op per edge
    the weight is 1 and the cell is NB201's ``InferCell``.
    ``op_weighting="sum"`` uses weight 1 for every alive op instead.
    """

    def __init__(
        self,
        channels: int,
        mask: Mask,
        affine: bool = True,
        track_running_stats: bool = True,
        op_weighting: str = "mean",
    ) -> None:
        super().__init__()
        self.channels = channels
        self.op_weighting = op_weighting
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, channels, affine, track_running_stats) for op in ops}) for ops in mask
        )
        self._alive: list[tuple[str, ...]] = []
        self._weights: list[float] = []
        self.set_mask(mask)

    def set_mask(self, mask: Mask) -> None:
        """Switch ops on or off (``mask`` must be canonical and a sub-mask of the built one)."""
        self._alive = [tuple(op for op in ops if op != "none") for ops in mask]
        # The weight counts `none` when it is alive, as the softmax does.
        self._weights = [1.0 if self.op_weighting == "sum" or len(ops) <= 1 else 1.0 / len(ops) for ops in mask]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i in range(1, NUM_NODES):
            node: torch.Tensor | None = None
            for e, (j, target) in enumerate(EDGE_NODES):
                if target != i or not self._alive[e]:
                    continue
                ops, w = self.edges[e], self._weights[e]
                edge_out: torch.Tensor | None = None
                for name in self._alive[e]:
                    y = ops[name](nodes[j])
                    if w != 1.0:
                        y = y * w
                    edge_out = y if edge_out is None else edge_out + y
                node = edge_out if node is None else node + edge_out
            nodes.append(node if node is not None else torch.zeros_like(x))
        return nodes[-1]


def _check_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArchitectureError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class NB201Network(Supernet):
    """The NB201 macro skeleton around maskable cells.

    stem (3x3 conv + BN, optional) -> ``stages`` stages of ``cells_per_stage``
    cells, with a residual reduction block (stride 2, channels x2) between
    stages -> BN + ReLU -> global average pool -> linear. ``forward`` returns
    the logits. Built with one op per edge it is the stand-alone network of an
    architecture (NB201's ``TinyNetwork``); built with more it is the TE-NAS
    supernet, re-maskable with :meth:`set_mask`.

    Args:
        mask: the ops each edge holds (see :func:`check_mask`); also the
            initial alive set.
        op_weighting: ``"mean"`` (TE-NAS) or ``"sum"``, see :class:`NB201Cell`.
        tenas_rng: also draw the random numbers TE-NAS's ``TinyNetworkDarts``
            spends on its unused stem and its architecture logits, so that a
            seeded supernet gets the reference's weights and leaves the
            generator where the reference leaves it.
        Other arguments: see :meth:`NB201Space.build_supernet`.
    """

    def __init__(
        self,
        mask: Mask,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        stem: bool = True,
        stages: int = 3,
        affine: bool = True,
        track_running_stats: bool = True,
        op_weighting: str = "mean",
        tenas_rng: bool = False,
    ) -> None:
        super().__init__()
        mask = check_mask(mask)
        channels = _check_int("channels", channels)
        cells_per_stage = _check_int("cells_per_stage", cells_per_stage)
        num_classes = _check_int("num_classes", num_classes)
        in_channels = _check_int("in_channels", in_channels)
        stages = _check_int("stages", stages)
        if op_weighting not in OP_WEIGHTINGS:
            raise UnknownNameError("op weighting", op_weighting, OP_WEIGHTINGS)
        if not isinstance(stem, bool):
            raise InvalidArchitectureError(f"stem must be True or False, got {stem!r}")
        if not stem and in_channels != channels:
            raise InvalidArchitectureError(
                f"without a stem the first cell reads the input directly, so in_channels "
                f"({in_channels}) must equal channels ({channels})"
            )
        self.built_mask: Mask = mask
        self.mask: Mask = mask
        self.config = {
            "channels": channels, "cells_per_stage": cells_per_stage, "num_classes": num_classes,
            "in_channels": in_channels, "stem": stem, "stages": stages, "affine": affine,
            "track_running_stats": track_running_stats, "op_weighting": op_weighting,
        }  # fmt: skip

        if stem:
            self.stem: nn.Module | None = nn.Sequential(
                nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
            )
        else:
            self.stem = None
            if tenas_rng:
                # TE-NAS builds its stem even when unused: draw the same numbers.
                nn.Conv2d(min(3, channels), channels, kernel_size=3, padding=1, bias=False)
        self.cells = nn.ModuleList()
        c = channels
        for stage in range(stages):
            if stage > 0:
                self.cells.append(ResNetBasicBlock(c, 2 * c))
                c *= 2
            for _ in range(cells_per_stage):
                self.cells.append(NB201Cell(c, mask, affine, track_running_stats, op_weighting))
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)
        self.out_channels = c
        if tenas_rng:
            # TE-NAS then draws its architecture logits (6 x 5 normals); drawing them
            # too keeps a seeded run's random stream the same as the reference's.
            torch.randn(len(EDGE_NODES), len(OPS))

    # -- masking -----------------------------------------------------------
    def set_mask(self, mask: Mask) -> None:
        """Make ``mask`` the alive set; every op in it must have been built."""
        mask = check_mask(mask)
        check_built(
            EDGES, mask, self.built_mask,
            "edge {key}: op(s) {missing} not built into this supernet (built: {built})", nothing="nothing",
        )  # fmt: skip
        for cell in self.search_cells():
            cell.set_mask(mask)
        self.mask = mask

    # -- parameter groups --------------------------------------------------
    def search_cells(self) -> Iterator[NB201Cell]:
        """The maskable cells, in forward order."""
        return (m for m in self.cells if isinstance(m, NB201Cell))

    def named_cell_parameters(self, search_only: bool = False) -> Iterator[tuple[str, nn.Parameter]]:
        """(full name, parameter) of the modules in ``self.cells``.

        By default this includes the residual reduction blocks, which sit in
        ``cells`` too: TEG-NAS selects its generalization-kernel parameters by
        ``"cell" in name`` (and ``"weight" in name``), which catches them.
        ``search_only=True`` yields the search cells' parameters only.
        """
        for k, module in enumerate(self.cells):
            if search_only and not isinstance(module, NB201Cell):
                continue
            for name, p in module.named_parameters():
                yield f"cells.{k}.{name}", p

    def cell_parameters(self, search_only: bool = False) -> Iterator[nn.Parameter]:
        """Parameters of the cells (see :meth:`named_cell_parameters`)."""
        return (p for _, p in self.named_cell_parameters(search_only))

    # -- forward -----------------------------------------------------------
    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and every cell's and reduction block's output (see :meth:`Supernet.features`)."""
        feature = self.stem(x) if self.stem is not None else x
        out = [feature]
        for cell in self.cells:
            feature = cell(feature)
            out.append(feature)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = self.stem(x) if self.stem is not None else x
        for cell in self.cells:
            feature = cell(feature)
        out = self.global_pooling(self.lastact(feature))
        return self.classifier(out.flatten(1))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())

"""TE-NAS's DARTS search network: search cells whose edges mix the alive ops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from tenas_automl.spaces._common_ops import check_built
from tenas_automl.spaces.base import Mask, Supernet
from tenas_automl.spaces.darts.genotypes import (
    NODES,
)
from tenas_automl.spaces.darts.masks import (
    CELL_EDGES,
    EDGE_KEYS,
    EDGES_PER_CELL,
    check_mask,
)
from tenas_automl.spaces.darts.ops import (
    FactorizedReduce,
    ReLUConvBN,
    make_op,
)


# -- supernet -------------------------------------------------------------------
class SearchCell(nn.Module):
    """A DARTS search cell holding, on each of its 14 edges, the ops of a mask."""

    def __init__(
        self,
        cell_mask: Mask,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        multiplier: int,
        op_kwargs: dict[str, Any],
    ) -> None:
        super().__init__()
        bn = {k: op_kwargs[k] for k in ("affine", "track_running_stats")}
        self.reduction = reduction
        self.multiplier = multiplier
        self.preprocess0: nn.Module = (
            FactorizedReduce(C_prev_prev, C, **bn) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0, **bn)
        )
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, **bn)
        self.edges = nn.ModuleDict()
        for (n, j), ops in zip(CELL_EDGES, cell_mask):
            stride = 2 if reduction and j < 2 else 1
            self.edges[f"{n}<-{j}"] = nn.ModuleDict({op: make_op(op, C, stride, **op_kwargs) for op in ops})

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, alive: Mask, mean: bool) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        e = 0
        for n in NODES:
            total: torch.Tensor | None = None
            for j in range(n):
                ops, edge = alive[e], self.edges[f"{n}<-{j}"]
                e += 1
                if not ops:
                    continue  # a dead edge contributes nothing and costs nothing
                w = 1.0 / len(ops) if mean and len(ops) > 1 else None
                for op in ops:
                    y = edge[op](states[j])
                    if w is not None:
                        y = w * y
                    total = y if total is None else total + y
            if total is None:  # every input edge dead: the node is zero
                ref = states[1]
                h, w_ = ref.shape[-2:]
                if self.reduction:
                    h, w_ = (h + 1) // 2, (w_ + 1) // 2
                total = ref.new_zeros(ref.shape[0], ref.shape[1], h, w_)
            states.append(total)
        return torch.cat(states[-self.multiplier :], dim=1)


class DartsSupernet(Supernet):
    """TE-NAS's DARTS search network over a mask; ``forward`` returns the logits.

    Built by :meth:`DartsSpace.build_supernet`. ``built_mask`` holds the ops
    that exist; ``mask`` the ones alive now (dead ops are never evaluated).
    """

    def __init__(
        self,
        mask: Mask,
        *,
        channels: int,
        reductions: Sequence[bool],
        num_classes: int,
        in_channels: int,
        stem: bool,
        multiplier: int,
        stem_multiplier: int,
        affine: bool,
        track_running_stats: bool,
        pool_bn: bool,
        op_weighting: str,
    ) -> None:
        super().__init__()
        self.built_mask: Mask = mask
        self.mask = mask
        self._mean = op_weighting == "mean"
        C_stem = channels * stem_multiplier
        if stem:
            self.stem: nn.Module | None = nn.Sequential(
                nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False),
                nn.BatchNorm2d(C_stem, track_running_stats=track_running_stats),
            )
        else:  # cells read the input directly (TE-NAS's linear-region network)
            # TE-NAS still builds (and never uses) a stem here; drawing its init keeps
            # the random stream of the weights that follow aligned with TE-NAS's.
            nn.Conv2d(min(3, channels), C_stem, 3, padding=1, bias=False)
            self.stem, C_stem = None, in_channels
        op_kwargs = {"affine": affine, "track_running_stats": track_running_stats, "pool_bn": pool_bn}
        C_prev_prev, C_prev, C_curr, reduction_prev = C_stem, C_stem, channels, False
        self.cells = nn.ModuleList()
        for reduction in reductions:
            if reduction:
                C_curr *= 2
            self.cells.append(
                SearchCell(
                    self._cell_mask(mask, reduction),
                    C_prev_prev,
                    C_prev,
                    C_curr,
                    reduction,
                    reduction_prev,
                    multiplier,
                    op_kwargs,
                )
            )
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, multiplier * C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev, track_running_stats=track_running_stats), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    @staticmethod
    def _cell_mask(mask: Mask, reduction: bool) -> Mask:
        return mask[EDGES_PER_CELL:] if reduction else mask[:EDGES_PER_CELL]

    def set_mask(self, mask: Mask) -> None:
        """Make ``mask`` the alive set; it may only use ops this supernet was built with."""
        mask = check_mask(mask)
        check_built(
            EDGE_KEYS, mask, self.built_mask,
            "op(s) {missing} on edge {key} were not built into this supernet (built: {built}); "
            "build it with a mask that includes them", nothing="none",
        )  # fmt: skip
        self.mask = mask

    def _alive_cell_modules(self) -> Iterator[nn.Module]:
        for cell in self.cells:
            yield cell.preprocess0
            yield cell.preprocess1
            for (n, j), ops in zip(CELL_EDGES, self._cell_mask(self.mask, cell.reduction)):
                edge = cell.edges[f"{n}<-{j}"]
                yield from (edge[op] for op in ops)

    def cell_parameters(self, search_only: bool = False) -> Iterator[nn.Parameter]:
        """Parameters of the cells' preprocessing and of their *alive* ops.

        Every DARTS cell is a search cell, so ``search_only`` (which drops NB201's
        residual blocks there) changes nothing here.
        """
        for module in self._alive_cell_modules():
            yield from module.parameters()

    def alive_named_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """``named_parameters`` without the ops the mask switches off (they get no gradient)."""
        alive = {id(p) for p in self.cell_parameters()}
        for name, p in self.named_parameters():
            if not name.startswith("cells.") or id(p) in alive:
                yield name, p

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and every cell's output (see :meth:`Supernet.features`)."""
        s0 = s1 = self.stem(x) if self.stem is not None else x
        out = [s1]
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self._cell_mask(self.mask, cell.reduction), self._mean)
            out.append(s1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x) if self.stem is not None else x
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self._cell_mask(self.mask, cell.reduction), self._mean)
        return self.classifier(self.global_pooling(self.lastact(s1)).flatten(1))

"""DARTS's evaluation networks (``NetworkCIFAR``, ``NetworkImageNet``), module names as DARTS's."""

from __future__ import annotations

import torch
from torch import nn

from tenas_automl.spaces.darts.genotypes import (
    CONCAT,
    Genotype,
)
from tenas_automl.spaces.darts.masks import (
    reduction_flags,
)
from tenas_automl.spaces.darts.ops import (
    FactorizedReduce,
    Identity,
    ReLUConvBN,
    drop_path,
    make_op,
)


# -- evaluation network -------------------------------------------------------
class Cell(nn.Module):
    """A DARTS evaluation cell built from a genotype (DARTS ``model.Cell``)."""

    def __init__(self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        pairs = genotype.reduce if reduction else genotype.normal
        self._ops = nn.ModuleList(make_op(op, C, 2 if reduction and j < 2 else 1) for op, j in pairs)
        self._indices = tuple(j for _, j in pairs)
        self.multiplier = len(CONCAT)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(0, len(self._ops), 2):
            node = []
            for op, j in ((self._ops[k], self._indices[k]), (self._ops[k + 1], self._indices[k + 1])):
                h = op(states[j])
                if self.training and drop_prob > 0.0 and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob)
                node.append(h)
            states.append(node[0] + node[1])
        return torch.cat([states[i] for i in CONCAT], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier, after the second reduction (8x8 CIFAR, 14x14 ImageNet)."""

    def __init__(self, C: int, num_classes: int, imagenet: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        # DARTS's ImageNet head omits this BN (a typo kept for its paper's numbers).
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class _DartsNetwork(nn.Module):
    """Shared body of the CIFAR and ImageNet evaluation networks.

    ``forward`` returns the logits; in training mode with an auxiliary head it
    returns ``(logits, auxiliary_logits)``. ``drop_path_prob`` may be changed
    between epochs, as DARTS's training script does.
    """

    def _build_cells(
        self,
        genotype: Genotype,
        C: int,
        layers: int,
        num_classes: int,
        auxiliary: bool,
        C_stem: int,
        reduction_prev: bool,
        imagenet: bool,
    ) -> None:
        self._layers = layers
        self._aux_position = 2 * layers // 3
        C_prev_prev, C_prev, C_curr = C_stem, C_stem, C
        self.cells = nn.ModuleList()
        C_aux = C_prev
        for i, reduction in enumerate(reduction_flags(layers, None, None)):
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self._aux_position:
                C_aux = C_prev
        self.auxiliary_head = AuxiliaryHead(C_aux, num_classes, imagenet) if auxiliary else None
        # Adaptive pooling: DARTS's AvgPool2d(7) on 224px ImageNet input is the same op.
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0, s1 = self._stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._aux_position and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return logits if aux is None else (logits, aux)


class NetworkCIFAR(_DartsNetwork):
    """DARTS's CIFAR network: 3x3 stem with 3C channels, ``layers`` cells, classifier."""

    def __init__(
        self,
        genotype: Genotype,
        C: int = 36,
        num_classes: int = 10,
        layers: int = 20,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.drop_path_prob = float(drop_path_prob)
        C_stem = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
        self._build_cells(genotype, C, layers, num_classes, auxiliary, C_stem, False, imagenet=False)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s


class NetworkImageNet(_DartsNetwork):
    """DARTS's ImageNet network: two strided stems (1/8 resolution), cells, classifier."""

    def __init__(
        self,
        genotype: Genotype,
        C: int = 48,
        num_classes: int = 1000,
        layers: int = 14,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if C < 2:
            raise ValueError(f"the ImageNet network needs channels >= 2, got {C}")
        self.drop_path_prob = float(drop_path_prob)
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))
        self._build_cells(genotype, C, layers, num_classes, auxiliary, C, True, imagenet=True)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)

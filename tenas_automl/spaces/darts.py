"""The DARTS cell search space: masks, evaluation network, supernet.

Genotypes (the architecture values, their text and the published cells) live
in :mod:`tenas_automl.spaces.darts_genotypes`; ``Genotype`` is re-exported here.

Edges and masks
    Each cell type (normal, then reduce) has 14 edges in DARTS order: node 2
    reads inputs 0-1, node 3 inputs 0-2, node 4 inputs 0-3, node 5 inputs 0-4.
    The 28 mask positions are keyed ``"normal:2<-0"`` ... ``"reduce:5<-4"``. A
    genotype's mask has its op on each of the two kept edges of every node and
    ``()`` elsewhere.

Evaluation network
    :meth:`DartsSpace.build` gives DARTS's ``NetworkCIFAR`` / ``NetworkImageNet``
    (stem, ``layers`` cells with reductions at 1/3 and 2/3 depth, optional
    auxiliary head, drop path while training); module names match DARTS's.

Supernet
    :class:`DartsSupernet` follows TE-NAS's DARTS search network
    (VITA-Group/TENAS ``search_model_darts_nasnet.py``): stem, search cells
    whose edges mix the alive ops, then BN, ReLU, global pooling and a linear
    classifier. TE-NAS weights an edge's ops by a softmax of architecture
    logits that are 0 for alive ops and -1000 for pruned ones, i.e. it
    *averages* the alive ops; ``op_weighting="sum"`` adds them instead.
    TE-NAS scores DARTS with channels 1, one normal plus one reduction cell,
    stem multiplier 1, BN affine with running statistics
    (:meth:`DartsSpace.paper_supernet_kwargs`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from tenas_automl.errors import InvalidArchitectureError, check_choice
from tenas_automl.spaces._common_ops import check_built
from tenas_automl.spaces.base import Mask, Space, Supernet
from tenas_automl.spaces.darts_genotypes import (
    CANDIDATE_OPS,
    CELL_TYPES,
    CONCAT,
    NODES,
    OPS,
    PUBLISHED,
    Genotype,
    Pair,
    format_genotype,
    parse_genotype,
)
from tenas_automl.spaces.darts_ops import (
    FactorizedReduce,
    Identity,
    ReLUConvBN,
    drop_path,
    make_op,
)

#: ``(node, input)`` of the 14 edges of one cell, in DARTS order.
CELL_EDGES: tuple[tuple[int, int], ...] = tuple((n, j) for n in NODES for j in range(n))
EDGES_PER_CELL = len(CELL_EDGES)
#: The 28 mask keys: normal edges, then reduce edges.
EDGE_KEYS: tuple[str, ...] = tuple(f"{c}:{n}<-{j}" for c in CELL_TYPES for n, j in CELL_EDGES)
_EDGE_INDEX = {(c, n, j): i for i, (c, (n, j)) in enumerate((c, e) for c in CELL_TYPES for e in CELL_EDGES)}

#: TE-NAS removes 3 ops per edge per round on CIFAR (7 -> 4 -> 1) and 2 on ImageNet (7 -> 5 -> 3 -> 1).
_PRUNED_PER_ROUND = {"cifar10": 3, "cifar100": 3, "ImageNet16-120": 2, "imagenet-1k": 2}
_VARIANTS = ("cifar", "imagenet")
_WEIGHTINGS = ("mean", "sum")


def _as_genotype(arch: Any) -> Genotype:
    if isinstance(arch, Genotype):
        return arch
    if isinstance(arch, str):
        name = arch.strip()
        if name in PUBLISHED:
            return PUBLISHED[name]
        try:
            return parse_genotype(arch)
        except InvalidArchitectureError as err:
            if name.startswith("Genotype"):
                raise
            raise InvalidArchitectureError(f"{err}; or one of the published names {', '.join(PUBLISHED)}") from None
    raise InvalidArchitectureError(f"a DARTS Genotype or genotype string is expected, got {type(arch).__name__}")


def check_mask(mask: Any) -> Mask:
    """Validate a DARTS mask (28 tuples of distinct known ops); return it as tuples,
    each edge's ops in :data:`OPS` order."""
    if isinstance(mask, (str, bytes)) or not isinstance(mask, Sequence):
        raise InvalidArchitectureError(f"a DARTS mask is a sequence of {len(EDGE_KEYS)} op tuples, got {mask!r}")
    if len(mask) != len(EDGE_KEYS):
        raise InvalidArchitectureError(
            f"a DARTS mask has {len(EDGE_KEYS)} entries (14 normal edges, then 14 reduce), got {len(mask)}"
        )
    out = []
    for key, ops in zip(EDGE_KEYS, mask):
        if isinstance(ops, str):
            ops = (ops,)
        ops = tuple(ops)
        for op in ops:
            if op not in OPS:
                raise InvalidArchitectureError(f"unknown op {op!r} on edge {key}; allowed: {', '.join(OPS)}")
        if len(set(ops)) != len(ops):
            raise InvalidArchitectureError(f"edge {key} lists an op twice: {ops}")
        out.append(tuple(op for op in OPS if op in ops))
    return tuple(out)


def _reduction_flags(layers: int | None, cells_per_stage: int | None, stages: int | None) -> tuple[bool, ...]:
    """Which cells reduce. ``layers``: DARTS (reductions at layers//3, 2*layers//3);
    ``cells_per_stage``/``stages``: TE-NAS (a first stage of N normal cells, then
    per stage one reduction cell and N-1 normal cells)."""
    if cells_per_stage is not None or stages is not None:
        if layers is not None:
            raise ValueError("give either layers or cells_per_stage/stages, not both")
        n = 1 if cells_per_stage is None else int(cells_per_stage)
        s = 3 if stages is None else int(stages)
        if n < 1 or s < 1:
            raise ValueError(f"cells_per_stage and stages must be >= 1, got {n} and {s}")
        flags = [False] * n
        for _ in range(s - 1):
            flags += [True] + [False] * (n - 1)
        return tuple(flags)
    layers = 8 if layers is None else int(layers)
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    return tuple(i in (layers // 3, 2 * layers // 3) for i in range(layers))


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
        for i, reduction in enumerate(_reduction_flags(layers, None, None)):
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


# -- the space -------------------------------------------------------------------
class DartsSpace(Space):
    """The DARTS (NASNet-style) cell space: 8 ops, 4 nodes choosing 2 of their inputs.

    Architectures are :class:`Genotype` values; methods that take one also
    accept its text.
    """

    name: ClassVar[str] = "darts"
    ops: ClassVar[tuple[str, ...]] = OPS
    inputs_per_node: ClassVar[int] = 2

    #: TE-NAS's scoring networks for DARTS (prune_tenas.py): NTK on a 1-channel
    #: normal + reduction cell pair with a 1x stem; linear regions on the same
    #: cells without a stem, fed 1-channel 3x3 crops. TEG-NAS's G reuses the NTK net.
    PAPER_SUPERNETS: ClassVar[dict[str, dict[str, Any]]] = {
        "ntk": {
            "channels": 1,
            "cells_per_stage": 1,
            "stages": 2,
            "stem_multiplier": 1,
            "in_channels": 3,
            "stem": True,
            "affine": True,
            "track_running_stats": True,
        },
        "lr": {
            "channels": 1,
            "cells_per_stage": 1,
            "stages": 2,
            "stem_multiplier": 1,
            "in_channels": 1,
            "stem": False,
            "affine": True,
            "track_running_stats": True,
        },
    }
    PAPER_SUPERNETS["gen"] = PAPER_SUPERNETS["ntk"]

    # -- codec -------------------------------------------------------------
    @property
    def edges(self) -> tuple[str, ...]:
        return EDGE_KEYS

    def parse(self, text: str) -> Genotype:
        """A ``Genotype(...)`` string, or a published name such as ``darts_v2`` (see ``PUBLISHED``)."""
        return _as_genotype(text)

    def format(self, arch: Hashable) -> str:
        return format_genotype(_as_genotype(arch))

    # -- sampling ----------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Genotype:
        """Each node draws two distinct inputs and, for each, an op other than ``none``."""
        cells = []
        for _ in CELL_TYPES:
            pairs: list[Pair] = []
            for n in NODES:
                inputs = sorted(int(j) for j in rng.choice(n, size=2, replace=False))
                ops = rng.integers(len(CANDIDATE_OPS), size=2)
                pairs += [(CANDIDATE_OPS[int(o)], j) for o, j in zip(ops, inputs)]
            cells.append(pairs)
        return Genotype.of(cells[0], cells[1])

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Genotype:
        """TEG-NAS's mutation, made always valid: in a random cell, with p=0.5
        rewire one pair to another input (never the node's other input, so node 2,
        which has no spare input, is never rewired), else give one pair another
        op (never ``none``). Exactly one field of one pair changes."""
        g = _as_genotype(arch)
        cell = CELL_TYPES[int(rng.integers(2))]
        pairs = list(g.cell(cell))
        if rng.random() < 0.5:
            choices = []
            for k, (_, j) in enumerate(pairs):
                n, other = NODES[k // 2], pairs[k ^ 1][1]
                spare = [i for i in range(n) if i not in (j, other)]
                if spare:
                    choices.append((k, spare))
            k, spare = choices[int(rng.integers(len(choices)))]
            pairs[k] = (pairs[k][0], spare[int(rng.integers(len(spare)))])
        else:
            k = int(rng.integers(len(pairs)))
            others = [op for op in CANDIDATE_OPS if op != pairs[k][0]]
            pairs[k] = (others[int(rng.integers(len(others)))], pairs[k][1])
        if cell == "normal":
            return Genotype.of(pairs, g.reduce)
        return Genotype.of(g.normal, pairs)

    # -- masks ---------------------------------------------------------------
    def full_mask(self, exclude: Sequence[str] = ("none",)) -> Mask:
        if isinstance(exclude, str):
            exclude = (exclude,)
        for op in exclude:
            check_choice("op", op, OPS)
        alive = tuple(op for op in OPS if op not in exclude)
        return (alive,) * len(EDGE_KEYS)

    def arch_to_mask(self, arch: Hashable) -> Mask:
        """The mask of a genotype. A node that reads the same input twice has no
        mask (an edge holds each op once and the supernet would mix, not add,
        two ops on one edge): that raises :class:`InvalidArchitectureError`."""
        g = _as_genotype(arch)
        mask: list[tuple[str, ...]] = [()] * len(EDGE_KEYS)
        for cell in CELL_TYPES:
            for n in NODES:
                (op_a, a), (op_b, b) = g.node_pairs(cell, n)
                if a == b:
                    raise InvalidArchitectureError(
                        f"{cell} node {n} reads input {a} twice; a DARTS mask needs two distinct "
                        f"inputs per node (one op per kept edge)"
                    )
                mask[_EDGE_INDEX[cell, n, a]] = (op_a,)
                mask[_EDGE_INDEX[cell, n, b]] = (op_b,)
        return tuple(mask)

    def mask_to_arch(self, mask: Mask) -> Genotype:
        """The genotype of a fully pruned mask: per node exactly two alive edges
        with one op each (pairs ordered by input)."""
        mask = check_mask(mask)
        cells = []
        for cell in CELL_TYPES:
            pairs: list[Pair] = []
            for n in NODES:
                alive = []
                for j in range(n):
                    i = _EDGE_INDEX[cell, n, j]
                    if len(mask[i]) > 1:
                        raise InvalidArchitectureError(
                            f"edge {EDGE_KEYS[i]} still has {len(mask[i])} ops {mask[i]}; a genotype needs one op per kept edge"
                        )
                    if mask[i]:
                        alive.append((mask[i][0], j))
                if len(alive) != 2:
                    kept = ", ".join(f"{n}<-{j}" for _, j in alive) or "none"
                    raise InvalidArchitectureError(
                        f"{cell} node {n} has {len(alive)} alive input edges ({kept}); "
                        f"a genotype keeps exactly 2 of {cell}:{n}<-0 .. {cell}:{n}<-{n - 1}"
                    )
                pairs += alive
            cells.append(pairs)
        return Genotype.of(cells[0], cells[1])

    # -- networks --------------------------------------------------------------
    def build(
        self,
        arch: Hashable,
        *,
        channels: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
        variant: str = "cifar",
    ) -> nn.Module:
        """DARTS's evaluation network for ``arch`` (``variant="cifar"`` or ``"imagenet"``).

        Defaults are DARTS's CIFAR-10 setting (C=36, 20 cells, 3.35M parameters
        for DARTS-V2); the ImageNet setting is ``channels=48, layers=14,
        num_classes=1000, variant="imagenet"``.
        """
        g = _as_genotype(arch)
        check_choice("variant", variant, _VARIANTS)
        if channels < 1 or layers < 1 or num_classes < 1:
            raise ValueError(f"channels, layers and num_classes must be >= 1, got {channels}, {layers}, {num_classes}")
        cls = NetworkCIFAR if variant == "cifar" else NetworkImageNet
        return cls(g, channels, num_classes, layers, auxiliary, drop_path_prob)

    def param_count_millions(self, arch: Hashable, **build_kwargs: Any) -> float:
        """Parameters (millions) of the evaluation network, auxiliary head excluded
        as in DARTS's count; default C=36, 20 cells, CIFAR-10."""
        with torch.device("meta"):  # shapes only: no memory, no init cost
            model = self.build(arch, **build_kwargs)
        return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name) / 1e6

    def build_supernet(
        self,
        mask: Mask | None = None,
        *,
        channels: int = 16,
        layers: int | None = None,
        cells_per_stage: int | None = None,
        stages: int | None = None,
        num_classes: int = 10,
        in_channels: int = 3,
        stem: bool = True,
        steps: int = 4,
        multiplier: int = 4,
        stem_multiplier: int = 3,
        affine: bool = True,
        track_running_stats: bool = True,
        pool_bn: bool = False,
        op_weighting: str = "mean",
    ) -> DartsSupernet:
        """A supernet holding the ops of ``mask`` (default: all 8 ops on all edges).

        Cell layout: ``layers`` cells with DARTS's reductions at 1/3 and 2/3
        depth (default 8, DARTS search), or TE-NAS's ``cells_per_stage`` N and
        ``stages`` S (N normal cells, then per further stage a reduction cell
        and N-1 normal cells; N=1, S=2 is TE-NAS's normal + reduction pair).
        ``stem=False`` feeds the input (``in_channels``) straight to the cells.
        ``op_weighting="mean"`` averages an edge's alive ops as TE-NAS does;
        ``"sum"`` adds them. ``pool_bn`` adds DARTS-search's non-affine BN after
        pools (TE-NAS has none). See :attr:`PAPER_SUPERNETS` for the scoring nets.
        """
        mask = check_mask(mask if mask is not None else self.full_mask(exclude=()))
        if steps != len(NODES):
            raise ValueError(f"DARTS masks describe {len(NODES)} intermediate nodes; steps must be 4, got {steps}")
        if not 1 <= multiplier <= len(NODES):
            raise ValueError(f"multiplier must be in 1..{len(NODES)}, got {multiplier}")
        if channels < 1 or stem_multiplier < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError("channels, stem_multiplier, in_channels and num_classes must be >= 1")
        check_choice("op_weighting", op_weighting, _WEIGHTINGS)
        return DartsSupernet(
            mask,
            channels=channels,
            reductions=_reduction_flags(layers, cells_per_stage, stages),
            num_classes=num_classes,
            in_channels=in_channels,
            stem=stem,
            multiplier=multiplier,
            stem_multiplier=stem_multiplier,
            affine=affine,
            track_running_stats=track_running_stats,
            pool_bn=pool_bn,
            op_weighting=op_weighting,
        )

    def paper_supernet_kwargs(self, indicator: str) -> dict[str, Any]:
        """``build_supernet`` keywords of TE-NAS's scoring network for ``indicator``
        (``"ntk"``, ``"gen"`` or ``"lr"``); add ``num_classes`` for the dataset."""
        check_choice("indicator", indicator, self.PAPER_SUPERNETS)
        return dict(self.PAPER_SUPERNETS[indicator])

    # -- pruning structure ---------------------------------------------------
    def input_groups(self) -> tuple[tuple[int, ...], ...]:
        """Mask positions of each node's input edges: 4 normal nodes, then 4 reduce."""
        return tuple(tuple(_EDGE_INDEX[c, n, j] for j in range(n)) for c in CELL_TYPES for n in NODES)

    def ops_pruned_per_round(self, dataset: str = "cifar10") -> int:
        """3 on CIFAR (7 -> 4 -> 1 ops per edge), 2 on ImageNet (7 -> 5 -> 3 -> 1), as TE-NAS.

        TE-NAS ran DARTS on CIFAR-10 and ImageNet-1k; CIFAR-100 follows CIFAR-10
        and ImageNet16-120 follows ImageNet.
        """
        check_choice("dataset", dataset, _PRUNED_PER_ROUND)
        return _PRUNED_PER_ROUND[dataset]


__all__ = [
    "CELL_EDGES",
    "EDGE_KEYS",
    "Cell",
    "DartsSpace",
    "DartsSupernet",
    "Genotype",
    "NetworkCIFAR",
    "NetworkImageNet",
    "SearchCell",
    "check_mask",
]

"""The DARTS :class:`~tenas_automl.spaces.base.Space`: codec, sampling, mutation, networks."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from tenas_automl.errors import InvalidArchitectureError, check_choice
from tenas_automl.spaces.base import Mask, Space
from tenas_automl.spaces.darts.genotypes import (
    CANDIDATE_OPS,
    CELL_TYPES,
    NODES,
    OPS,
    Genotype,
    Pair,
    format_genotype,
)
from tenas_automl.spaces.darts.masks import (
    _EDGE_INDEX,
    _PRUNED_PER_ROUND,
    _VARIANTS,
    _WEIGHTINGS,
    EDGE_KEYS,
    as_genotype,
    check_mask,
    reduction_flags,
)
from tenas_automl.spaces.darts.network import (
    NetworkCIFAR,
    NetworkImageNet,
)
from tenas_automl.spaces.darts.supernet import (
    DartsSupernet,
)


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
        return as_genotype(text)

    def format(self, arch: Hashable) -> str:
        return format_genotype(as_genotype(arch))

    def dedup_key(self, arch: Hashable) -> str:
        """Genotypes up to the order of each node's two pairs."""
        return format_genotype(as_genotype(arch).canonical())

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
        g = as_genotype(arch)
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
        g = as_genotype(arch)
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
        g = as_genotype(arch)
        check_choice("variant", variant, _VARIANTS)
        if channels < 1 or layers < 1 or num_classes < 1:
            raise ValueError(f"channels, layers and num_classes must be >= 1, got {channels}, {layers}, {num_classes}")
        cls = NetworkCIFAR if variant == "cifar" else NetworkImageNet
        return cls(g, channels, num_classes, layers, auxiliary, drop_path_prob)

    def build_small(self, arch: Hashable, num_classes: int = 10) -> nn.Module:
        """8 channels, 3 cells (one of each reduction stage)."""
        return self.build(arch, channels=8, layers=3, num_classes=num_classes)

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
            reductions=reduction_flags(layers, cells_per_stage, stages),
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

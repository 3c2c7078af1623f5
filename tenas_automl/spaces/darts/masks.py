"""DARTS edges and masks: the 28 edge keys, mask validation, which cells reduce."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tenas_automl.errors import InvalidArchitectureError
from tenas_automl.spaces.base import Mask, edge_ops
from tenas_automl.spaces.darts.genotypes import (
    CELL_TYPES,
    NODES,
    OPS,
    PUBLISHED,
    Genotype,
    parse_genotype,
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


def as_genotype(arch: Any) -> Genotype:
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
        out.append(edge_ops(str(key), tuple(ops), OPS))
    return tuple(out)


def reduction_flags(layers: int | None, cells_per_stage: int | None, stages: int | None) -> tuple[bool, ...]:
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

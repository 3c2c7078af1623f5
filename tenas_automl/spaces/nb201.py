"""The NAS-Bench-201 / NATS-Bench topology search space.

A cell is a 4-node DAG with 6 edges (0->1, 0->2, 1->2, 0->3, 1->3, 2->3), each
carrying one of 5 ops: 5**6 = 15,625 architectures. The canonical string lists
the edges node by node, ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (``op~j`` is
the edge from node j).

Architecture index = NATS-Bench index. NAS-Bench-201 enumerated the cells
lexicographically (first edge most significant, ops in :data:`OPS` order) and
shuffled that list with Python's ``random.seed(88); random.shuffle``; the same
shuffle reproduces the benchmark's order exactly (the tests check all rows).

Benchmark accuracies come from the table bundled with the package by default;
pass ``NB201Space(benchmark=PATH)`` (or call :meth:`NB201Space.use_benchmark`)
to read a local NATS-Bench file instead, see
:mod:`tenas_automl.spaces.nb201_benchmark`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from tenas_automl.errors import InvalidArchitectureError, UnknownNameError
from tenas_automl.spaces.base import Mask, Space
from tenas_automl.spaces.nb201_benchmark import (
    BENCHMARK_DATASETS,
    BenchmarkSource,
    NB201Benchmark,
    TableBenchmark,
    check_index,
    load_table,
    resolve_benchmark,
)
from tenas_automl.spaces.nb201_ops import EDGE_NODES, EDGES, OPS, NB201Network, check_mask

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

NUM_ARCHS = len(OPS) ** len(EDGE_NODES)
_OP_INDEX = {op: k for k, op in enumerate(OPS)}


@dataclass(frozen=True)
class NB201Arch:
    """One NB201 cell: the op of each edge, in arch-string order
    (0->1, 0->2, 1->2, 0->3, 1->3, 2->3). ``str(arch)`` is the arch string."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops) if isinstance(self.ops, (list, tuple)) else self.ops
        if not isinstance(ops, tuple) or len(ops) != len(EDGES):
            raise InvalidArchitectureError(f"an NB201Arch needs 6 ops (edges {', '.join(EDGES)}), got {self.ops!r}")
        for edge, op in zip(EDGES, ops):
            if op not in _OP_INDEX:
                raise InvalidArchitectureError(f"edge {edge}: unknown op {op!r}; allowed: {', '.join(OPS)}")
        object.__setattr__(self, "ops", ops)

    @classmethod
    def parse(cls, text: str) -> NB201Arch:
        """Parse an arch string (see :func:`parse_arch`)."""
        return parse_arch(text)

    def __str__(self) -> str:
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    def __repr__(self) -> str:
        return f"NB201Arch('{self}')"

    def op(self, edge: str) -> str:
        """The op on ``edge`` (e.g. ``"1->2"``)."""
        if edge not in EDGES:
            raise UnknownNameError("edge", edge, EDGES)
        return self.ops[EDGES.index(edge)]


def parse_arch(text: str) -> NB201Arch:
    """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` strictly.

    Surrounding whitespace is ignored; anything else that deviates (node count,
    edge count, source indices, op names, missing bars) raises
    :class:`InvalidArchitectureError` naming the bad piece.
    """
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"an NB201 arch string is a str, got {type(text).__name__}: {text!r}")
    s = text.strip()
    example = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
    groups = s.split("+")
    if len(groups) != 3:
        raise InvalidArchitectureError(f"{text!r}: expected 3 nodes separated by '+' ({example}), got {len(groups)}")
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise InvalidArchitectureError(f"{text!r}: node {node} {group!r} must look like |op~0|...|")
        tokens = group[1:-1].split("|")
        if len(tokens) != node:
            raise InvalidArchitectureError(
                f"{text!r}: node {node} has {len(tokens)} edge(s) {group!r}; it needs {node} "
                f"(inputs {', '.join(str(j) for j in range(node))})"
            )
        for j, token in enumerate(tokens):
            op, tilde, src = token.partition("~")
            if not tilde or not op or not src.isdigit():
                raise InvalidArchitectureError(f"{text!r}: malformed edge {token!r} in node {node}; expected op~{j}")
            if op not in _OP_INDEX:
                raise InvalidArchitectureError(f"{text!r}: unknown op {op!r} in {token!r}; allowed: {', '.join(OPS)}")
            if src != str(j):
                raise InvalidArchitectureError(
                    f"{text!r}: edge {token!r} of node {node} reads input {src}; position {j + 1} must read input {j}"
                )
            ops.append(op)
    return NB201Arch(tuple(ops))


def unique_str(arch: NB201Arch) -> str:
    """A canonical string of the function the cell computes, equal for isomorphic cells.

    Each node is written as the sorted '+'-join of its incoming terms: a
    ``none`` edge, or an edge from a node that is identically zero, is ``#``;
    ``skip_connect`` passes its source's expression through; any other op is
    ``(source)@op``; the input node is ``0``. The result is the output node's
    expression, NATS-Bench's ``get_unique_str`` convention.
    """
    expr = ["0"]
    for i in range(1, 4):
        terms = []
        for (j, target), op in zip(EDGE_NODES, arch.ops):
            if target != i:
                continue
            if op == "none" or expr[j] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(expr[j])
            else:
                terms.append(f"({expr[j]})@{op}")
        expr.append("+".join(sorted(terms)))
    return expr[3]


def _code(arch: NB201Arch) -> int:
    """Lexicographic rank of ``arch`` (first edge most significant)."""
    code = 0
    for op in arch.ops:
        code = code * len(OPS) + _OP_INDEX[op]
    return code


def _from_code(code: int) -> NB201Arch:
    ops = []
    for _ in EDGES:
        code, k = divmod(code, len(OPS))
        ops.append(OPS[k])
    return NB201Arch(tuple(reversed(ops)))


# Positions NAS-Bench-201's generator asserts after its shuffle.
_KNOWN_POSITIONS = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    9: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    123: "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
}


@cache
def _index_tables() -> tuple[np.ndarray, np.ndarray]:
    """(index -> lexicographic code, code -> index), NATS-Bench order."""
    order = list(range(NUM_ARCHS))
    random.Random(88).shuffle(order)
    codes = np.asarray(order, dtype=np.int64)
    if any(str(_from_code(int(codes[i]))) != s for i, s in _KNOWN_POSITIONS.items()):
        # Only if Python ever changed random.shuffle: fall back to the bundled table.
        logger.warning("random.shuffle differs from NAS-Bench-201's; using the bundled table's order")
        codes = np.asarray([_code(parse_arch(s)) for s in load_table().arch_strings], dtype=np.int64)
    inverse = np.empty(NUM_ARCHS, dtype=np.int64)
    inverse[codes] = np.arange(NUM_ARCHS)
    return codes, inverse


class NB201Space(Space):
    """The NAS-Bench-201 cell space (15,625 architectures).

    Args:
        benchmark: where :meth:`benchmark_accuracy` reads from: ``None`` or
            ``"table"`` (the table bundled with the package), ``"nats"``
            (NATS-Bench files under ``$TORCH_HOME``), a path to a NATS-Bench
            file or ``-simple`` folder, or an :class:`NB201Benchmark`.
    """

    name: ClassVar[str] = "nb201"
    ops: ClassVar[tuple[str, ...]] = OPS

    def __init__(self, benchmark: BenchmarkSource = None) -> None:
        self._benchmark: NB201Benchmark = resolve_benchmark(benchmark)

    def __repr__(self) -> str:
        return f"NB201Space(benchmark={self._benchmark!r})"

    # -- codec -------------------------------------------------------------
    @property
    def edges(self) -> tuple[str, ...]:
        return EDGES

    def parse(self, text: str) -> NB201Arch:
        return parse_arch(text)

    def format(self, arch: Hashable) -> str:
        return str(self._arch(arch))

    def unique_str(self, arch: NB201Arch | str) -> str:
        """Isomorphism-canonical string (NATS-Bench's ``get_unique_str``)."""
        return unique_str(self._arch(arch))

    def dedup_key(self, arch: Hashable) -> str:
        """Cells up to isomorphism (:meth:`unique_str`)."""
        return unique_str(self._arch(arch))

    @staticmethod
    def _arch(arch: object) -> NB201Arch:
        if isinstance(arch, NB201Arch):
            return arch
        if isinstance(arch, str):
            return parse_arch(arch)
        raise InvalidArchitectureError(f"expected an NB201Arch or arch string, got {type(arch).__name__}: {arch!r}")

    # -- enumeration -------------------------------------------------------
    def size(self) -> int:
        return NUM_ARCHS

    def index_of(self, arch: NB201Arch | str) -> int:
        """The NATS-Bench index of ``arch``."""
        return int(_index_tables()[1][_code(self._arch(arch))])

    def arch_at(self, index: int) -> NB201Arch:
        """The architecture with NATS-Bench index ``index``."""
        return _from_code(int(_index_tables()[0][check_index(index)]))

    def all_archs(self) -> Iterator[NB201Arch]:
        """Every architecture, in NATS-Bench index order."""
        return (_from_code(int(c)) for c in _index_tables()[0])

    # -- sampling ----------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return NB201Arch(tuple(OPS[k] for k in rng.integers(0, len(OPS), size=len(EDGES))))

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> NB201Arch:
        """Change the op of exactly one uniformly chosen edge to a different op."""
        ops = list(self._arch(arch).ops)
        e = int(rng.integers(len(EDGES)))
        others = [op for op in OPS if op != ops[e]]
        ops[e] = others[int(rng.integers(len(others)))]
        return NB201Arch(tuple(ops))

    # -- masks -------------------------------------------------------------
    def full_mask(self, exclude: Sequence[str] = ("none",)) -> Mask:
        if isinstance(exclude, str):
            exclude = (exclude,)
        for op in exclude:
            if op not in _OP_INDEX:
                raise UnknownNameError("op", op, OPS)
        ops = tuple(op for op in OPS if op not in exclude)
        if not ops:
            raise InvalidArchitectureError(f"excluding {tuple(exclude)!r} leaves no op on the edges")
        return (ops,) * len(EDGES)

    def arch_to_mask(self, arch: Hashable) -> Mask:
        return tuple((op,) for op in self._arch(arch).ops)

    def mask_to_arch(self, mask: Mask) -> NB201Arch:
        mask = check_mask(mask)
        for edge, ops in zip(EDGES, mask):
            if len(ops) != 1:
                raise InvalidArchitectureError(
                    f"edge {edge} has {len(ops)} alive ops {ops!r}; a fully pruned mask has exactly one per edge"
                )
        return NB201Arch(tuple(ops[0] for ops in mask))

    def check_mask(self, mask: Sequence[Sequence[str]]) -> Mask:
        """Validate ``mask``; return it as tuples with ops in :data:`OPS` order."""
        return check_mask(mask)

    # -- networks ----------------------------------------------------------
    def build(
        self,
        arch: Hashable,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        stem: bool = True,
        stages: int = 3,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> NB201Network:
        """The stand-alone network of ``arch`` (NB201's ``TinyNetwork``).

        An :class:`NB201Network` with one op per edge, i.e. an ordinary
        trainable module returning logits; 802,426 parameters for the
        benchmark's reference cell at the defaults. The keywords are those of
        :meth:`build_supernet`, which gives the same network for
        ``arch_to_mask(arch)``.
        """
        return NB201Network(
            self.arch_to_mask(arch), channels=channels, cells_per_stage=cells_per_stage,
            num_classes=num_classes, in_channels=in_channels, stem=stem, stages=stages,
            affine=affine, track_running_stats=track_running_stats,
        )  # fmt: skip

    def build_supernet(
        self,
        mask: Mask | None = None,
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
    ) -> NB201Network:
        """A supernet whose edges hold the ops of ``mask`` (default: all 5 ops).

        TE-NAS widths: NTK ``channels=3, cells_per_stage=1``; linear regions
        ``channels=1, in_channels=1, stem=False, stages=1, cells_per_stage=1``.
        ``op_weighting="mean"`` (official) scales each alive op of an edge by
        1/#alive; ``"sum"`` adds them unscaled. Construction draws the same
        random numbers as TE-NAS's ``TinyNetworkDarts`` (including its unused
        stem and its architecture logits), so the full-space supernet built
        after ``torch.manual_seed(s)`` has the reference's initial weights.
        """
        return NB201Network(
            self.full_mask(exclude=()) if mask is None else mask,
            channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes,
            in_channels=in_channels, stem=stem, stages=stages, affine=affine,
            track_running_stats=track_running_stats, op_weighting=op_weighting, tenas_rng=True,
        )  # fmt: skip

    # -- benchmark ---------------------------------------------------------
    @property
    def benchmark(self) -> NB201Benchmark:
        """The source :meth:`benchmark_accuracy` reads from."""
        return self._benchmark

    def use_benchmark(self, source: BenchmarkSource = None) -> NB201Benchmark:
        """Switch the benchmark source (same values as the ``benchmark`` argument)."""
        self._benchmark = resolve_benchmark(source)
        return self._benchmark

    def build_small(self, arch: Hashable, num_classes: int = 10) -> nn.Module:
        """8 channels, one cell per stage."""
        return self.build(arch, channels=8, cells_per_stage=1, num_classes=num_classes)

    benchmark_datasets = BENCHMARK_DATASETS

    def benchmark_accuracy(self, arch: Hashable, dataset: str) -> float:
        """Test accuracy (%) after 200 epochs, mean over the benchmark's seeds.

        ``dataset``: ``cifar10``, ``cifar100`` or ``ImageNet16-120``.
        """
        return self._benchmark.accuracy(self.index_of(self._arch(arch)), dataset)

    def best_accuracy(self, dataset: str) -> float:
        """The highest :meth:`benchmark_accuracy` over the space (94.37 / 73.51 / 47.31)."""
        return self._benchmark.best_accuracy(dataset)


__all__ = [
    "BENCHMARK_DATASETS",
    "EDGES",
    "NUM_ARCHS",
    "OPS",
    "NB201Arch",
    "NB201Network",
    "NB201Space",
    "TableBenchmark",
    "parse_arch",
    "unique_str",
]

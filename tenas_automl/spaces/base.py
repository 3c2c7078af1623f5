"""The search-space protocol that NB201 and DARTS implement.

A space knows its architectures (an immutable value per cell structure), how
to print and parse them, how to sample and mutate them, and how to build
networks. Training-free indicators score *masks*: for each edge of the space,
the tuple of operations that are alive on it. A single architecture is a mask
with one op per edge (DARTS: one op on each of the two kept inputs of every
node, empty tuples elsewhere); the TE-NAS pruning search starts from the full
mask and removes ops. One supernet built from a mask can be re-masked to any
sub-mask without rebuilding, so candidates share weights as in TE-NAS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

#: Alive operations per edge, in the space's edge order.
Mask = tuple[tuple[str, ...], ...]


def edge_ops(edge: str, ops: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    """The alive ``ops`` of ``edge`` in ``allowed``'s order, checked: each known, none twice."""
    from tenas_automl.errors import InvalidArchitectureError

    for op in ops:
        if op not in allowed:
            raise InvalidArchitectureError(f"edge {edge}: unknown op {op!r}; allowed: {', '.join(allowed)}")
    if len(set(ops)) != len(ops):
        raise InvalidArchitectureError(f"edge {edge}: an op is listed twice in {tuple(ops)!r}")
    return tuple(op for op in allowed if op in ops)


class Supernet(nn.Module):
    """A network whose edges sum a maskable set of candidate operations.

    Subclasses instantiate every op named in the mask they were built with;
    :meth:`set_mask` switches ops off (or back on) without touching weights.
    Ops that are switched off are not evaluated at all.
    """

    mask: Mask

    def set_mask(self, mask: Mask) -> None:
        """Make ``mask`` (a sub-mask of the one built with) the alive set."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output (the input itself without a stem) and every cell's
        output, reduction blocks included, in forward order: the feature maps
        AZ-NAS reads. The classifier head is not run."""
        raise NotImplementedError

    def cell_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the cell stack (TEG-NAS's generalization kernel).

        As in the official TEG-NAS code (``'cell' in name``) this includes the
        reduction blocks that sit in the cell list; implementations may offer
        ``search_only=True`` for the search cells alone.
        """
        raise NotImplementedError


class Space(ABC):
    """A cell-based search space.

    Architectures are hashable, immutable values; ``format(parse(s)) == s`` for
    every canonical string ``s``.
    """

    name: ClassVar[str]
    #: The op vocabulary, in a fixed order.
    ops: ClassVar[tuple[str, ...]]

    # -- codec -------------------------------------------------------------
    @property
    @abstractmethod
    def edges(self) -> tuple[str, ...]:
        """Edge keys, in mask order."""

    @abstractmethod
    def parse(self, text: str) -> Hashable:
        """Parse an architecture string; raise InvalidArchitectureError on bad input."""

    @abstractmethod
    def format(self, arch: Hashable) -> str:
        """The canonical string of ``arch``."""

    # -- sampling ----------------------------------------------------------
    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Hashable:
        """A uniformly random architecture."""

    @abstractmethod
    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        """A random neighbour of ``arch`` (different from it)."""

    def size(self) -> int | None:
        """Number of architectures if it is enumerable, else None."""
        return None

    def dedup_key(self, arch: Hashable) -> str:
        """A string equal for architectures that are the same network up to a
        relabelling (searches propose only one of them); default: :meth:`format`."""
        return self.format(arch)

    # -- masks -------------------------------------------------------------
    @abstractmethod
    def full_mask(self, exclude: Sequence[str] = ("none",)) -> Mask:
        """Every op alive on every edge, except ``exclude``."""

    @abstractmethod
    def arch_to_mask(self, arch: Hashable) -> Mask:
        """The mask that selects exactly ``arch``."""

    @abstractmethod
    def mask_to_arch(self, mask: Mask) -> Hashable:
        """The architecture a fully pruned mask selects; InvalidArchitectureError if ambiguous."""

    # -- networks ----------------------------------------------------------
    @abstractmethod
    def build(self, arch: Hashable, **kwargs: Any) -> nn.Module:
        """The stand-alone network of ``arch`` (an ordinary trainable Module)."""

    def build_small(self, arch: Hashable, num_classes: int = 10) -> nn.Module:
        """A narrow, shallow network of ``arch`` that trains in minutes on a CPU
        (trial templates, examples); default: :meth:`build` with its defaults."""
        return self.build(arch, num_classes=num_classes)

    @abstractmethod
    def build_supernet(self, mask: Mask | None = None, **kwargs: Any) -> Supernet:
        """A supernet holding the ops of ``mask`` (default: all ops)."""

    # -- pruning structure -------------------------------------------------
    #: How many inputs each node keeps (DARTS: 2); 0 where nodes take every edge.
    inputs_per_node: ClassVar[int] = 0

    def input_groups(self) -> tuple[tuple[int, ...], ...]:
        """Edge indices (mask positions) grouped by the node they feed, for
        spaces whose nodes choose their inputs; empty for NB201."""
        return ()

    def ops_pruned_per_round(self, dataset: str = "cifar10") -> int:
        """Ops TE-NAS removes per edge per round (NB201: 1; DARTS: 3 on CIFAR, 2 on ImageNet)."""
        return 1

    def paper_supernet_kwargs(self, indicator: str) -> dict[str, Any]:
        """``build_supernet`` keywords of the network the papers score ``indicator`` on
        (empty: the indicator's own NB201 defaults apply)."""
        return {}

    # -- benchmark and size -------------------------------------------------
    #: Datasets a tabular benchmark gives accuracies for (empty: no benchmark).
    benchmark_datasets: ClassVar[tuple[str, ...]] = ()

    def benchmark_accuracy(self, arch: Hashable, dataset: str) -> float | None:
        """Test accuracy from a tabular benchmark, or None where there is none."""
        return None

    def best_accuracy(self, dataset: str) -> float | None:
        """The best :meth:`benchmark_accuracy` over the space, or None without a benchmark."""
        return None

    def param_count_millions(self, arch: Hashable, **build_kwargs: Any) -> float | None:
        """Parameters (millions) of the space's standard evaluation network of
        ``arch``, where the space defines one (DARTS); None otherwise."""
        return None

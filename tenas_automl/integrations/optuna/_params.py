"""Architectures as ordinary Optuna categorical parameters.

Every space maps to a fixed, documented list of categorical parameters, so an
architecture can be suggested by *any* Optuna sampler and stored, enqueued or
compared like any other parameter.

NB201 (``nb201/...``)
    One parameter per edge, ``nb201/edge_{i}<-{j}`` for the edge from node
    ``j`` to node ``i``, in arch-string order (``edge_1<-0``, ``edge_2<-0``,
    ``edge_2<-1``, ``edge_3<-0``, ``edge_3<-1``, ``edge_3<-2``); choices are the
    five ops in the space's fixed order (``none``, ``skip_connect``,
    ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``).

DARTS (``darts/...``)
    For each cell type (``normal``, ``reduce``) and node ``n`` (2-5), three
    parameters, suggested in this order:

    * ``darts/{cell}/node{n}/inputs``: the node's two *distinct* inputs as one
      categorical over the unordered pairs ``"i,j"`` (``i < j < n``, in
      lexicographic order: node 2 has only ``"0,1"``, node 5 has ten pairs).
      Choosing the pair as one value keeps the inputs distinct for every
      sampler, with no rejection step.
    * ``darts/{cell}/node{n}/op0``: the op on the smaller input ``i``;
    * ``darts/{cell}/node{n}/op1``: the op on the larger input ``j``.

    Op choices are the seven DARTS ops other than ``none``. The genotype built
    from them lists each node's pairs by input, so two genotypes that differ
    only in the order of a node's pairs (the same network) have the same
    parameters.

Other spaces follow the same rules from their ``edges`` and ``input_groups``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution

from tenas_automl.errors import InvalidArchitectureError, TenasError
from tenas_automl.spaces.base import Space

_EDGE_ARROW = re.compile(r"^(\d+)->(\d+)$")
_GROUP_KEY = re.compile(r"^(\w+):(\d+)<-\d+$")


class ArchitectureParamError(TenasError, ValueError):
    """A study or trial whose architecture parameters are missing or do not match the space."""


@dataclass(frozen=True)
class _Edge:
    """A single edge with its own op parameter (spaces without input choice)."""

    position: int
    name: str


@dataclass(frozen=True)
class _Node:
    """A node that keeps ``k`` of its input edges: one ``inputs`` and ``k`` op parameters."""

    positions: tuple[int, ...]
    inputs_name: str
    op_names: tuple[str, ...]
    pairs: tuple[str, ...]


class ArchCodec:
    """Two-way map between a space's architectures and Optuna parameters.

    Args:
        space: the search space.

    Attributes:
        distributions: parameter name -> :class:`CategoricalDistribution`, in
            the order :func:`suggest_architecture` suggests them.
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        prefix = space.name
        edges = space.edges
        grouped = {e for group in space.input_groups() for e in group}
        k = int(space.inputs_per_node)
        op_choices = tuple(op for op in space.ops if op != "none") if grouped else tuple(space.ops)
        self._edges: list[_Edge] = []
        self._nodes: list[_Node] = []
        dists: dict[str, CategoricalDistribution] = {}
        for position, key in enumerate(edges):
            if position in grouped:
                continue
            m = _EDGE_ARROW.match(key)
            label = f"edge_{m.group(2)}<-{m.group(1)}" if m else f"edge_{key}"
            name = f"{prefix}/{label}"
            self._edges.append(_Edge(position, name))
            dists[name] = CategoricalDistribution(op_choices)
        for g, group in enumerate(space.input_groups()):
            m = _GROUP_KEY.match(edges[group[0]])
            base = f"{prefix}/{m.group(1)}/node{m.group(2)}" if m else f"{prefix}/group{g}"
            pairs = tuple(",".join(map(str, c)) for c in itertools.combinations(range(len(group)), k))
            node = _Node(tuple(group), f"{base}/inputs", tuple(f"{base}/op{i}" for i in range(k)), pairs)
            self._nodes.append(node)
            dists[node.inputs_name] = CategoricalDistribution(pairs)
            for name in node.op_names:
                dists[name] = CategoricalDistribution(op_choices)
        self.distributions: dict[str, CategoricalDistribution] = dists
        self.names: tuple[str, ...] = tuple(dists)
        self.prefix = f"{prefix}/"

    def __repr__(self) -> str:
        return f"ArchCodec({self.space.name}, {len(self.names)} params)"

    # -- arch <-> params ------------------------------------------------------
    def params(self, arch: Hashable) -> dict[str, str]:
        """The parameter values that select ``arch`` (accepts an arch string too)."""
        if isinstance(arch, str):
            arch = self.space.parse(arch)
        mask = self.space.arch_to_mask(arch)
        out: dict[str, str] = {}
        for edge in self._edges:
            out[edge.name] = mask[edge.position][0]
        for node in self._nodes:
            alive = [i for i, e in enumerate(node.positions) if mask[e]]
            out[node.inputs_name] = ",".join(map(str, alive))
            for name, i in zip(node.op_names, alive):
                out[name] = mask[node.positions[i]][0]
        for name, value in out.items():
            if value not in self.distributions[name].choices:
                raise InvalidArchitectureError(
                    f"{self.space.format(arch)} has {value!r} for {name}, which Optuna cannot suggest; "
                    f"allowed: {', '.join(map(str, self.distributions[name].choices))}"
                )
        return {name: out[name] for name in self.names}

    def arch(self, params: Mapping[str, Any]) -> Hashable:
        """The architecture selected by ``params`` (extra keys are ignored).

        Raises :class:`ArchitectureParamError` naming the missing parameters
        and :class:`InvalidArchitectureError` for a value outside the choices.
        """
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ArchitectureParamError(
                f"the trial has no {self.space.name} architecture parameter(s) {', '.join(missing)}; "
                f"the objective must suggest all of {', '.join(self.names)} "
                f"(call tenas_automl.integrations.optuna.suggest_architecture(trial, space))"
            )
        for name in self.names:
            choices = self.distributions[name].choices
            if params[name] not in choices:
                raise InvalidArchitectureError(
                    f"parameter {name}={params[name]!r} is not a choice; allowed: {', '.join(map(str, choices))}"
                )
        mask: list[tuple[str, ...]] = [()] * len(self.space.edges)
        for edge in self._edges:
            mask[edge.position] = (str(params[edge.name]),)
        for node in self._nodes:
            for name, i in zip(node.op_names, map(int, str(params[node.inputs_name]).split(","))):
                mask[node.positions[i]] = (str(params[name]),)
        return self.space.mask_to_arch(tuple(mask))

    def arch_of_key(self, key: Sequence[str]) -> Hashable:
        """The architecture of a :meth:`key`."""
        return self.arch(dict(zip(self.names, key)))

    def has_arch(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` holds every architecture parameter."""
        return all(n in params for n in self.names)

    def key(self, arch: Hashable) -> tuple[str, ...]:
        """A canonical hashable key of ``arch`` (its parameter values, in order)."""
        p = self.params(arch)
        return tuple(p[n] for n in self.names)

    def key_of_params(self, params: Mapping[str, Any]) -> tuple[str, ...] | None:
        """The key of the architecture ``params`` select, or None if any is missing."""
        if not self.has_arch(params):
            return None
        return tuple(str(params[n]) for n in self.names)

    # -- studies ------------------------------------------------------------------
    def check_distributions(self, distributions: Mapping[str, Any], where: str) -> None:
        """Raise if ``distributions`` use this space's names with other choices or unknown names."""
        for name, dist in distributions.items():
            if not name.startswith(self.prefix):
                continue
            if name not in self.distributions:
                raise ArchitectureParamError(
                    f"{where} has parameter {name!r}, which is not an architecture parameter of "
                    f"{self.space.name}; expected names: {', '.join(self.names)}"
                )
            expected = self.distributions[name]
            if dist != expected:
                got = getattr(dist, "choices", dist)
                raise ArchitectureParamError(
                    f"{where} has parameter {name!r} with choices {got!r}; "
                    f"{self.space.name} needs {expected.choices!r}. Use a new study for this space"
                )


@cache
def _codec_for(space: Space) -> ArchCodec:
    return ArchCodec(space)


def get_codec(space: Space) -> ArchCodec:
    """The (cached) codec of ``space``."""
    return _codec_for(space)


def suggest_architecture(trial: optuna.trial.BaseTrial, space: Space | str) -> Hashable:
    """Suggest an architecture of ``space`` as categorical parameters and return it.

    Works with any sampler (and with :class:`optuna.trial.FixedTrial`); with
    :class:`~tenas_automl.integrations.optuna.TrainingFreeSampler` the whole
    architecture comes from one training-free proposal.
    """
    from tenas_automl.spaces import resolve_space

    codec = get_codec(resolve_space(space))
    params = {name: trial.suggest_categorical(name, dist.choices) for name, dist in codec.distributions.items()}
    return codec.arch(params)

"""Map NNI hub samples to tenas-automl architectures and back.

An NNI *sample* is the architecture dict NNI freezes a model space with, as
``NasExperiment.export_top_models(formatter="dict")`` returns it.

NAS-Bench-201 (``nni.nas.hub.pytorch.NasBench201``)
    Keys ``cell/{j}_{i}`` for the edge from node j to node i, in the arch
    string's order (``cell/0_1, cell/0_2, cell/1_2, cell/0_3, cell/1_3,
    cell/2_3``). NNI says ``conv_1x1``/``conv_3x3`` where NAS-Bench-201 says
    ``nor_conv_1x1``/``nor_conv_3x3``.

DARTS (``nni.nas.hub.pytorch.DARTS``)
    For cell ``normal``/``reduce``, node n in 2..5 and its k-th input (k = 0, 1):
    ``{cell}/op_{n}_{k}`` is the op and ``{cell}/input_{n}_{k}`` a one-element
    list with the input index, i.e. genotype pair ``2 * (n - 2) + k``. NNI has
    no ``none`` op. The hub space may also carry ``width`` and ``depth``
    (network size, not cell structure): :func:`to_arch` ignores them.

Only this module knows the key formats.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from tenas_automl import spaces
from tenas_automl.errors import InvalidArchitectureError, check_choice, key_mismatch
from tenas_automl.integrations.nni.config import edge_ops as _edge_ops
from tenas_automl.spaces import SPACES, Space, get_space

#: NAS-Bench-201 op -> NNI ``NasBench201`` op, where they differ.
NB201_TO_NNI: dict[str, str] = {"nor_conv_1x1": "conv_1x1", "nor_conv_3x3": "conv_3x3"}
NNI_TO_NB201: dict[str, str] = {v: k for k, v in NB201_TO_NNI.items()}
#: Keys of NNI's DARTS space that size the network and carry no cell structure.
DARTS_SIZE_KEYS: tuple[str, ...] = ("width", "depth")

_DARTS_CELLS = ("normal", "reduce")
_DARTS_NODES = (2, 3, 4, 5)


def resolve_space(space: Space | str) -> Space:
    """:func:`tenas_automl.spaces.resolve_space`, for the spaces NNI has hub spaces of (nb201, darts)."""
    sp = spaces.resolve_space(space)
    check_choice("space", sp.name, SPACES)
    return sp


def _nb201_keys(space: Space) -> list[str]:
    # Edge names are "j->i"; NNI labels the same edge "j_i" inside label scope "cell".
    return [f"cell/{e.replace('->', '_')}" for e in space.edges]


def _darts_keys() -> list[tuple[str, str, int]]:
    """(op key, input key, node) per genotype pair, cell by cell, pair order."""
    return [(f"{cell}/op_{n}_{k}", f"{cell}/input_{n}_{k}", n) for cell in _DARTS_CELLS for n in _DARTS_NODES for k in (0, 1)]


def sample_keys(space: Space | str) -> tuple[str, ...]:
    """The cell keys of an NNI sample of ``space``, in a fixed order."""
    sp = resolve_space(space)
    if _edge_ops(sp):
        return tuple(_nb201_keys(sp))
    return tuple(k for op_key, in_key, _ in _darts_keys() for k in (op_key, in_key))


def nni_op_names(space: Space | str) -> dict[str, str]:
    """Our op name -> NNI's, for every op NNI's hub space offers."""
    sp = resolve_space(space)
    # Nodes that choose their inputs never derive "none" (NNI's DARTS has no such op).
    return {op: NB201_TO_NNI.get(op, op) for op in sp.ops if _edge_ops(sp) or op != "none"}


def _check_keys(sample: Mapping[str, Any], expected: Sequence[str], ignored: Sequence[str], space: str) -> None:
    if not isinstance(sample, Mapping):
        raise InvalidArchitectureError(f"an NNI sample is a dict of label -> choice, got {type(sample).__name__}")
    problem = key_mismatch(sample, expected, ignored)
    if problem:
        raise InvalidArchitectureError(f"NNI sample of {space} {problem}; expected keys: {', '.join(expected)}")


def to_arch(sample: Mapping[str, Any], space: Space | str) -> Hashable:
    """The architecture of ``space`` an NNI hub sample describes.

    Raises :class:`InvalidArchitectureError` naming the first missing or
    unknown key, or the key whose value is not an allowed choice.
    """
    sp = resolve_space(space)
    if _edge_ops(sp):
        keys = _nb201_keys(sp)
        _check_keys(sample, keys, (), sp.name)
        allowed = nni_op_names(sp)
        ops = []
        for key in keys:
            value = sample[key]
            if not isinstance(value, str) or value not in allowed.values():
                raise InvalidArchitectureError(
                    f"NNI sample key {key!r} has value {value!r}; allowed: {', '.join(allowed.values())}"
                )
            ops.append(NNI_TO_NB201.get(value, value))
        return sp.mask_to_arch(tuple((op,) for op in ops))
    return _darts_to_arch(sample, sp)


def _darts_to_arch(sample: Mapping[str, Any], sp: Space) -> Hashable:
    from tenas_automl.spaces.darts.genotypes import Genotype

    keys = _darts_keys()
    _check_keys(sample, [k for op_key, in_key, _ in keys for k in (op_key, in_key)], DARTS_SIZE_KEYS, "darts")
    allowed = list(nni_op_names(sp).values())
    pairs: list[tuple[str, int]] = []
    for op_key, in_key, node in keys:
        op = sample[op_key]
        if op not in allowed:
            raise InvalidArchitectureError(f"NNI sample key {op_key!r} has value {op!r}; allowed: {', '.join(allowed)}")
        raw = sample[in_key]
        inp = raw[0] if isinstance(raw, (list, tuple)) and len(raw) == 1 else raw
        if isinstance(inp, bool) or not isinstance(inp, numbers.Integral) or not 0 <= inp < node:
            raise InvalidArchitectureError(
                f"NNI sample key {in_key!r} has value {raw!r}; expected a one-element list [j] with 0 <= j <= {node - 1}"
            )
        pairs.append((str(op), int(inp)))
    half = len(pairs) // 2
    return Genotype.of(pairs[:half], pairs[half:])


def from_arch(arch: Hashable | str, space: Space | str) -> dict[str, Any]:
    """The NNI hub sample of ``arch`` (an architecture of ``space`` or its string).

    ``to_arch(from_arch(a, s), s) == a`` for every architecture NNI's hub
    space can express; a DARTS genotype using ``none`` cannot be expressed and
    raises :class:`InvalidArchitectureError` naming the key.
    """
    sp = resolve_space(space)
    if isinstance(arch, str):
        arch = sp.parse(arch)
    if _edge_ops(sp):
        names = nni_op_names(sp)
        mask = sp.arch_to_mask(arch)
        return {key: names[ops[0]] for key, ops in zip(_nb201_keys(sp), mask)}
    from tenas_automl.spaces.darts.genotypes import Genotype

    g = arch if isinstance(arch, Genotype) else sp.parse(sp.format(arch))
    out: dict[str, Any] = {}
    for (op_key, in_key, _), (op, inp) in zip(_darts_keys(), (*g.normal, *g.reduce)):
        if op == "none":
            raise InvalidArchitectureError(
                f"op 'none' (NNI sample key {op_key!r}) has no counterpart in NNI's DARTS space, "
                f"whose ops are: {', '.join(nni_op_names(sp).values())}"
            )
        out[op_key] = op
        out[in_key] = [inp]
    return out


def detect_space(choices: Mapping[str, Any]) -> Space | None:
    """Which of our spaces an NNI model space is, from its ``simplify()`` dict; None if neither.

    NB201 needs the six ``cell/j_i`` labels with NNI's five ops; DARTS the 32
    cell labels with ops among ours. Other labels (DARTS ``width`` and
    ``depth``, a mutable evaluator's arguments) may be present.
    """
    labels = set(choices)
    for name in SPACES:
        sp = get_space(name)
        keys = sample_keys(sp)
        if not set(keys) <= labels:
            continue
        allowed = set(nni_op_names(sp).values())
        op_keys = [k for k in keys if "input_" not in k]
        if all(set(_values(choices[k])) <= allowed for k in op_keys):
            return sp
    return None


def _values(mutable: Any) -> list[Any]:
    values = getattr(mutable, "values", None)
    return list(values) if values is not None else [object()]

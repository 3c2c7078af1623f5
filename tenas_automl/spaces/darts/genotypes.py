"""DARTS genotypes: the immutable value, its text codec, and published cells.

A genotype names, for each of the four intermediate nodes (2-5) of the normal
and the reduction cell, two ``(op, input)`` pairs; inputs 0 and 1 are the two
previous cells' outputs and input ``k >= 2`` is node ``k``. The cell output
concatenates nodes 2-5.

The text form is the one DARTS and its descendants print::

    Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])

It is parsed by a small strict grammar (never ``eval``); ``range(2, 6)`` is
accepted for the concat lists because published files use it.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tenas_automl.errors import InvalidArchitectureError

#: The DARTS op vocabulary, in the order of DARTS's ``PRIMITIVES``.
OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: Ops a sampled or mutated genotype may use (DARTS never derives ``none``).
CANDIDATE_OPS: tuple[str, ...] = OPS[1:]
CELL_TYPES: tuple[str, str] = ("normal", "reduce")
#: Intermediate nodes; node ``n`` may read inputs ``0 .. n-1``.
NODES: tuple[int, ...] = (2, 3, 4, 5)
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
PAIRS_PER_CELL = 2 * len(NODES)

Pair = tuple[str, int]


def _check_cell(cell: str, pairs: Any) -> tuple[Pair, ...]:
    """Validate one cell's pair list and return it as a tuple of tuples."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise InvalidArchitectureError(f"{cell} must be a list of {PAIRS_PER_CELL} (op, input) pairs, got {pairs!r}")
    pairs = list(pairs)
    if len(pairs) != PAIRS_PER_CELL:
        raise InvalidArchitectureError(
            f"{cell} has {len(pairs)} (op, input) pairs; expected {PAIRS_PER_CELL} "
            f"(two for each of the nodes {', '.join(map(str, NODES))})"
        )
    out: list[Pair] = []
    for k, pair in enumerate(pairs):
        node = NODES[k // 2]
        where = f"{cell} pair {k} (node {node})"
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InvalidArchitectureError(f"{where} must be an (op, input) pair, got {pair!r}")
        op, inp = pair
        if op not in OPS:
            raise InvalidArchitectureError(f"unknown op {op!r} in {where}; allowed: {', '.join(OPS)}")
        # bool is an int subclass; True as an input index is a bug, not a node.
        if isinstance(inp, bool) or not isinstance(inp, numbers.Integral):
            raise InvalidArchitectureError(f"input of {where} must be an integer, got {inp!r}")
        if not 0 <= inp < node:
            raise InvalidArchitectureError(f"input {inp} of {where} is out of range; node {node} may read inputs 0-{node - 1}")
        out.append((str(op), int(inp)))
    return tuple(out)


def _check_concat(field_name: str, concat: Any) -> tuple[int, ...]:
    try:
        values = tuple(concat)
    except TypeError:
        values = None
    if values != CONCAT or any(isinstance(v, bool) for v in values):
        raise InvalidArchitectureError(
            f"{field_name} must be [2, 3, 4, 5] (or range(2, 6)): this space concatenates "
            f"all four intermediate nodes; got {concat!r}"
        )
    return CONCAT


@dataclass(frozen=True, eq=False, repr=False)
class Genotype:
    """A DARTS cell pair: 8 ``(op, input)`` pairs for each of normal and reduce.

    Fields mirror DARTS's namedtuple, so code written for it (``zip(*g.normal)``)
    keeps working. Construction validates everything and raises
    :class:`InvalidArchitectureError` on bad ops, inputs or counts.

    Equality and hashing ignore the order of the two pairs *within* a node
    (the node sums them, so the network is the same); :meth:`format` keeps the
    order given, so published strings print back unchanged. A node may read the
    same input twice (DARTS's evaluation code allows it); such genotypes build
    networks but have no mask (see ``DartsSpace.arch_to_mask``).
    """

    normal: tuple[Pair, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Pair, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _check_cell("normal", self.normal))
        object.__setattr__(self, "reduce", _check_cell("reduce", self.reduce))
        object.__setattr__(self, "normal_concat", _check_concat("normal_concat", self.normal_concat))
        object.__setattr__(self, "reduce_concat", _check_concat("reduce_concat", self.reduce_concat))

    @classmethod
    def of(cls, normal: Iterable[Pair], reduce: Iterable[Pair]) -> Genotype:
        """A genotype with the standard concat ``[2, 3, 4, 5]``."""
        return cls(tuple(normal), CONCAT, tuple(reduce), CONCAT)

    def cell(self, cell_type: str) -> tuple[Pair, ...]:
        """The pairs of ``"normal"`` or ``"reduce"``."""
        if cell_type == "normal":
            return self.normal
        if cell_type == "reduce":
            return self.reduce
        raise InvalidArchitectureError(f"unknown cell type {cell_type!r}; allowed: normal, reduce")

    def node_pairs(self, cell_type: str, node: int) -> tuple[Pair, Pair]:
        """The two pairs feeding ``node`` (2-5) of a cell."""
        pairs = self.cell(cell_type)
        k = 2 * (node - NODES[0])
        return pairs[k], pairs[k + 1]

    def canonical(self) -> Genotype:
        """The same genotype with each node's pairs sorted by (input, op)."""

        def sort(pairs: tuple[Pair, ...]) -> tuple[Pair, ...]:
            nodes = (sorted(pairs[k : k + 2], key=lambda x: (x[1], x[0])) for k in range(0, len(pairs), 2))
            return tuple(p for node in nodes for p in node)

        return Genotype(sort(self.normal), CONCAT, sort(self.reduce), CONCAT)

    def _key(self) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
        c = self.canonical()
        return c.normal, c.reduce

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Genotype):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def format(self) -> str:
        """The canonical text (concat printed as lists)."""
        return format_genotype(self)

    def __repr__(self) -> str:
        return format_genotype(self)

    __str__ = __repr__


def format_genotype(genotype: Genotype) -> str:
    """``Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...])``."""

    def pairs(ps: tuple[Pair, ...]) -> str:
        return "[" + ", ".join(f"('{op}', {inp})" for op, inp in ps) + "]"

    def concat(c: tuple[int, ...]) -> str:
        return "[" + ", ".join(map(str, c)) + "]"

    return (
        f"Genotype(normal={pairs(genotype.normal)}, normal_concat={concat(genotype.normal_concat)}, "
        f"reduce={pairs(genotype.reduce)}, reduce_concat={concat(genotype.reduce_concat)})"
    )


# -- parser -----------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<int>[+-]?\d+)"
    r"|(?P<str>'[^'\\\n]*'|\"[^\"\\\n]*\")|(?P<punct>[()\[\],=]))"
)
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_CLOSE = {"(": ")", "[": "]"}


def _desc(token: str) -> str:
    return repr(token) if token else "the end of the string"


class _Parser:
    """Recursive descent over the genotype grammar; every error names its position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        self.scan_pos = 0  # tokens are scanned lazily, so errors come in grammar order
        self.end = len(text.rstrip())
        self.i = 0

    def _error(self, what: str, pos: int) -> InvalidArchitectureError:
        snippet = self.text[pos : pos + 30]
        return InvalidArchitectureError(
            f"bad genotype string: {what} at position {pos} ({snippet!r}); expected the form "
            "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], "
            "reduce=[...], reduce_concat=[2, 3, 4, 5])"
        )

    def _peek(self, ahead: int = 0) -> tuple[str, str, int]:
        while len(self.tokens) <= self.i + ahead and self.scan_pos < self.end:
            m = _TOKEN.match(self.text, self.scan_pos)
            if m is None:
                pos = len(self.text) - len(self.text[self.scan_pos :].lstrip())
                raise self._error(f"unexpected character {self.text[pos]!r}", pos)
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            self.scan_pos = m.end()
        if self.i + ahead < len(self.tokens):
            return self.tokens[self.i + ahead]
        return ("end", "", len(self.text))

    def _next(self) -> tuple[str, str, int]:
        tok = self._peek()
        self.i += 1
        return tok

    def _expect(self, value: str) -> None:
        kind, text, pos = self._next()
        if text != value or kind not in ("punct", "name"):
            raise self._error(f"expected {value!r} but found {_desc(text)}", pos)

    def _accept(self, value: str) -> bool:
        if self._peek()[1] == value and self._peek()[0] == "punct":
            self.i += 1
            return True
        return False

    def _int(self) -> int:
        kind, text, pos = self._next()
        if kind != "int":
            raise self._error(f"expected an integer but found {_desc(text)}", pos)
        return int(text)

    def _seq(self, item: Any) -> list[Any]:
        """``[a, b, ...]`` or ``(a, b, ...)`` with an optional trailing comma."""
        kind, text, pos = self._next()
        if text not in _CLOSE or kind != "punct":
            raise self._error(f"expected '[' but found {_desc(text)}", pos)
        close, items = _CLOSE[text], []
        while not self._accept(close):
            items.append(item())
            if not self._accept(","):
                self._expect(close)
                break
        return items

    def _pair(self) -> tuple[str, int]:
        kind, text, pos = self._next()
        if text not in _CLOSE or kind != "punct":
            raise self._error(f"expected an (op, input) pair but found {_desc(text)}", pos)
        close = _CLOSE[text]
        kind, op, pos = self._next()
        if kind != "str":
            raise self._error(f"expected a quoted op name but found {_desc(op)}", pos)
        self._expect(",")
        inp = self._int()
        self._accept(",")
        self._expect(close)
        return op[1:-1], inp

    def _pair_or_group(self) -> tuple[str, int] | list[tuple[str, int]]:
        # A pair opens with a bracket and a quoted op; a per-node group with a bracket and a pair.
        nxt = self._peek(1)
        if nxt[0] == "punct" and nxt[1] in _CLOSE:
            return self._seq(self._pair)
        return self._pair()

    def _cell(self, key: str, pos: int) -> list[tuple[str, int]]:
        """A flat list of pairs, or (pt.darts style) one list of two pairs per node."""
        items = self._seq(self._pair_or_group)
        groups = [it for it in items if isinstance(it, list)]
        if not groups:
            return list(_check_cell(key, items))
        if len(groups) != len(items):
            raise self._error(f"{key} mixes (op, input) pairs and per-node lists", pos)
        if len(groups) != len(NODES) or any(len(g) != 2 for g in groups):
            sizes = ", ".join(str(len(g)) for g in groups)
            raise InvalidArchitectureError(
                f"{key} lists per-node groups of sizes [{sizes}]; expected {len(NODES)} groups "
                f"of 2 (op, input) pairs, one per node {', '.join(map(str, NODES))}"
            )
        return list(_check_cell(key, [p for g in groups for p in g]))

    def _concat(self) -> list[int]:
        kind, text, pos = self._peek()
        if kind == "name":
            if text != "range":
                raise self._error(f"expected a list or range(2, 6) but found {text!r}", pos)
            self.i += 1
            self._expect("(")
            start = self._int()
            self._expect(",")
            stop = self._int()
            self._expect(")")
            return list(range(start, stop))
        return self._seq(self._int)

    def parse(self) -> Genotype:
        self._expect("Genotype")
        self._expect("(")
        values: dict[str, Any] = {}
        while not self._accept(")"):
            kind, key, pos = self._next()
            if kind != "name" or key not in _FIELDS:
                raise self._error(f"unknown field {_desc(key)} (allowed: {', '.join(_FIELDS)})", pos)
            if key in values:
                raise self._error(f"field {key!r} given twice", pos)
            self._expect("=")
            values[key] = self._concat() if key.endswith("concat") else self._cell(key, pos)
            if not self._accept(","):
                self._expect(")")
                break
        kind, text, pos = self._peek()
        if kind != "end":
            raise self._error(f"unexpected {text!r} after the closing parenthesis", pos)
        missing = [f for f in _FIELDS if f not in values]
        if missing:
            raise InvalidArchitectureError(
                f"bad genotype string: missing field(s) {', '.join(missing)}; a genotype needs {', '.join(_FIELDS)}"
            )
        return Genotype(**values)


def parse_genotype(text: str) -> Genotype:
    """Parse DARTS genotype text; raise :class:`InvalidArchitectureError` naming the bad piece."""
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"a DARTS genotype string is expected, got {type(text).__name__}")
    return _Parser(text).parse()


# The published genotypes live in .published, which parses them with this module;
# they are re-exported here, their first home.
from tenas_automl.spaces.darts.published import (  # noqa: E402
    DARTS_V1,
    DARTS_V2,
    PC_DARTS,
    PUBLISHED,
    TENAS_CIFAR10,
    TENAS_IMAGENET,
)

__all__ = [
    "CANDIDATE_OPS",
    "CELL_TYPES",
    "DARTS_V1",
    "DARTS_V2",
    "NODES",
    "OPS",
    "PC_DARTS",
    "PUBLISHED",
    "TENAS_CIFAR10",
    "TENAS_IMAGENET",
    "Genotype",
    "format_genotype",
    "parse_genotype",
]

"""NNI HPO search spaces for architectures, and a ready-to-run ``nnictl`` experiment.

This module does not import NNI: it only knows the *format* of the search
space that :class:`~tenas_automl.integrations.nni.tuner.TrainingFreeTuner`
reads and that the trial script decodes.

Search-space keys (NNI's HPO format, one ``choice`` per key)
    NB201
        ``edge_{i}<-{j}`` for the edge from node j to node i, in arch-string
        order (``edge_1<-0, edge_2<-0, edge_2<-1, edge_3<-0, edge_3<-1,
        edge_3<-2``); values are NB201 op names (``none``, ``skip_connect``,
        ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``).
    DARTS
        For cell ``normal``/``reduce``, node n in 2..5 and its k-th kept input
        (k = 0, 1), i.e. genotype pair ``2 * (n - 2) + k``:
        ``{cell}_node{n}_op{k}`` (one of the 7 DARTS ops, no ``none``) and
        ``{cell}_node{n}_input{k}`` (an integer 0..n-1: 0 and 1 are the two
        previous cells, j >= 2 is node j). The tuner never proposes a node that
        reads the same input twice.

A search space may offer a *subset* of a key's values to restrict the search
(e.g. no ``none`` on some edge); keys may not be missing or added.
:func:`parse_search_space` validates one; :class:`Choices` draws within it.

:func:`write_nni_config` writes ``config.yml``, ``search_space.json`` and
``trial.py`` (see ``templates/nni_trial.py``) into a folder; ``nnictl create
--config config.yml`` runs it.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from tenas_automl._io import atomic_write_text
from tenas_automl.errors import InvalidArchitectureError, TenasError, check_choice, key_mismatch

if TYPE_CHECKING:
    from tenas_automl.spaces import Space

#: Fully qualified class name written into generated configs. The
#: ``tenas_automl.integrations.nni.TrainingFreeTuner`` alias works too, but
#: importing that module also loads NNI's NAS stack (pytorch-lightning).
TUNER_CLASS = "tenas_automl.integrations.nni.tuner.TrainingFreeTuner"
CONFIG_FILE, SEARCH_SPACE_FILE, TRIAL_FILE = "config.yml", "search_space.json", "trial.py"

_DARTS_CELLS = ("normal", "reduce")
_DARTS_NODES = (2, 3, 4, 5)


class InvalidSearchSpaceError(TenasError, ValueError):
    """An NNI search space that does not describe the tuner's architecture space."""


def _space(space: Space | str) -> Space:
    # Imported here: the spaces load torch, which NNI's tuner process cannot wait for at import.
    from tenas_automl.spaces import SPACES, get_space

    if isinstance(space, str):
        return get_space(check_choice("space", space, SPACES))
    return space


def _nb201_keys(sp: Space) -> list[str]:
    # Space edges are "j->i"; keys name the target first, as the DARTS keys do.
    return [f"edge_{e.split('->')[1]}<-{e.split('->')[0]}" for e in sp.edges]


def edge_ops(sp: Space) -> bool:
    """True for spaces whose every edge carries one op (NB201); False for spaces whose
    nodes choose their inputs (DARTS, ``Space.input_groups``)."""
    return not sp.input_groups()


def darts_pair_keys() -> list[tuple[str, str, int]]:
    """``(op key, input key, node)`` of every DARTS genotype pair, normal cell first."""
    return [(f"{c}_node{n}_op{k}", f"{c}_node{n}_input{k}", n) for c in _DARTS_CELLS for n in _DARTS_NODES for k in (0, 1)]


def choices_for(space: Space | str = "nb201") -> dict[str, tuple[Any, ...]]:
    """Every key of ``space``'s search space and all the values it may take, in order."""
    sp = _space(space)
    if edge_ops(sp):
        return {k: tuple(sp.ops) for k in _nb201_keys(sp)}
    ops = tuple(op for op in sp.ops if op != "none")  # DARTS never derives "none"
    out: dict[str, tuple[Any, ...]] = {}
    for op_key, in_key, node in darts_pair_keys():
        out[op_key] = ops
        out[in_key] = tuple(range(node))
    return out


def search_space_for(space: Space | str = "nb201") -> dict[str, dict[str, Any]]:
    """The full NNI search space of ``space``: ``{key: {"_type": "choice", "_value": [...]}}``."""
    return {k: {"_type": "choice", "_value": list(v)} for k, v in choices_for(space).items()}


def parse_search_space(search_space: Any, space: Space | str = "nb201") -> dict[str, tuple[Any, ...]]:
    """Validate an NNI search space against ``space``; return the allowed values per key.

    Raises :class:`InvalidSearchSpaceError` naming the first missing or unknown
    key, or a key whose entry is not a ``choice`` of allowed values.
    """
    sp = _space(space)
    full = choices_for(sp)
    expected = ", ".join(full)
    hint = f"`tenas-automl nni-config --space {sp.name}` writes a complete one"
    if not isinstance(search_space, Mapping):
        raise InvalidSearchSpaceError(
            f"an NNI search space is a dict of key -> {{'_type': 'choice', '_value': [...]}}, "
            f"got {type(search_space).__name__}; {hint}"
        )
    problem = key_mismatch(search_space, full)
    if problem and problem.startswith("lacks"):
        raise InvalidSearchSpaceError(f"the {sp.name} search space {problem}; expected keys: {expected}; {hint}")
    if problem:
        raise InvalidSearchSpaceError(
            f"the {sp.name} search space {problem}; the training-free tuner searches the architecture only, with keys: {expected}"
        )
    allowed: dict[str, tuple[Any, ...]] = {}
    for key, values in full.items():
        entry = search_space[key]
        if not isinstance(entry, Mapping) or entry.get("_type") != "choice":
            kind = entry.get("_type") if isinstance(entry, Mapping) else type(entry).__name__
            raise InvalidSearchSpaceError(
                f"search space key {key!r} must be {{'_type': 'choice', '_value': [...]}}, got {kind!r}"
            )
        raw = entry.get("_value")
        if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
            raise InvalidSearchSpaceError(
                f"search space key {key!r} needs a non-empty '_value' list drawn from {list(values)}, got {raw!r}"
            )
        picked: list[Any] = []
        for value in raw:
            match = _match(value, values)
            if match is None:
                raise InvalidSearchSpaceError(
                    f"search space key {key!r} offers {value!r}, which is not allowed; choose from {list(values)}"
                )
            if match not in picked:
                picked.append(match)
        allowed[key] = tuple(v for v in values if v in picked)  # the space's own order
    if not edge_ops(sp):
        for c in _DARTS_CELLS:
            for n in _DARTS_NODES:
                a, b = allowed[f"{c}_node{n}_input0"], allowed[f"{c}_node{n}_input1"]
                if not any(x != y for x in a for y in b):
                    raise InvalidSearchSpaceError(
                        f"search space keys '{c}_node{n}_input0' {list(a)} and '{c}_node{n}_input1' "
                        f"{list(b)} leave no two distinct inputs for {c} node {n}"
                    )
    return allowed


def _match(value: Any, values: tuple[Any, ...]) -> Any:
    """``value`` as one of ``values`` (ints may arrive as floats from JSON), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or value != int(value):
            return None
        value = int(value)
    return value if value in values else None


def arch_from_params(params: Mapping[str, Any], space: Space | str = "nb201") -> Hashable:
    """The architecture of ``space`` that a trial's parameters describe.

    Raises :class:`InvalidArchitectureError` naming the first missing or
    unknown key, or the key with a value that is not allowed.
    """
    sp = _space(space)
    full = choices_for(sp)
    if not isinstance(params, Mapping):
        raise InvalidArchitectureError(f"trial parameters are a dict of key -> value, got {params!r}")
    missing = [k for k in full if k not in params]
    extra = [k for k in params if k not in full]
    if missing or extra:
        what = f"lack key {missing[0]!r}" if missing else f"have unknown key {extra[0]!r}"
        raise InvalidArchitectureError(f"{sp.name} trial parameters {what}; expected keys: {', '.join(full)}")
    picked = {}
    for key, values in full.items():
        value = _match(params[key], values)
        if value is None:
            raise InvalidArchitectureError(
                f"trial parameter {key!r} = {params[key]!r} is not allowed; choose from {list(values)}"
            )
        picked[key] = value
    if edge_ops(sp):
        return sp.mask_to_arch(tuple((picked[k],) for k in full))
    from tenas_automl.spaces.darts.genotypes import Genotype

    pairs = [(picked[op_key], picked[in_key]) for op_key, in_key, _ in darts_pair_keys()]
    half = len(pairs) // 2
    return Genotype.of(pairs[:half], pairs[half:])


def params_from_arch(arch: Hashable | str, space: Space | str = "nb201") -> dict[str, Any]:
    """The trial parameters of ``arch`` (an architecture or its string); inverse of :func:`arch_from_params`."""
    sp = _space(space)
    obj = sp.parse(arch) if isinstance(arch, str) else arch
    if edge_ops(sp):
        mask = sp.arch_to_mask(obj)
        return {k: ops[0] for k, ops in zip(_nb201_keys(sp), mask)}
    pairs = [*obj.normal, *obj.reduce]  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for (op_key, in_key, _), (op, inp) in zip(darts_pair_keys(), pairs):
        out[op_key], out[in_key] = op, int(inp)
    return out


@dataclass(frozen=True)
class Choices:
    """The values each key may take (a parsed search space), and random draws within them.

    DARTS parameters are valid only if every node reads two distinct inputs;
    :meth:`sample` and :meth:`mutate` keep to that.
    """

    allowed: Mapping[str, tuple[Any, ...]]

    @property
    def input_pairs(self) -> list[tuple[str, str]]:
        """The (input0, input1) keys of each DARTS node (empty for NB201)."""
        return [(k, k[:-1] + "1") for k in self.allowed if k.endswith("_input0")]

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` uses allowed values only, with distinct inputs per node."""
        return all(params[k] in v for k, v in self.allowed.items()) and all(params[a] != params[b] for a, b in self.input_pairs)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Uniform values per key (a node's second input redrawn until it differs)."""
        params = {k: v[int(rng.integers(len(v)))] for k, v in self.allowed.items()}
        for a, b in self.input_pairs:  # parse_search_space guarantees a distinct value exists
            while params[a] == params[b]:
                params[b] = self.allowed[b][int(rng.integers(len(self.allowed[b])))]
        return params

    def mutate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any] | None:
        """``params`` with one key set to another allowed value (None if no key has one)."""
        sibling = {x: y for a, b in self.input_pairs for x, y in ((a, b), (b, a))}
        options = {
            k: [v for v in values if v != params[k] and (k not in sibling or v != params[sibling[k]])]
            for k, values in self.allowed.items()
        }
        keys = [k for k, vs in options.items() if vs]
        if not keys:
            return None
        key = keys[int(rng.integers(len(keys)))]
        return {**params, key: options[key][int(rng.integers(len(options[key])))]}

    def size(self) -> int:
        """Number of value combinations (an upper bound for DARTS, whose inputs must differ)."""
        return math.prod(len(v) for v in self.allowed.values())

    def enumerate(self) -> Iterator[dict[str, Any]]:
        """Every valid combination, in order (use only where :meth:`size` is small)."""
        keys = list(self.allowed)
        for values in itertools.product(*(self.allowed[k] for k in keys)):
            params = dict(zip(keys, values))
            if all(params[a] != params[b] for a, b in self.input_pairs):
                yield params


# -- the experiment folder -------------------------------------------------------


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise TenasError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def write_nni_config(
    space: str = "nb201",
    out_dir: str | Path = "nni-experiment",
    benchmark: bool = False,
    trials: int = 20,
    concurrency: int = 2,
    seed: int = 0,
    *,
    tuner_args: Mapping[str, Any] | None = None,
    python: str = "python",
    experiment_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Write a ready-to-run NNI experiment for ``space`` into ``out_dir``.

    Files (each written atomically): ``config.yml`` (local training service,
    ``trialConcurrency``, ``maxTrialNumber``, the :class:`TrainingFreeTuner`
    with its class arguments), ``search_space.json`` (:func:`search_space_for`)
    and ``trial.py`` (builds the proposed architecture with ``space.build``,
    trains it for a few dozen SGD steps on the bundled CIFAR-10 sample and
    reports test accuracy in percent; with ``benchmark`` it reports the
    NAS-Bench-201 CIFAR-10 accuracy instead, NB201 only).

    Args:
        space: ``"nb201"`` or ``"darts"``.
        out_dir: the experiment folder (created if needed).
        benchmark: trials look up the benchmark accuracy instead of training.
        trials: ``maxTrialNumber``.
        concurrency: ``trialConcurrency``.
        seed: the tuner's seed (proposals and indicator weights).
        tuner_args: more ``classArgs`` of the tuner (e.g. ``{"scoring": "paper"}``).
        python: the interpreter in ``trialCommand``.
        experiment_dir: NNI's ``experimentWorkingDirectory`` (default: NNI's
            ``~/nni-experiments``).

    Returns:
        ``{"config": path, "search_space": path, "trial": path}``.
    """
    sp = _space(space)
    trials, concurrency = _positive("trials", trials), _positive("concurrency", concurrency)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TenasError(f"seed must be an integer, got {seed!r}")
    if benchmark and not sp.benchmark_datasets:
        raise TenasError(f"benchmark trials need a tabular benchmark, which space {sp.name!r} has not (nb201 has)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TenasError(f"--out {str(out)!r} is a file; give a folder (it is created if missing)")
    class_args: dict[str, Any] = {
        "space": sp.name, "strategy": "evolution", "indicators": ["ntk", "lr"], "seed": int(seed),
        "optimize_mode": "maximize", "scoring": "fast", "device": "cpu",
    }  # fmt: skip
    class_args.update(dict(tuner_args or {}))
    command = f"{python} {TRIAL_FILE} --space {sp.name}" + (" --benchmark" if benchmark else "")
    config: dict[str, Any] = {
        "experimentName": f"tenas-automl-{sp.name}",
        "searchSpaceFile": SEARCH_SPACE_FILE,
        "trialCommand": command,
        "trialCodeDirectory": ".",
        "trialConcurrency": concurrency,
        "maxTrialNumber": trials,
    }
    if experiment_dir is not None:
        config["experimentWorkingDirectory"] = str(Path(experiment_dir).expanduser().resolve())
    # codeDirectory is required by NNI 3.0 for a className; "." (this folder) is
    # enough because the tuner is imported from the installed package.
    config["tuner"] = {"className": TUNER_CLASS, "codeDirectory": ".", "classArgs": class_args}
    config["trainingService"] = {"platform": "local"}
    header = (
        f"# NNI experiment written by tenas-automl: training-free guided search of {sp.name}.\n"
        f"# Run it with: nnictl create --config {CONFIG_FILE}\n"
    )
    template = resources.files("tenas_automl.integrations").joinpath("templates/nni_trial.py").read_text("utf-8")
    return {
        "config": atomic_write_text(out / CONFIG_FILE, header + yaml.safe_dump(config, sort_keys=False)),
        "search_space": atomic_write_text(out / SEARCH_SPACE_FILE, json.dumps(search_space_for(sp), indent=2) + "\n"),
        "trial": atomic_write_text(out / TRIAL_FILE, template),
    }


__all__ = [
    "CONFIG_FILE",
    "SEARCH_SPACE_FILE",
    "TRIAL_FILE",
    "TUNER_CLASS",
    "Choices",
    "InvalidSearchSpaceError",
    "arch_from_params",
    "choices_for",
    "darts_pair_keys",
    "params_from_arch",
    "parse_search_space",
    "search_space_for",
    "write_nni_config",
]

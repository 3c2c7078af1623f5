"""Codecs: what the NNI strategies need to know about the model space they explore.

A codec turns NNI samples into hashable architectures and back, draws and
mutates architectures, and scores batches of them with training-free
indicators. :class:`SpaceCodec` serves NNI's NasBench201 and DARTS hub spaces
through our own spaces (the papers' supernets and settings);
:class:`ModelCodec` serves any other NNI model space by scoring frozen models.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.random import RandomState

from tenas_automl.errors import TenasError
from tenas_automl.indicators import evaluate
from tenas_automl.integrations.nni._mapping import detect_space, from_arch, resolve_space, sample_keys, to_arch
from tenas_automl.integrations.nni._models import ModelScorer
from tenas_automl.spaces.base import Mask, Space

logger = logging.getLogger(__name__)

#: Keyword arguments of :func:`tenas_automl.indicators.evaluate` besides space, masks and names.
ScoreOptions = dict[str, Any]


class Codec(ABC):
    """Architectures of one NNI model space, as the strategies see them."""

    name: str
    space: Space | None = None

    def __init__(self, names: Sequence[str], options: ScoreOptions) -> None:
        self.names = tuple(names)
        self.options = dict(options)

    @abstractmethod
    def from_sample(self, sample: Mapping[str, Any]) -> Hashable:
        """The architecture of an NNI sample."""

    @abstractmethod
    def to_sample(self, arch: Hashable) -> dict[str, Any]:
        """The NNI sample that freezes the model space to ``arch``."""

    @abstractmethod
    def random(self, rng: np.random.Generator) -> Hashable:
        """A random architecture."""

    @abstractmethod
    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        """A random neighbour of ``arch``."""

    @abstractmethod
    def score(self, archs: Sequence[Hashable]) -> dict[str, np.ndarray]:
        """``{indicator: one value per arch}``; independent of the batch (common random numbers)."""

    def label(self, arch: Hashable) -> str:
        """A short human-readable form of ``arch``."""
        return str(arch)

    def neighbours(self, arch: Hashable) -> list[Hashable]:
        """Every architecture one edit away, in a fixed order (spaces with masks only)."""
        raise TenasError(f"{self.name}: neighbourhoods need one of our spaces (nb201, darts)")


class SpaceCodec(Codec):
    """NNI's NasBench201 / DARTS hub space, mapped onto our :class:`Space`.

    ``extras`` are labels of the NNI space outside the cell (DARTS ``width`` and
    ``depth``, mutable evaluator arguments); the strategies hold them at the
    value given (by default each choice's default).
    """

    def __init__(self, space: Space, names: Sequence[str], options: ScoreOptions, extras: Mapping[str, Any]) -> None:
        super().__init__(names, options)
        self.space = space
        self.name = space.name
        self.extras = dict(extras)
        self._cell_keys = set(sample_keys(space))
        # Ops a neighbour may use per edge: those the pruning search starts from ("none" excluded).
        self._allowed = space.full_mask()

    def from_sample(self, sample: Mapping[str, Any]) -> Hashable:
        return to_arch({k: v for k, v in sample.items() if k in self._cell_keys}, self.space)

    def to_sample(self, arch: Hashable) -> dict[str, Any]:
        return {**from_arch(arch, self.space), **self.extras}

    def random(self, rng: np.random.Generator) -> Hashable:
        return self.space.sample(rng)

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        return self.space.mutate(arch, rng)

    def label(self, arch: Hashable) -> str:
        return self.space.format(arch)

    def score(self, archs: Sequence[Hashable]) -> dict[str, np.ndarray]:
        masks = [self.space.arch_to_mask(a) for a in archs]
        return evaluate(self.space, masks, list(self.names), **self.options)

    def neighbours(self, arch: Hashable) -> list[Hashable]:
        """Change the op of one kept edge, or (DARTS) move a kept edge to another input of its node."""
        sp = self.space
        mask = sp.arch_to_mask(arch)
        out: list[Hashable] = []
        seen = {arch}

        def add(candidate: Mask) -> None:
            new = sp.mask_to_arch(candidate)
            if new not in seen:
                seen.add(new)
                out.append(new)

        for e, ops in enumerate(mask):
            if len(ops) == 1:
                for op in self._allowed[e]:
                    if op != ops[0]:
                        add(mask[:e] + ((op,),) + mask[e + 1 :])
        for group in sp.input_groups():
            alive = [e for e in group if mask[e]]
            dead = [e for e in group if not mask[e]]
            for a in alive:
                for d in dead:
                    moved = list(mask)
                    moved[d], moved[a] = mask[a], ()
                    add(tuple(moved))
        return out


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class ModelCodec(Codec):
    """Any NNI model space whose samples freeze into a model: scored with model-agnostic indicators.

    Architectures are the sorted ``(label, value)`` items of a sample (lists
    become tuples). Mutation re-draws one label to a different value and keeps
    only samples the model space accepts.
    """

    name = "nni-model-space"

    def __init__(self, model_space: Any, names: Sequence[str], options: ScoreOptions) -> None:
        super().__init__(names, options)
        self.model_space = model_space
        self._scorer = ModelScorer(names, **options)
        from nni.mutable import MutableAnnotation

        self._mutables = {label: m for label, m in model_space.simplify().items() if not isinstance(m, MutableAnnotation)}
        if not self._mutables:
            raise TenasError("the NNI model space has no choices to search")

    def from_sample(self, sample: Mapping[str, Any]) -> Hashable:
        return tuple(sorted((k, _hashable(v)) for k, v in sample.items()))

    def to_sample(self, arch: Hashable) -> dict[str, Any]:
        return {k: _plain(v) for k, v in arch}  # type: ignore[union-attr]

    def _legacy_rng(self, rng: np.random.Generator) -> RandomState:
        return RandomState(int(rng.integers(2**31 - 1)))

    def random(self, rng: np.random.Generator) -> Hashable:
        sample: dict[str, Any] = {}
        self.model_space.random(memo=sample, random_state=self._legacy_rng(rng))
        return self.from_sample(sample)

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        from nni.mutable import SampleValidationError

        base = self.to_sample(arch)
        labels = list(self._mutables)
        for _ in range(100):
            label = labels[int(rng.integers(len(labels)))]
            mutable = self._mutables[label]
            values = getattr(mutable, "values", None)
            if values is not None and getattr(mutable, "n_chosen", None) is None:
                others = [v for v in values if v != base.get(label)]
                if not others:
                    continue
                value = others[int(rng.integers(len(others)))]
            else:
                value = mutable.random(random_state=self._legacy_rng(rng))
                if _hashable(value) == _hashable(base.get(label)):
                    continue
            sample = {**base, label: value}
            try:
                self.model_space.freeze(sample)
            except SampleValidationError:
                continue
            return self.from_sample(sample)
        logger.debug("no valid mutation of %s found; drawing a random architecture", arch)
        return self.random(rng)

    def score(self, archs: Sequence[Hashable]) -> dict[str, np.ndarray]:
        rows = [self._scorer.score(lambda a=a: self.model_space.freeze(self.to_sample(a)).executable_model()) for a in archs]
        return {n: np.array([r[n] for r in rows], dtype=float) for n in self.names}

    def label(self, arch: Hashable) -> str:
        return str(self.to_sample(arch))


def make_codec(
    model_space: Any,
    names: Sequence[str],
    options: ScoreOptions,
    space: Space | str | None = None,
    require_space: str | None = None,
) -> Codec:
    """The codec for an NNI ``ExecutableModelSpace``: ours if it is a hub space (or ``space`` is given).

    ``require_space``: the error message for model spaces that are neither
    (for strategies that need one of our supernets).
    """
    choices = model_space.simplify()
    if space is not None:
        sp = resolve_space(space)
        missing = [k for k in sample_keys(sp) if k not in choices]
        if missing:
            raise TenasError(f"the NNI model space is not NNI's {sp.name} hub space: it lacks label {missing[0]!r}")
    else:
        sp = detect_space(choices)
    if sp is None:
        if require_space is not None:
            raise TenasError(require_space)
        logger.info("custom NNI model space: scoring frozen models with %s", ", ".join(names))
        return ModelCodec(model_space, names, options)
    keys = set(sample_keys(sp))
    extras = {label: m.default() for label, m in choices.items() if label not in keys}
    if extras:
        logger.info("NNI labels outside the %s cell are held at their defaults: %s", sp.name, extras)
    return SpaceCodec(sp, names, options, extras)

"""``run_nni_experiment``: one NNI search on a hub space, in-process, without a web server."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nni.nas.evaluator import Evaluator
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.space import SimplifiedModelSpace

from tenas_automl import __version__
from tenas_automl.data import NUM_CLASSES
from tenas_automl.device import resolve_device
from tenas_automl.errors import TenasError, check_choice
from tenas_automl.integrations.nni._compat import nni_log_level, quiet_nni_import, use_json_checkpoints
from tenas_automl.integrations.nni._evaluators import benchmark_evaluator, training_free_evaluator
from tenas_automl.integrations.nni._mapping import resolve_space
from tenas_automl.integrations.nni._strategies import IndicatorEvolutionStrategy, TENASPruningStrategy
from tenas_automl.integrations.nni._strategy_base import SubmittedModel, _TrainingFreeStrategy

logger = logging.getLogger(__name__)

NNI_STRATEGIES = ("prune", "evolution")
EVALUATORS = ("benchmark", "training_free")


@dataclass
class NNIExperimentResult:
    """The outcome of :func:`run_nni_experiment`; ``to_dict`` has the CLI's result keys."""

    space: str
    strategy: str
    dataset: str
    seed: int
    evaluator: str
    #: Best submitted architecture by the returned metric.
    arch: str
    metric: float | None
    #: Indicator values of ``arch`` as the strategy scored it (empty if it did not).
    indicators: dict[str, float]
    #: NB201 test accuracies of ``arch`` per dataset; None for DARTS.
    benchmark: dict[str, float] | None
    submitted: list[SubmittedModel]
    search_seconds: float
    #: Architectures scored by indicators (pruning candidates included).
    evaluations: int
    device: str
    experiment_dir: str | None = None
    prune: dict[str, Any] | None = None
    params_millions: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "space": self.space, "strategy": self.strategy, "engine": "nni", "dataset": self.dataset,
            "seed": self.seed, "arch": self.arch, "indicators": self.indicators,
            "benchmark": self.benchmark, "search_seconds": self.search_seconds,
            "evaluations": self.evaluations, "models": len(self.submitted), "metric": self.metric,
            "evaluator": self.evaluator, "device": self.device, "version": __version__,
            "submitted": [asdict(m) for m in self.submitted],
        }  # fmt: skip
        if self.params_millions is not None:
            out["params_millions"] = self.params_millions
        if self.prune is not None:
            out["prune"] = self.prune
        if self.experiment_dir is not None:
            out["experiment_dir"] = self.experiment_dir
        return out

    def plot(self, path: str | Path) -> Path:
        """Draw the submitted models in order: metric with the best so far, then each indicator.

        With the benchmark evaluator on NB201 a dotted line shows the space's best
        accuracy. The PNG is written atomically.
        """
        from tenas_automl.report import plot_trials

        best = None
        if self.evaluator == "benchmark":
            from tenas_automl.spaces import get_space

            best = get_space(self.space).best_accuracy(self.dataset)
        models = self.submitted
        return plot_trials(
            path,
            [m.metric if m.status == "trained" else None for m in models],
            {n: [m.indicators.get(n, math.nan) for m in models] for n in self.indicators},
            origins=[m.status for m in models],
            best=best,
            title=f"NNI {self.strategy} on {self.space}: {len(models)} submitted models",
        )


def hub_space(space_name: str, dataset: str = "cifar10") -> Any:
    """NNI's hub model space for ``space_name``: ``NasBench201`` or ``DARTS`` (width 16, 8 cells)."""
    check_choice("space", space_name, tuple(_HUB_SPACES))
    with quiet_nni_import():
        import nni.nas.hub.pytorch as hub

    return _HUB_SPACES[space_name](hub, dataset)


#: Our space -> NNI's hub model space of the same cells, given ``nni.nas.hub.pytorch`` and the dataset.
_HUB_SPACES: dict[str, Callable[[Any, str], Any]] = {
    "nb201": lambda hub, dataset: hub.NasBench201(num_labels=NUM_CLASSES[dataset]),
    "darts": lambda hub, dataset: hub.DARTS(width=16, num_cells=8, dataset="cifar"),
}


def make_strategy(name: str, **kwargs: Any) -> _TrainingFreeStrategy:
    """``TENASPruningStrategy`` (``"prune"``) or ``IndicatorEvolutionStrategy`` (``"evolution"``)."""
    check_choice("NNI strategy", name, NNI_STRATEGIES)
    cls = TENASPruningStrategy if name == "prune" else IndicatorEvolutionStrategy
    return cls(**kwargs)


def run_nni_experiment(
    space_name: str = "nb201",
    *,
    strategy: str = "prune",
    budget: int = 20,
    indicators: Sequence[str] | None = None,
    seed: int = 0,
    dataset: str = "cifar10",
    device: str = "auto",
    data_dir: str | None = None,
    mode: str = "paper",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    evaluator: str | Evaluator | None = None,
    working_dir: str | Path | None = None,
    experiment_id: str | None = None,
    quiet: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    **strategy_options: Any,
) -> NNIExperimentResult:
    """Search NNI's ``space_name`` hub space with one of our strategies, submitting ``budget`` models.

    Everything runs in this process on NNI's sequential engine: no NNI
    manager, no web UI, no port. ``evaluator`` is ``"benchmark"`` (NB201's
    table accuracy; the default for nb201), ``"training_free"`` (the
    indicators' standard score against random cells; the default for darts) or any NNI
    evaluator (e.g. one that trains). With ``working_dir`` the search runs as
    an NNI ``NasExperiment`` (checkpoints under ``working_dir``; note that NNI
    also records it in ``~/nni-experiments``), and an ``experiment_id`` with a
    checkpoint is resumed; without, nothing is written to disk.
    ``progress(done, total, info)`` follows the run (models finished of
    ``budget``; TE-NAS pruning first for ``strategy="prune"``).
    """
    sp = resolve_space(space_name)
    check_choice("dataset", dataset, tuple(NUM_CLASSES))
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise TenasError(f"budget must be a positive integer, got {budget!r}")
    names = tuple(indicators) if indicators else ("ntk", "lr")
    strat = make_strategy(
        strategy, indicators=names, budget=budget, seed=seed, dataset=dataset, data_dir=data_dir,
        device=device, mode=mode, overrides=overrides, **strategy_options,
    )  # fmt: skip
    strat.progress = progress
    if evaluator is None:
        evaluator = "benchmark" if sp.benchmark_datasets else "training_free"
    if isinstance(evaluator, str):
        check_choice("evaluator", evaluator, EVALUATORS)
        eval_name = evaluator
        evaluator = (
            benchmark_evaluator(sp, dataset) if evaluator == "benchmark"
            else training_free_evaluator(sp, names, seed=seed, dataset=dataset, data_dir=data_dir,
                                         device=device, mode=mode, overrides=overrides)
        )  # fmt: skip
    else:
        eval_name = type(evaluator).__name__
    model_space = hub_space(sp.name, dataset)
    start = time.perf_counter()
    exp_dir: str | None = None
    with nni_log_level(logging.WARNING if quiet else logging.INFO):
        if working_dir is None:
            engine = SequentialExecutionEngine(max_model_count=budget)
            strat.initialize(SimplifiedModelSpace.from_model(model_space, evaluator), engine)
            strat.run()
        else:
            exp_dir = _run_as_experiment(model_space, evaluator, strat, budget, Path(working_dir), experiment_id)
    seconds = time.perf_counter() - start
    return _summarise(sp, strat, strategy, dataset, seed, eval_name, seconds, device, exp_dir)


def _run_as_experiment(
    model_space: Any, evaluator: Evaluator, strat: _TrainingFreeStrategy, budget: int,
    working_dir: Path, experiment_id: str | None,
) -> str:  # fmt: skip
    from nni.nas.experiment import NasExperiment, NasExperimentConfig

    use_json_checkpoints()
    config = NasExperimentConfig("sequential", "simplified")
    config.max_trial_number = budget
    config.experiment_working_directory = str(working_dir)
    exp = NasExperiment(model_space, evaluator, strat, config, id=experiment_id)
    try:
        if experiment_id is not None and exp.has_checkpoint():
            logger.info("resuming NNI experiment %s", experiment_id)
            exp.resume()
        else:
            exp.run()
    finally:
        exp.stop()
    return str(working_dir / exp.id)


def _summarise(
    sp: Any, strat: _TrainingFreeStrategy, strategy: str, dataset: str, seed: int,
    eval_name: str, seconds: float, device: str, exp_dir: str | None,
) -> NNIExperimentResult:  # fmt: skip
    submitted = strat.submitted
    trained = [m for m in submitted if m.status == "trained" and m.metric is not None]
    if not trained:
        raise TenasError("no model finished training; see the NNI log for the evaluator's errors")
    best = max(trained, key=lambda m: m.metric)  # type: ignore[arg-type,return-value]
    codec_arch = strat.codec.from_sample(best.sample)
    benchmark = {d: float(sp.benchmark_accuracy(codec_arch, d)) for d in sp.benchmark_datasets} or None
    prune = getattr(strat, "prune_result", None)
    evaluations = strat.scored + (int(prune["evaluations"]) if prune else 0)
    return NNIExperimentResult(
        space=sp.name, strategy=strategy, dataset=dataset, seed=seed, evaluator=eval_name,
        arch=sp.format(codec_arch), metric=best.metric, indicators=dict(best.indicators),
        benchmark=benchmark, submitted=submitted, search_seconds=seconds, evaluations=evaluations,
        device=str(resolve_device(device)), experiment_dir=exp_dir, prune=prune,
        params_millions=sp.param_count_millions(codec_arch),
    )  # fmt: skip

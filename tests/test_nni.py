"""NNI 3.0 integration: sample mapping, strategies in real in-process experiments, resume.

Every experiment runs on NNI's sequential engine in this process, with HOME
and NNI's experiment manifest redirected to ``tmp_path``. Indicator settings
are shrunk (``CHEAP``) so the whole file takes about a minute on a CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("nni")
pytest.importorskip("pytorch_lightning")

from nni.nas.evaluator import FunctionalEvaluator  # noqa: E402
from nni.nas.execution import SequentialExecutionEngine  # noqa: E402
from nni.nas.experiment import NasExperiment, NasExperimentConfig  # noqa: E402
from nni.nas.hub.pytorch import DARTS, NasBench201  # noqa: E402
from nni.nas.nn.pytorch import LayerChoice, ModelSpace  # noqa: E402
from nni.nas.space import SimplifiedModelSpace  # noqa: E402
from nni.nas.strategy import Random  # noqa: E402

from tenas_automl.errors import InvalidArchitectureError, TenasError, UnknownNameError  # noqa: E402
from tenas_automl.indicators import evaluate  # noqa: E402
from tenas_automl.integrations.nni import (  # noqa: E402
    WORST_METRIC,
    IndicatorEvolutionStrategy,
    MissingDependencyError,
    ModelCodec,
    ModelScorer,
    StrategySettingError,
    SubmittedModel,
    TENASPruningStrategy,
    benchmark_evaluator,
    detect_space,
    from_arch,
    reference_score,
    run_nni_experiment,
    sample_keys,
    to_arch,
    training_free_evaluator,
)
from tenas_automl.spaces import get_space  # noqa: E402
from tenas_automl.spaces.darts.genotypes import DARTS_V2  # noqa: E402

pytestmark = pytest.mark.nni

# NNI logs to the sys.stdout of import time, which pytest's capture closes later.
from nni.runtime.log import silence_stdout  # noqa: E402

silence_stdout()

#: Small indicator settings: same code paths, a fraction of the cost.
CHEAP: dict[str, dict[str, Any]] = {
    "ntk": {"batch_size": 8, "repeats": 1, "augment": False},
    "lr": {"batch_size": 32, "batches": 1, "repeats": 1},
}
NB201 = get_space("nb201")
DARTS_SPACE = get_space("darts")


@pytest.fixture()
def nni_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and NNI's experiment manifest (bound to ~ at import time) inside tmp_path."""
    from nni.tools.nnictl.config_utils import Experiments

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(Experiments.__init__, "__defaults__", (str(tmp_path / "nni-experiments"),))
    return tmp_path


def _config(tmp_path: Path, trials: int) -> NasExperimentConfig:
    config = NasExperimentConfig("sequential", "simplified")
    config.max_trial_number = trials
    config.experiment_working_directory = str(tmp_path / "experiments")
    return config


# -- mapping -------------------------------------------------------------------------
def _nni_op(module: nn.Module) -> str:
    """Our op name for a module of NNI's frozen NasBench201 cell."""
    name = type(module).__name__
    if name == "ReLUConvBN":
        return f"nor_conv_{module.op[1].kernel_size[0]}x{module.op[1].kernel_size[1]}"
    return {"Zero": "none", "Identity": "skip_connect", "Pooling": "avg_pool_3x3"}[name]


def test_nb201_samples_map_to_the_same_network_nni_builds() -> None:
    hub = NasBench201()
    choices = hub.simplify()
    assert list(sample_keys("nb201")) == list(choices)
    frozen_space = SimplifiedModelSpace.from_model(hub, None)
    rng = np.random.default_rng(0)
    for k in range(20):
        arch = NB201.sample(rng)
        sample = from_arch(arch, NB201)
        assert all(sample[key] in choices[key].values for key in sample)
        assert to_arch(sample, "nb201") == arch
        assert NB201.parse(NB201.format(to_arch(sample, NB201))) == arch
        if k < 3:  # the network NNI freezes has our op on every edge j -> i
            net = frozen_space.freeze(sample).executable_model()
            cell = net.cells[0]
            for e, edge in enumerate(NB201.edges):
                j, i = map(int, edge.split("->"))
                assert _nni_op(cell.layers[i - 1][j]) == arch.ops[e], edge
            ours = NB201.build(arch, channels=16, cells_per_stage=5, num_classes=10)
            assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in ours.parameters())
    reference = NB201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    net = frozen_space.freeze(from_arch(reference, NB201)).executable_model()
    assert sum(p.numel() for p in net.parameters()) == 802_426


class _Captured(Exception):
    pass


def test_darts_samples_round_trip_and_match_nnis_own_darts_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        g = DARTS_SPACE.sample(rng)
        sample = from_arch(g, DARTS_SPACE)
        back = to_arch(sample, "darts")
        assert DARTS_SPACE.format(back) == DARTS_SPACE.format(g)
        assert from_arch(back, "darts") == sample
    captured: dict[str, Any] = {}

    def capture(cls: type, arch: dict[str, Any]) -> None:
        captured.update(arch)
        raise _Captured

    # NNI's hub encodes DARTS-V2 itself; read its dict instead of re-typing it.
    monkeypatch.setattr(DARTS, "frozen_factory", classmethod(capture))
    with pytest.raises(_Captured):
        DARTS.load_searched_model("darts-v2")
    assert DARTS_SPACE.format(to_arch(captured, "darts")) == DARTS_SPACE.format(DARTS_V2)
    assert from_arch(DARTS_V2, "darts") == captured
    # The hub's size labels are not cell structure: ignored by to_arch.
    assert to_arch({**captured, "width": 16, "depth": 8}, "darts") == DARTS_V2


@pytest.mark.parametrize(
    ("space", "edit", "key"),
    [
        ("nb201", lambda s: s.pop("cell/1_3"), "cell/1_3"),
        ("nb201", lambda s: s.update({"cell/0_9": "none"}), "cell/0_9"),
        ("nb201", lambda s: s.update({"cell/2_3": "nor_conv_3x3"}), "cell/2_3"),
        ("darts", lambda s: s.update({"reduce/op_4_1": "conv_7x7"}), "reduce/op_4_1"),
        ("darts", lambda s: s.update({"normal/input_3_0": [3]}), "normal/input_3_0"),
        ("darts", lambda s: s.update({"normal/input_5_1": "x"}), "normal/input_5_1"),
    ],
)
def test_bad_samples_raise_naming_the_key(space: str, edit: Any, key: str) -> None:
    sp = get_space(space)
    sample = from_arch(sp.sample(np.random.default_rng(2)), sp)
    edit(sample)
    with pytest.raises(InvalidArchitectureError, match=key):
        to_arch(sample, space)


def test_none_op_has_no_nni_darts_key_and_spaces_are_detected() -> None:
    g = DARTS_SPACE.parse(DARTS_SPACE.format(DARTS_V2).replace("dil_conv_3x3", "none", 1))
    with pytest.raises(InvalidArchitectureError, match="normal/op_5_1"):
        from_arch(g, "darts")
    assert detect_space(NasBench201().simplify()) is NB201
    assert detect_space(DARTS().simplify()) is DARTS_SPACE
    assert detect_space(_TinySpace().simplify()) is None


# -- missing dependency ---------------------------------------------------------------
def test_import_without_nni_says_what_to_install() -> None:
    code = textwrap.dedent(
        """
        import importlib, sys
        from tenas_automl.errors import TenasError
        for module in ("nni", "pytorch_lightning"):
            saved = sys.modules.pop(module, None)
            sys.modules[module] = None  # as if it were not installed
            try:
                importlib.import_module("tenas_automl.integrations.nni")
            except ImportError as exc:
                assert isinstance(exc, TenasError), type(exc)
                print(module, "->", exc)
            else:
                raise SystemExit(f"import succeeded without {module}")
            del sys.modules[module]
            if saved is not None:
                sys.modules[module] = saved
        import tenas_automl.strategies  # the core does not need NNI
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    for module, line in zip(("nni", "pytorch_lightning"), lines):
        assert line.startswith(f"{module} ->") and "pip install 'tenas-automl[nni]'" in line
        assert module in line.split("->", 1)[1]
    assert issubclass(MissingDependencyError, ImportError) and issubclass(MissingDependencyError, TenasError)


# -- strategies in NNI experiments -------------------------------------------------------
def _roundtrip_export(exp: NasExperiment, k: int) -> list[dict[str, Any]]:
    """export_top_models dicts, checked to map to NB201 strings and back."""
    top = exp.export_top_models(top_k=k, formatter="dict")
    for sample in top:
        text = NB201.format(to_arch(sample, "nb201"))
        assert from_arch(NB201.parse(text), "nb201") == sample
    return top


def test_pruning_strategy_in_nas_experiment_then_resumed(nni_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evaluator = benchmark_evaluator("nb201", "cifar10")
    first = TENASPruningStrategy(overrides=CHEAP, device="cpu", seed=0)
    exp = NasExperiment(NasBench201(), evaluator, first, _config(nni_home, 3), id="tenas_prune")
    exp.run()
    exp.stop()
    done = first.submitted
    assert len(done) == 3 and len(list(exp._engine.list_models())) == 3
    assert done[0].arch == first.prune_result["arch"]  # the pruning result goes first
    for m in done:
        assert m.status == "trained"
        assert m.metric == pytest.approx(NB201.benchmark_accuracy(NB201.parse(m.arch), "cifar10"))
    top = _roundtrip_export(exp, 1)
    assert to_arch(top[0], NB201) == NB201.parse(max(done, key=lambda m: m.metric).arch)
    ckpt = nni_home / "experiments" / "tenas_prune" / "checkpoint"
    assert (ckpt / "state.ckpt.json").exists()  # JSON, not torch.save (torch>=2.6 resume trap)

    # Resume with a larger budget: no new pruning, nothing re-submitted.
    def no_pruning(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pruning ran again after resume")

    monkeypatch.setattr("tenas_automl.strategies.get_strategy", no_pruning)
    second = TENASPruningStrategy(overrides=CHEAP, device="cpu", seed=0)
    exp2 = NasExperiment(NasBench201(), evaluator, second, _config(nni_home, 5), id="tenas_prune")
    exp2.resume()
    exp2.stop()
    after = second.submitted
    assert len(after) == 5 and after[:3] == done
    assert len({m.arch for m in after}) == 5
    assert len(list(exp2._engine.list_models())) == 2  # only the new ones ran
    top = _roundtrip_export(exp2, 5)
    assert len(top) == 5  # models trained before the resume are listed too
    assert second.prune_result == first.prune_result


def _direct(strategy: IndicatorEvolutionStrategy, budget: int, state: dict[str, Any] | None = None,
            engine_state: dict[str, Any] | None = None) -> SequentialExecutionEngine:  # fmt: skip
    engine = SequentialExecutionEngine(max_model_count=budget)
    if engine_state is not None:
        engine.load_state_dict(engine_state)
    strategy.initialize(SimplifiedModelSpace.from_model(NasBench201(), benchmark_evaluator()), engine)
    if state is not None:
        strategy.load_state_dict(state)
    strategy.run()
    return engine


def _evolution(budget: int) -> IndicatorEvolutionStrategy:
    return IndicatorEvolutionStrategy(
        budget=budget, overrides=CHEAP, device="cpu", seed=3, screen_size=8, candidates=3,
        initial=2, population_size=4, tournament_size=2,
    )  # fmt: skip


def test_evolution_resumed_from_state_continues_like_an_uninterrupted_run() -> None:
    whole = _evolution(6)
    _direct(whole, 6)
    assert len(whole.submitted) == 6 and len({m.arch for m in whole.submitted}) == 6

    part = _evolution(3)
    engine = _direct(part, 3)
    state = json.loads(json.dumps(part.state_dict()))  # plain JSON survives a file
    rest = _evolution(6)
    engine2 = _direct(rest, 6, state, engine.state_dict())
    assert rest.submitted == whole.submitted  # same models, same order, same metrics
    assert len(list(engine2.list_models())) == 3  # nothing re-submitted

    # A model still running at checkpoint time is submitted again first (the
    # engine counts it again: one more model of engine budget).
    state["trials"][-1].update(status="running", metric=None)
    retry = _evolution(4)
    engine3 = _direct(retry, 5, state, engine.state_dict())
    ran = [m.sample for m in engine3.list_models()]
    assert len(ran) == 2 and ran[0] == state["trials"][-1]["sample"]
    assert retry.submitted[2].status == "trained" and len(retry.submitted) == 4


def test_training_free_evaluator_runs_nas_experiment_without_training(nni_home: Path) -> None:
    options = {"seed": 0, "device": "cpu", "overrides": {"ntk": CHEAP["ntk"]}}
    evaluator = training_free_evaluator("nb201", ["ntk"], reference=0, **options)
    exp = NasExperiment(NasBench201(), evaluator, Random(seed=0), _config(nni_home, 3))
    exp.run()
    exp.stop()
    models = list(exp._engine.list_models())
    assert len(models) == 3
    for m in models:
        arch = to_arch(m.sample, NB201)
        ntk = evaluate(NB201, [NB201.arch_to_mask(arch)], ["ntk"], **options)["ntk"][0]
        assert m.metric == pytest.approx(-ntk)  # lower kappa is better: the metric is -kappa
    # Several indicators: the mean standard score against reference architectures.
    combined = training_free_evaluator("nb201", ["ntk", "lr"], reference=4, seed=0, device="cpu", overrides=CHEAP)
    frozen = SimplifiedModelSpace.from_model(NasBench201(), combined).freeze(models[0].sample)
    assert -10.0 < combined.evaluate(frozen) < 10.0


def test_reference_score_closed_form() -> None:
    e = float(np.e)
    ref = {"ntk": np.array([1.0, e, e * e]), "lr": np.array([1.0, e, np.nan, e * e]), "x": np.array([-1.0, 0.0, 1.0])}
    directions = {"ntk": False, "lr": True, "x": True}
    # Positive references are compared in logs: mean 1, std 1. ntk e^2 (lower is
    # better) has z = -1; lr 1 has z = -1; x 0.5 (not logged) has z = 0.5.
    assert reference_score({"ntk": e * e, "lr": 1.0}, ref, directions) == pytest.approx(-1.0)
    assert reference_score({"ntk": 1.0, "x": 0.5}, ref, directions) == pytest.approx((1.0 + 0.5) / 2)
    assert reference_score({"ntk": float("nan"), "lr": e}, ref, directions) == WORST_METRIC
    assert reference_score({"lr": 0.0}, ref, directions) == WORST_METRIC  # no log of 0: unscorable


def sep_conv_count(model: Any) -> float:
    """A stand-in metric for DARTS: how many separable convolutions the sample uses."""
    import nni

    value = float(sum(str(v).startswith("sep_conv") for v in model.sample.values()))
    nni.report_final_result(value)
    return value


def test_evolution_on_nni_darts_hub_space(nni_home: Path) -> None:
    from tenas_automl.integrations.nni import SampleEvaluator

    strategy = IndicatorEvolutionStrategy(
        budget=3, overrides=CHEAP, device="cpu", screen_size=4, candidates=2, initial=1, seed=0,
    )  # fmt: skip
    hub = DARTS()  # carries width and depth choices besides the cells
    exp = NasExperiment(hub, SampleEvaluator(sep_conv_count), strategy, _config(nni_home, 3))
    exp.run()
    exp.stop()
    assert len(strategy.submitted) == 3
    defaults = {k: m.default() for k, m in hub.simplify().items() if k in ("width", "depth")}
    for m in strategy.submitted:
        assert {k: m.sample[k] for k in defaults} == defaults  # held at the hub's defaults
        g = to_arch(m.sample, "darts")
        assert DARTS_SPACE.format(g) == m.arch and m.metric == sum(op.startswith("sep_conv") for op, _ in g.normal + g.reduce)


class _TinySpace(ModelSpace):
    """A user's own NNI model space (3 x 2 architectures)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = LayerChoice([nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 5, padding=2), nn.Conv2d(3, 8, 1)], label="conv")
        self.act = LayerChoice([nn.ReLU(), nn.LeakyReLU(0.1)], label="act")
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(x)).mean((2, 3)))


def kernel_width(model: nn.Module) -> float:
    """A stand-in metric: prefer wide kernels."""
    import nni

    value = float(model.conv.kernel_size[0])
    nni.report_final_result(value)
    return value


def test_evolution_on_a_custom_model_space_scores_frozen_models(nni_home: Path) -> None:
    strategy = IndicatorEvolutionStrategy(
        ["naswot", "ntk"], budget=4, screen_size=4, candidates=2, initial=2, device="cpu",
        overrides={"naswot": {"batch_size": 16}, "ntk": {"batch_size": 8, "repeats": 1, "augment": False}},
    )  # fmt: skip
    exp = NasExperiment(_TinySpace(), FunctionalEvaluator(kernel_width), strategy, _config(nni_home, 4))
    exp.run()
    exp.stop()
    assert isinstance(strategy.codec, ModelCodec)
    samples = [m.sample for m in strategy.submitted]
    assert len(samples) == 4 and len({json.dumps(s, sort_keys=True) for s in samples}) == 4
    for m in strategy.submitted:
        assert np.isfinite(m.indicators["ntk"]) and m.metric in (1.0, 3.0, 5.0)

    # The training-free evaluator scores the frozen model itself, with any NNI strategy.
    naswot = {"naswot": {"batch_size": 16}}
    evaluator = training_free_evaluator(None, ["naswot"], device="cpu", overrides=naswot)
    exp = NasExperiment(_TinySpace(), evaluator, Random(seed=0), _config(nni_home, 2))
    exp.run()
    exp.stop()
    scorer = ModelScorer(["naswot"], device="cpu", overrides=naswot)
    for m in exp._engine.list_models():
        assert m.metric == pytest.approx(scorer.score(m.executable_model)["naswot"])

    for bad, match in [(IndicatorEvolutionStrategy(["lr"], budget=2), "'lr' needs a supernet"),
                       (TENASPruningStrategy(budget=2), "prunes a supernet")]:  # fmt: skip
        exp = NasExperiment(_TinySpace(), FunctionalEvaluator(kernel_width), bad, _config(nni_home, 2))
        with pytest.raises(TenasError, match=match):
            exp.run()
        exp.stop()


def test_settings_are_checked() -> None:
    with pytest.raises(StrategySettingError, match="budget"):
        TENASPruningStrategy(budget=0)
    with pytest.raises(StrategySettingError, match="tournament_size"):
        IndicatorEvolutionStrategy(population_size=2, tournament_size=3)
    with pytest.raises(UnknownNameError, match="kappa"):
        IndicatorEvolutionStrategy(["kappa"])
    with pytest.raises(StrategySettingError, match="naswot"):
        TENASPruningStrategy(overrides={"naswot": {"batch_size": 8}})


def test_run_nni_experiment_in_process(nni_home: Path) -> None:
    kwargs = dict(strategy="evolution", budget=3, overrides=CHEAP, device="cpu", seed=1, screen_size=6, candidates=2)
    result = run_nni_experiment("nb201", **kwargs)
    assert len(result.submitted) == 3
    best = max(result.submitted, key=lambda m: m.metric)
    assert result.arch == best.arch and result.metric == result.benchmark["cifar10"]
    record = json.loads(json.dumps(result.to_dict()))
    assert record["engine"] == "nni" and record["models"] == 3 and NB201.parse(record["arch"])
    # As a NasExperiment with checkpoints under working_dir: the same search.
    again = run_nni_experiment("nb201", working_dir=nni_home / "runs", experiment_id="cli_run", **kwargs)
    assert [m.arch for m in again.submitted] == [m.arch for m in result.submitted]
    assert Path(again.experiment_dir, "checkpoint", "state.ckpt.json").exists()


def test_run_nni_experiment_reports_progress(nni_home: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    result = run_nni_experiment("nb201", strategy="prune", budget=3, overrides=CHEAP, device="cpu", seed=0,
                                progress=lambda d, t, i: calls.append((d, t, i)))  # fmt: skip
    pruning = [i for d, t, i in calls if i.startswith("TE-NAS pruning")]
    assert pruning == [f"TE-NAS pruning {n}/54 round {r}" for n, r in ((24, 1), (42, 2), (54, 3))]
    models = [(d, t, i) for d, t, i in calls if not i.startswith("TE-NAS")]
    assert [d for d, _, _ in models] == [1, 2, 3] and all(t == 3 for _, t, _ in models)
    assert models[-1][2] == f"best {result.metric:.4g}"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_strategy_on_nnis_training_service_engine(nni_home: Path) -> None:
    """The default 'ts' engine: NNI manager on a local port, trials in subprocesses, 2 at a time."""
    strategy = _evolution(4)
    config = NasExperimentConfig("ts", "simplified", "local")
    config.max_trial_number, config.trial_concurrency = 4, 2
    config.experiment_working_directory = str(nni_home / "experiments")
    exp = NasExperiment(NasBench201(), benchmark_evaluator(), strategy, config)
    try:
        exp.run(port=_free_port())
    finally:
        exp.stop()
    assert len(strategy.submitted) == 4
    for m in strategy.submitted:
        assert m.status == "trained"
        assert m.metric == pytest.approx(NB201.benchmark_accuracy(NB201.parse(m.arch), "cifar10"))
    best = max(m.metric for m in strategy.submitted)
    assert [m.metric for m in strategy.list_models(limit=1)] == [best]


def test_pruning_strategy_weighs_the_metric_model_against_the_indicators() -> None:
    conv = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    big, small = NB201.parse(conv), NB201.parse(conv.replace("|nor_conv_3x3~0|+", "|skip_connect~0|+", 1))
    # Two trained models that differ only on edge 1<-0: skip_connect there measured better.
    pooled = conv.replace("nor_conv_3x3~2", "avg_pool_3x3~2")
    skip = NB201.parse(pooled.replace("|nor_conv_3x3~0|+", "|skip_connect~0|+", 1))
    one = NB201.parse(pooled.replace("|nor_conv_3x3~0|+", "|nor_conv_1x1~0|+", 1))
    failed = NB201.parse(conv.replace("|nor_conv_3x3~0|+", "|nor_conv_1x1~0|+", 1))

    def pick(weight: float) -> Any:
        strategy = TENASPruningStrategy(["params"], device="cpu", seed=0, surrogate_weight=weight)
        space = SimplifiedModelSpace.from_model(NasBench201(), benchmark_evaluator())
        strategy.initialize(space, SequentialExecutionEngine(max_model_count=1))
        for arch, metric, status in ((skip, 94.0, "trained"), (one, 90.0, "trained"), (failed, None, "failed")):
            strategy._archs.append(arch)
            strategy._trials.append(
                SubmittedModel(sample=from_arch(arch, NB201), arch=NB201.format(arch), metric=metric, status=status)
            )
        model = strategy._metric_model()
        return [big, small][strategy._best_by_indicators([big, small], model)], model

    chosen, model = pick(0.0)
    assert chosen == big and model is None  # "params" prefers the bigger cell
    chosen, model = pick(0.5)
    assert chosen == big  # half a rank from the model does not outweigh the indicator's rank
    assert model is not None and model.predict([strategy_key(small)])[0] > model.predict([strategy_key(big)])[0]
    assert pick(2.0)[0] == small  # the measured metric wins
    with pytest.raises(StrategySettingError, match="surrogate_weight must be a number >= 0, got -1"):
        TENASPruningStrategy(surrogate_weight=-1)


def test_the_evolution_strategy_fits_no_metric_model() -> None:
    # The model and its weight belong to the pruning strategy; the shared base must not need them.
    strategy = IndicatorEvolutionStrategy(["params"], device="cpu", seed=0)
    assert strategy.surrogate_weight == 0.0 and strategy._metric_model() is None


def strategy_key(arch: Any) -> tuple[Any, ...]:
    """The metric model's key of an NB201 arch: the op of each edge."""
    return tuple(ops[0] for ops in NB201.arch_to_mask(arch))

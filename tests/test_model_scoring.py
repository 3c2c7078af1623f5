"""score_model: training-free indicators on any PyTorch model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tenas_automl import get_space, score, score_model
from tenas_automl.errors import TenasError
from tenas_automl.indicators import get_indicator
from tenas_automl.indicators.runner import make_context

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def cnn(width: int = 8, channels: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10),
    )  # fmt: skip


def test_an_nb201_cell_as_a_plain_module_scores_what_score_gives() -> None:
    space = get_space("nb201")
    arch = space.parse(ARCH)
    overrides = {"naswot": {"layout": "contiguous"}}
    expected = score(space, arch, ["naswot"], seed=0, device="cpu", overrides=overrides).values["naswot"]
    # The same network score() uses: the seeded supernet, masked to the cell, as an ordinary module.
    ctx = make_context(space, seed=0, device="cpu")
    net = ctx.network(get_indicator("naswot").settings)
    net.set_mask(space.arch_to_mask(arch))
    got = score_model(net, ["naswot"], seed=0, device="cpu").values["naswot"]
    assert got == pytest.approx(expected, rel=1e-9)


SMALL_RECENT = {
    "az_expressivity": {"batch_size": 16}, "az_progressivity": {"batch_size": 16},
    "az_trainability": {"batch_size": 16}, "zico": {"batch_size": 8},
    "vkdnw": {"batch_size": 8, "tensors": 8, "layout": "contiguous"}, "meco": {},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SMALL_RECENT))
def test_the_recent_indicators_on_an_nb201_cell_as_a_plain_module_equal_score(name: str) -> None:
    # Same network, same re-initialisation, same images: the model path must give score()'s value exactly.
    space = get_space("nb201")
    arch = space.parse(ARCH)
    overrides = {name: SMALL_RECENT[name]}
    expected = score(space, arch, [name], seed=0, device="cpu", overrides=overrides).values[name]
    ctx = make_context(space, seed=0, device="cpu")
    net = ctx.network(get_indicator(name, **SMALL_RECENT[name]).settings)
    net.set_mask(space.arch_to_mask(arch))
    got = score_model(net, [name], seed=0, device="cpu", overrides=overrides).values[name]
    assert math.isfinite(expected) and got == pytest.approx(expected, rel=1e-9)


def test_the_recent_indicators_on_a_plain_cnn_and_its_blocks() -> None:
    from tenas_automl.indicators.on_models import block_features

    feats = block_features(cnn(), torch.randn(2, 3, 32, 32))
    assert [tuple(f.shape[1:]) for f in feats] == [(8, 32, 32), (8, 32, 32)]  # one per conv block, no pooled head
    names = ["az_expressivity", "az_progressivity", "az_trainability", "vkdnw", "zico", "meco", "swap"]
    small = {**SMALL_RECENT, "swap": {"repeats": 2}}
    a = score_model(cnn, names, seed=3, device="cpu", overrides=small).values
    assert a == score_model(cnn, names, seed=3, device="cpu", overrides=small).values
    assert all(math.isfinite(v) for v in a.values()), a


def test_factories_are_deterministic_and_modules_keep_their_weights() -> None:
    names = ["naswot", "params", "flops", "synflow", "snip", "grad_norm", "jacov", "ntk", "gen"]
    small = {"ntk": {"batch_size": 8}, "naswot": {"batch_size": 32}, "gen": {"batch_size": 8, "test_batch_size": 8}}
    a = score_model(cnn, names, seed=1, device="cpu", overrides=small)
    b = score_model(cnn, names, seed=1, device="cpu", overrides=small)
    assert a.values == b.values and all(math.isfinite(v) for v in a.values.values())
    assert set(a.seconds) == set(names)
    other = score_model(cnn, ["naswot"], seed=2, device="cpu", overrides=small)
    assert other.values["naswot"] != a.values["naswot"]  # other weights and images
    module = cnn()
    before = [p.detach().clone() for p in module.parameters()]
    first = score_model(module, ["naswot", "snip"], seed=1, device="cpu", overrides=small)
    assert score_model(module, ["naswot", "snip"], seed=1, device="cpu", overrides=small).values == first.values
    assert all(torch.equal(p, q) for p, q in zip(before, module.parameters()))  # scored on a copy


def test_gen_of_a_linear_model_is_its_kernel_regression_error() -> None:
    # f(x) = W x: every output's gradient wrt W is x, so Theta = 10 X X^T and G is the error of
    # regressing the test labels on the training ones with the Gram kernel of the images.
    from tenas_automl.model_scoring import ModelScorer

    linear = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10, bias=False))  # noqa: E731
    got = score_model(linear, ["gen"], seed=4, device="cpu", overrides={"gen": {"repeats": 1}}).values["gen"]
    scorer = ModelScorer(["gen"], seed=4, device="cpu")
    x, y = scorer._batch(64, 0, True, None)
    t, ty = scorer._batch(64, 0, False, None, "test")
    X, T = x.flatten(1).double(), t.flatten(1).double()
    one_hot = lambda v: torch.eye(10, dtype=torch.float64)[v] - torch.eye(10, dtype=torch.float64)[v].mean(0)  # noqa: E731
    predicted = T @ X.T @ torch.linalg.solve(X @ X.T, one_hot(y))
    expected = float(((predicted - one_hot(ty)) ** 2).sum(1).mean())
    assert got == pytest.approx(expected, rel=1e-6)
    assert not torch.equal(x, t)  # held-out images, not the training batch again


class TupleOut(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.body, self.kind = cnn(), kind

    def forward(self, x: torch.Tensor):  # noqa: ANN201
        out = self.body(x)
        return (x.mean(), out) if self.kind == "tuple" else {"features": x.mean(), "logits": out}


@pytest.mark.parametrize("kind", ["tuple", "dict"])
def test_tuple_and_dict_outputs_are_read_as_logits(kind: str) -> None:
    torch.manual_seed(0)
    wrapped = TupleOut(kind)
    plain = score_model(wrapped.body, ["naswot", "grad_norm"], device="cpu").values
    assert score_model(wrapped, ["naswot", "grad_norm"], device="cpu").values == plain


def test_other_inputs_user_images_and_data_loaders() -> None:
    grey = score_model(lambda: cnn(channels=1), ["naswot", "params"], device="cpu", input_shape=(1, 28, 28))
    assert math.isfinite(grey.values["naswot"]) and grey.values["params"] == sum(p.numel() for p in cnn(channels=1).parameters())
    with pytest.raises(TenasError, match=r"could not run on the model with inputs of shape \(128, 3, 32, 32\)"):
        score_model(lambda: cnn(channels=1), ["naswot"], device="cpu")
    images = torch.randn(200, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    tensor = score_model(cnn, ["naswot", "snip"], device="cpu", data=images)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, torch.zeros(200)), batch_size=64)
    assert score_model(cnn, ["naswot", "snip"], device="cpu", data=loader).values == tensor.values
    with pytest.raises(TenasError, match=r"\(N, C, H, W\)"):
        score_model(cnn, ["naswot"], device="cpu", data=torch.zeros(4, 16, 16))


def test_a_model_without_relu_or_batchnorm_scores_and_says_what_means_nothing(caplog) -> None:  # noqa: ANN001
    linear = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))  # noqa: E731
    values = score_model(linear, ["naswot", "params", "synflow"], device="cpu").values
    assert values["params"] == 3 * 32 * 32 * 10 + 10 and math.isfinite(values["synflow"])
    assert values["naswot"] == -math.inf  # no ReLU: no activation codes
    assert "has no ReLU" in caplog.text


def test_bad_models_and_indicators_get_one_line_errors() -> None:
    with pytest.raises(TenasError, match="needs a supernet.*naswot"):
        score_model(cnn, ["lr"], device="cpu")
    with pytest.raises(TenasError, match="'lr' needs a supernet.*every image is a region of its own"):
        score_model(cnn, ["zico", "lr"], device="cpu")
    with pytest.raises(TenasError, match="factory 'broken' raised ValueError: no"):

        def broken() -> nn.Module:
            raise ValueError("no")

        score_model(broken, ["params"], device="cpu")
    with pytest.raises(TenasError, match="no parameters"):
        score_model(nn.ReLU(), ["params"], device="cpu")
    with pytest.raises(TenasError, match="returned a int"):
        score_model(lambda: 3, ["params"], device="cpu")
    with pytest.raises(TenasError, match="input_shape"):
        score_model(cnn, ["params"], device="cpu", input_shape=(3, 32))


def test_pruner_with_model_fn_screens_a_plain_optuna_study_on_sqlite(tmp_path) -> None:  # noqa: ANN001
    import optuna

    from tenas_automl.integrations.optuna import ERROR_ATTR, PRUNED_ATTR, TrainingFreePruner

    def build(params: dict) -> nn.Module:
        if params["width"] == 5:
            raise ValueError("width 5 is not supported")
        return cnn(width=params["width"])

    trained: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_int("width", 4, 16)
        if trial.should_prune():
            raise optuna.TrialPruned()
        trained.append(trial.number)
        return float(width)

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    small = {"naswot": {"batch_size": 32}}
    pruner = TrainingFreePruner(model_fn=build, indicators=("naswot",), warmup=3, seed=0, device="cpu", overrides=small)
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.RandomSampler(seed=1))  # fmt: skip
    study.enqueue_trial({"width": 5})
    study.optimize(objective, n_trials=12)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 12 and all(t.state.is_finished() for t in trials)
    broken = [t for t in trials if t.params["width"] == 5]
    assert len(broken) == 3  # the enqueued one and two drawn
    for t in broken:
        assert t.state == optuna.trial.TrialState.PRUNED and "width 5 is not supported" in t.user_attrs[ERROR_ATTR]
    built = [t for t in trials if t.params["width"] != 5]
    assert all("tenas:naswot" in t.user_attrs for t in built)  # every buildable model scored, stored in the study
    pruned = [t for t in built if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(t.user_attrs.get(PRUNED_ATTR) for t in pruned)
    assert all(sum(u.number < t.number for u in built) >= 3 for t in pruned)  # warmup: three scored before
    assert sorted(trained) == [t.number for t in built if t not in pruned]
    # Another process resuming the study reads the stored scores: it scores only its new trial.
    again = TrainingFreePruner(model_fn=build, indicators=("naswot",), warmup=3, seed=0, device="cpu", overrides=small)
    resumed = optuna.load_study(study_name="s", storage=storage, pruner=again)
    new = resumed.ask({"width": optuna.distributions.IntDistribution(4, 16)})
    again.prune(resumed, resumed._storage.get_trial(new._trial_id))
    assert again.scorer.evaluations == (0 if new.params["width"] == 5 else 1)


def test_sampler_with_model_fn_searches_a_plain_space_on_sqlite(tmp_path) -> None:  # noqa: ANN001
    import optuna
    from optuna.distributions import CategoricalDistribution, IntDistribution

    from tenas_automl.integrations.optuna import TrainingFreeSampler

    def build(p: dict) -> nn.Module:
        layers, c = [], 3
        for _ in range(p["depth"]):
            layers += [nn.Conv2d(c, p["width"], p["kernel"], padding=p["kernel"] // 2), nn.BatchNorm2d(p["width"]), nn.ReLU()]
            c = p["width"]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

    space = {"depth": IntDistribution(1, 3), "width": IntDistribution(4, 16, log=True),
             "kernel": CategoricalDistribution([1, 3])}  # fmt: skip

    def objective(trial: optuna.Trial) -> float:
        depth, width = trial.suggest_int("depth", 1, 3), trial.suggest_int("width", 4, 16, log=True)
        kernel = trial.suggest_categorical("kernel", [1, 3])
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)  # not in search_space: the fallback sampler's
        return depth * width * kernel - lr

    def study(storage: str | None, n: int) -> optuna.Study:
        sampler = TrainingFreeSampler(model_fn=build, search_space=space, indicators=("naswot",), seed=3, device="cpu",
                                      candidates=3, n_startup_trials=2, overrides={"naswot": {"batch_size": 16}})  # fmt: skip
        s = optuna.create_study(direction="maximize", sampler=sampler, storage=storage, study_name="m", load_if_exists=True)
        s.optimize(objective, n_trials=n)
        return s

    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = study(url, 6)
    trials = first.get_trials(deepcopy=False)
    keys = [(t.params["depth"], t.params["width"], t.params["kernel"]) for t in trials]
    assert len(set(keys)) == 6  # never the same architecture twice
    assert all(t.user_attrs["tenas:origin"] in ("startup", "mutation") for t in trials)
    assert all(isinstance(t.user_attrs["tenas:naswot"], float) for t in trials) and "lr" in trials[0].params
    again = study(None, 6)  # same seed, in memory: the same proposals
    assert [(t.params["depth"], t.params["width"], t.params["kernel"]) for t in again.trials] == keys
    resumed = study(url, 3)  # the stored study continues, still without repeats
    assert (
        len(resumed.trials) == 9
        and len({(t.params["depth"], t.params["width"], t.params["kernel"]) for t in resumed.trials}) == 9
    )
    with pytest.raises(TenasError, match="model_fn and search_space"):
        TrainingFreeSampler(model_fn=build)
    with pytest.raises(TenasError, match="strategy is evolution"):
        TrainingFreeSampler(model_fn=build, search_space=space, strategy="prune")

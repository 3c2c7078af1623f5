"""AZ-NAS, ZiCo and MeCo: closed forms on plain tensors and modules, and behaviour on the spaces."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tenas_automl.errors import TenasError
from tenas_automl.indicators import evaluate, get_indicator
from tenas_automl.indicators.az_nas import SIGMA_EPS, block_trainability, spectral_entropy
from tenas_automl.indicators.meco import meco_score, min_correlation_eigenvalues
from tenas_automl.indicators.zico import zico_from_gradients, zico_score
from tenas_automl.spaces import get_space

AZ = ("az_expressivity", "az_progressivity", "az_trainability")
GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP_ONLY = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _feature_with_covariance(a: float, b: float) -> torch.Tensor:
    # Four samples (+-a, +-b): zero mean, covariance exactly diag(a^2, b^2).
    rows = [[a, b], [a, -b], [-a, b], [-a, -b]]
    return torch.tensor(rows, dtype=torch.float64).reshape(4, 2, 1, 1)


@pytest.mark.parametrize("clean", [False, True])
def test_spectral_entropy_of_a_known_spectrum(clean: bool) -> None:
    f = _feature_with_covariance(2.0, 1.0)
    p = np.array([4.0, 1.0]) / 5.0
    assert spectral_entropy(f, clean) == pytest.approx(float(-(p * np.log(p)).sum()), abs=1e-7)
    iso = torch.randn(4096, 8, 1, 1, generator=torch.Generator().manual_seed(0))
    iso = torch.linalg.qr(iso.reshape(4096, 8))[0].reshape(4096, 8, 1, 1) * 64  # orthogonal columns
    assert spectral_entropy(iso, clean) == pytest.approx(math.log(8), abs=1e-3)


def _orthogonal_signs(n_pos: int, channels: int) -> torch.Tensor:
    # Rows of a Sylvester-Hadamard matrix: G^T G = n I exactly.
    h = torch.ones(1, 1)
    while h.shape[0] < n_pos:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h[:, :channels]


def test_trainability_of_a_linear_block_is_its_largest_singular_value() -> None:
    # f_out = W f_in (1x1 conv): the pulled-back map is W^T (G^T G / n) = W^T.
    w = torch.tensor([[2.0, 0.0], [0.0, 0.5]])
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(w.reshape(2, 2, 1, 1))
    f_in = torch.randn(4, 2, 1, 1, requires_grad=True)
    g = _orthogonal_signs(4, 2).reshape(4, 2, 1, 1)
    value = block_trainability(f_in, conv(f_in), g)
    assert value == pytest.approx(-2.0 - 1.0 / (2.0 + SIGMA_EPS) + 2.0, rel=1e-6)


def test_trainability_of_an_identity_block_is_minus_infinity() -> None:
    f_in = torch.randn(2, 3, 4, 4, requires_grad=True)
    g = torch.randint(0, 2, f_in.shape).float() * 2 - 1
    assert block_trainability(f_in, f_in * 1.0, g) == -math.inf


def test_trainability_handles_downsampling_by_space_to_depth() -> None:
    # 2x2 average pooling: each input position gets g/4; rearranged, M is a 4x1
    # column of E[g^2]/4 = 1/4, whose singular value is 1/2.
    f_in = torch.randn(3, 1, 4, 4, requires_grad=True)
    f_out = nn.functional.avg_pool2d(f_in, 2)
    g = torch.randint(0, 2, f_out.shape, generator=torch.Generator().manual_seed(1)).float() * 2 - 1
    assert block_trainability(f_in, f_out, g) == pytest.approx(-0.5 - 1.0 / (0.5 + SIGMA_EPS) + 2.0, rel=1e-5)


def test_zico_closed_form() -> None:
    # Two batches, gradients [1, 3] and [3, 1]: mean |g| = 2, std = 1 -> log(2 + 2).
    # A layer whose gradient does not vary contributes nothing.
    grads = [torch.tensor([[1.0, 3.0], [3.0, 1.0]]), torch.tensor([[5.0], [5.0]])]
    assert zico_from_gradients(grads) == pytest.approx(math.log(4.0))


def test_zico_of_a_linear_softmax_layer_with_known_gradients() -> None:
    # W = 0, two classes: p = (1/2, 1/2), dL/dW = (p - e_y) x^T, so with label 0 the
    # gradients are (-x/2, x/2): x = 1 then 2 gives mean |g| = 3/4, std = 1/4 per weight.
    layer = nn.Linear(1, 2, bias=False)
    nn.init.zeros_(layer.weight)
    batches = [(torch.tensor([[1.0]]), torch.tensor([0])), (torch.tensor([[2.0]]), torch.tensor([0]))]
    value, constant = zico_score(layer, batches)
    assert value == pytest.approx(math.log(6.0))
    assert not constant


def test_zico_refuses_a_single_batch() -> None:
    with pytest.raises(TenasError, match="batches=1"):
        get_indicator("zico", batches=1)


def test_min_correlation_eigenvalues_closed_forms() -> None:
    orthogonal = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])  # corr = I
    opposite = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])  # corr = [[1, -1], [-1, 1]]
    constant_row = torch.tensor([[1.0, 2.0, 4.0], [5.0, 5.0, 5.0]])  # NaN row -> 0: [[1, 0], [0, 0]]
    got = min_correlation_eigenvalues([orthogonal, opposite, constant_row])
    np.testing.assert_allclose(got, [1.0, 0.0, 0.0], atol=1e-6)


def test_meco_counts_every_module_in_paper_mode_and_each_tensor_once_in_clean() -> None:
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))
    net = nn.Sequential(conv)  # the Sequential returns the conv's output tensor
    x = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]]).reshape(1, 2, 2, 2)
    assert meco_score(net, x, distinct=False)[0] == pytest.approx(2.0, abs=1e-6)
    assert meco_score(net, x, distinct=True)[0] == pytest.approx(1.0, abs=1e-6)


def test_supernet_features_are_the_stem_and_every_cell_output() -> None:
    space = get_space("nb201")
    net = space.build_supernet(space.arch_to_mask(space.parse(GOOD)), channels=4, cells_per_stage=2)
    x = torch.randn(2, 3, 16, 16)
    feats = net.features(x)
    assert len(feats) == 1 + 3 * 2 + 2
    assert [f.shape[1] for f in feats] == [4, 4, 4, 8, 8, 8, 16, 16, 16]
    net.eval()
    torch.testing.assert_close(net.classifier(net.global_pooling(net.lastact(net.features(x)[-1])).flatten(1)), net(x))


def _scores(archs: list[str], indicators: tuple[str, ...], mode: str = "paper", seed: int = 0) -> dict[str, np.ndarray]:
    space = get_space("nb201")
    masks = [space.arch_to_mask(space.parse(a)) for a in archs]
    return evaluate(space, masks, list(indicators), seed=seed, device="cpu", mode=mode)


def test_az_nas_on_nb201_cells_as_the_official_code_reports_them() -> None:
    got = _scores([GOOD, SKIP_ONLY, EMPTY], AZ)
    assert all(np.isfinite(got[n][0]) for n in AZ)
    # A cell that reduces to a skip connection: progressivity 0, trainability -inf.
    assert got["az_progressivity"][1] == pytest.approx(0.0, abs=1e-6)
    assert got["az_trainability"][1] == -math.inf
    # No path from input to output: -inf expressivity and progressivity, and a
    # finite but very negative trainability (blocks with s = 0).
    assert got["az_expressivity"][2] == -math.inf and got["az_progressivity"][2] == -math.inf
    assert -1.0 / SIGMA_EPS < got["az_trainability"][2] < -1e4
    clean = _scores([EMPTY], AZ, mode="clean")
    assert all(math.isnan(clean[n][0]) for n in AZ)


def test_new_indicators_are_deterministic_and_share_weights_across_masks() -> None:
    names = (*AZ, "zico", "meco")
    one = _scores([GOOD, SKIP_ONLY], names, seed=3)
    again = _scores([SKIP_ONLY, GOOD], names, seed=3)
    other = _scores([GOOD], names, seed=4)
    for n in names:
        np.testing.assert_array_equal(one[n], again[n][::-1])
        assert one[n][0] != other[n][0]


def test_new_indicators_score_darts_masks() -> None:
    space = get_space("darts")
    rng = np.random.default_rng(0)
    masks = [space.arch_to_mask(space.sample(rng)) for _ in range(2)]
    got = evaluate(space, masks, [*AZ, "zico", "meco"], seed=0, device="cpu", mode="clean")
    for name, values in got.items():
        assert np.isfinite(values).all(), name
    # AZ-NAS defaults to clean mode on DARTS: in paper mode the 48-channel stem's float32 spectrum is NaN.
    default = evaluate(space, masks, AZ, seed=0, device="cpu")
    for name in AZ:
        np.testing.assert_array_equal(default[name], got[name])
    forced = evaluate(space, masks[:1], ["az_expressivity"], seed=0, device="cpu",
                      overrides={"az_expressivity": {"mode": "paper"}})  # fmt: skip
    assert forced["az_expressivity"][0] == -np.inf


def test_log_rank_sum_is_azs_aggregate_and_ranks_failures_last() -> None:
    from scipy.stats import rankdata

    from tenas_automl.indicators import log_rank_sum

    a = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    b = np.array([0.1, 0.5, 0.2, 0.9, 0.3])
    expected = np.log(rankdata(a) / 5) + np.log(rankdata(-b) / 5)  # b: lower is better
    np.testing.assert_allclose(log_rank_sum({"a": a, "b": b}, {"a": True, "b": False}), expected)
    got = log_rank_sum({"x": np.array([1.0, np.nan, -np.inf, 2.0])}, {"x": True})
    np.testing.assert_allclose(got, np.log(np.array([3.0, 1.5, 1.5, 4.0]) / 4))


def test_az_combination_in_a_correlation_report() -> None:
    from tenas_automl.analysis import correlate_sample

    report = correlate_sample(get_space("nb201"), 6, ["az"], seed=0, device="cpu", use_cache=False)
    assert set(report.scores) == {*AZ, "flops"}
    names = {c.indicator for c in report.correlations}
    assert {"az", "combined", *AZ, "flops"} <= names


def test_ensemble_is_the_log_rank_sum_of_its_members_failed_scores_last() -> None:
    from scipy.stats import rankdata

    from tenas_automl.indicators import get_combination, higher_is_better

    combo = get_combination("ensemble")
    rng = np.random.default_rng(1)
    scores = {name: rng.normal(size=7) for name in combo.members}
    scores["meco"][3] = np.nan  # a failed score ties with nothing and ranks below all
    expected = 0.0
    for name, v in scores.items():
        good = np.where(np.isfinite(v), v if higher_is_better(name) else -v, -np.inf)
        expected = expected + np.log(rankdata(good) / 7)
    got = combo.combine(scores)
    np.testing.assert_allclose(got, expected)
    assert np.isfinite(got).all()


def test_a_correlation_report_names_its_dataset_setting_and_seconds() -> None:
    from tenas_automl.analysis import correlate_sample

    report = correlate_sample(
        get_space("nb201"), 4, ["meco", "flops"], seed=0, device="cpu", use_cache=False, dataset="ImageNet16-120"
    )
    doc = report.to_dict()
    assert doc["dataset"] == "ImageNet16-120"
    assert set(doc["seconds_per_arch"]) == {"meco", "flops"} and all(v > 0 for v in doc["seconds_per_arch"].values())


# -- VKDNW -----------------------------------------------------------------------
def test_covariance_cholesky_factors_the_softmax_covariance() -> None:
    from tenas_automl.indicators.vkdnw import covariance_cholesky, smoothed_probabilities

    prob = smoothed_probabilities(torch.randn(5, 6, dtype=torch.float64), 0.05)
    low = covariance_cholesky(prob)
    cov = torch.diag_embed(prob) - prob[:, :, None] * prob[:, None, :]
    torch.testing.assert_close(low @ low.transpose(1, 2), cov)
    assert torch.equal(low, torch.tril(low))


def test_fisher_of_a_linear_softmax_model() -> None:
    # logits = W x: dlogit_k / dW[o, i] = [k == o] x_i, so with C_b the covariance of
    # sample b's smoothed softmax, F[(o, i), (o', i')] = mean_b C_b[o, o'] x_bi x_bi'.
    from tenas_automl.indicators.vkdnw import fisher_matrix, logit_jacobian, smoothed_probabilities

    torch.manual_seed(0)
    layer = nn.Linear(3, 4, bias=False).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    jac = logit_jacobian(layer, x, [("weight", layer.weight)], p=12)  # all 12 scalars
    with torch.no_grad():
        logits = layer(x)
    prob = smoothed_probabilities(logits, 0.05)
    cov = torch.diag_embed(prob) - prob[:, :, None] * prob[:, None, :]
    expected = torch.einsum("bop,bi,bj->oipj", cov, x, x).reshape(12, 12) / 7
    torch.testing.assert_close(fisher_matrix(jac, logits, clean=True), expected)


def test_fast_jacobian_equals_torch_func_on_conv_bn_linear() -> None:
    from tenas_automl.indicators.vkdnw import logit_jacobian, logit_jacobian_func, running_parameters

    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, stride=2, bias=True),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 5),
    ).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    net.eval()
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64)
    params = running_parameters(net, x)
    torch.testing.assert_close(logit_jacobian(net, x, params, 3), logit_jacobian_func(net, x, params, 3))


def test_vkdnw_decile_entropy_and_settings() -> None:
    from tenas_automl.indicators.vkdnw import decile_entropy

    assert decile_entropy(torch.full((50,), 3.0)) == pytest.approx(math.log(9), rel=1e-6)
    with pytest.raises(TenasError, match="p=0"):
        get_indicator("vkdnw", p=0)


def test_vkdnw_counts_the_parameter_tensors_that_run() -> None:
    # All-skip cells have no parameters: stem conv + BN (3), two residual blocks
    # (2 x (3 + 3 + 1)), the last BN (2) and the classifier (2): 21 tensors.
    all_skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    got = _scores([all_skip, GOOD], ("vkdnw",))["vkdnw"]
    assert int(got[0]) == 21 and 0 < got[0] - 21 < 0.25
    assert int(got[1]) == 21 + 15 * 5 * 3  # five convolutions per cell, 15 cells


# -- SWAP ------------------------------------------------------------------------
def test_swap_counts_distinct_unit_patterns_over_samples() -> None:
    from tenas_automl.indicators.swap import swap_score

    conv = nn.Conv2d(1, 1, 1, bias=False)
    nn.init.ones_(conv.weight)
    net = nn.Sequential(conv, nn.ReLU())
    # Units (pixels) x samples: unit 0 fires on both, unit 1 on the second only,
    # unit 2 like unit 0: two distinct patterns; 1 parameter = 0.001 thousand.
    x = torch.tensor([[[[1.0, -1.0, 2.0]]], [[[1.0, 1.0, 3.0]]]])
    assert swap_score(net, x) == (2, pytest.approx(0.001))
    many = torch.randn(70, 1, 2, 8, generator=torch.Generator().manual_seed(0))  # > 62 samples: packed path
    assert swap_score(net, many)[0] == int(torch.unique((many > 0).reshape(70, -1).T, dim=0).shape[0])


def test_swap_regularisation_and_settings() -> None:
    with pytest.raises(TenasError, match="both mu and sigma"):
        get_indicator("swap", mu=100.0)
    plain = _scores([GOOD], ("swap",))["swap"][0]
    space = get_space("nb201")
    mask = space.arch_to_mask(space.parse(GOOD))
    reg = evaluate(space, [mask], [get_indicator("swap", mu=0.0, sigma=1e12)], seed=0, device="cpu")["swap"][0]
    assert 0 < reg <= plain and reg == pytest.approx(plain, rel=1e-3)


def test_vkdnw_agg_ranks_vkdnw_densely_as_the_official_aggregation() -> None:
    from scipy.stats import rankdata

    from tenas_automl.indicators import get_combination

    rng = np.random.default_rng(0)
    scores = {name: rng.normal(size=8) for name in ("az_expressivity", "az_trainability", "flops", "jacov")}
    scores["vkdnw"] = np.array([21.1, 21.1, 66.3, 66.3, 66.5, 111.2, 111.2, 21.1])
    expected = np.log(rankdata(scores["vkdnw"], method="dense") / 8) + sum(
        np.log(rankdata(scores[k]) / 8) for k in ("az_expressivity", "az_trainability", "flops", "jacov")
    )
    np.testing.assert_allclose(get_combination("vkdnw_agg").combine(scores), expected)

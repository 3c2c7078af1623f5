"""Closed forms of the indicators' mathematics on plain modules and tensors."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch import nn

from tenas_automl.errors import TenasError
from tenas_automl.indicators import evaluate
from tenas_automl.indicators._nn import (
    batch_jacobian,
    jacobian,
    per_sample_jacobian,
    resolve_layout,
    weight_parameters,
)
from tenas_automl.indicators.baselines import count_size, jacov_from_jacobian, synflow_score
from tenas_automl.indicators.gen import centred_one_hot, kernel_regression_error
from tenas_automl.indicators.linear_regions import activation_codes, count_distinct, pack_codes
from tenas_automl.indicators.naswot import agreement_kernel, log_abs_det, naswot_kernel
from tenas_automl.indicators.ntk import PAPER_NAN_VALUE, NTKSettings, condition_number, ntk_matrix
from tenas_automl.spaces import get_space


# -- NTK -----------------------------------------------------------------------
def test_ntk_of_linear_model_is_outputs_times_gram() -> None:
    # f(x) = W x, s_i = 1^T W x_i  =>  ds_i/dW = 1 x_i^T  =>  Theta_ij = K x_i.x_j.
    torch.manual_seed(0)
    d, k, b = 6, 4, 5  # b <= d: X X^T is full rank
    model = nn.Linear(d, k, bias=False)
    x = torch.randn(b, d)
    jac, out = batch_jacobian(model, x, weight_parameters(model))
    theta = ntk_matrix(jac)
    expected = k * (x.double() @ x.double().T)
    torch.testing.assert_close(theta, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, model(x).detach())
    eig = torch.linalg.eigvalsh(expected)
    assert condition_number(theta, "clean") == pytest.approx(float(eig[-1] / eig[0]), rel=1e-6)


def _conv_bn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def test_batched_jacobian_equals_per_sample_loop_in_train_mode() -> None:
    torch.manual_seed(1)
    model = _conv_bn_net().train()
    x = torch.randn(10, 3, 8, 8)
    params = weight_parameters(model)
    fast, _ = batch_jacobian(model, x, params)
    slow = per_sample_jacobian(model, x, params)
    assert fast.shape == (10, sum(p.numel() for p in params))
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-6)
    # Train-mode BN couples the batch: a sample's row is not its single-sample gradient.
    alone = per_sample_jacobian(model, x[:2], params)
    assert not torch.allclose(alone[0], slow[0], atol=1e-4)


def test_channels_last_layout_changes_only_float_noise() -> None:
    torch.manual_seed(2)
    model = _conv_bn_net().train()
    x = torch.randn(12, 3, 8, 8)
    params = weight_parameters(model)
    plain, out_plain = jacobian(model, x, params, "loop", "contiguous")
    fast, out_fast = jacobian(model, x, params, "loop", "channels_last")
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-4, atol=1e-5)


def test_native_conv_kernels_change_only_float_noise_and_restore_the_flag() -> None:
    torch.manual_seed(3)
    model = _conv_bn_net().train()
    x = torch.randn(12, 3, 8, 8)
    params = weight_parameters(model)
    before = torch.backends.mkldnn.enabled
    ref, _ = jacobian(model, x, params, "loop", "contiguous", "onednn")
    native, _ = jacobian(model, x, params, "batched", "contiguous", "native")
    torch.testing.assert_close(native, ref, rtol=1e-4, atol=1e-5)
    assert torch.backends.mkldnn.enabled == before
    # Threads overlapping in native mode share the switch; the last one restores it.
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: jacobian(model, x, params, "batched", "contiguous", "native")[0], range(8)))
    assert all(torch.equal(o, native) for o in outs)
    assert torch.backends.mkldnn.enabled == before


def test_jacobian_plan_resolves_auto_by_width_and_device() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert NTKSettings(width=1).plan(cpu) == ("batched", "contiguous", "native", "autograd")
    assert NTKSettings(width=3).plan(cpu) == ("loop", "contiguous", "onednn", "fast")
    assert NTKSettings(width=1).plan(cuda) == ("batched", "contiguous", "onednn", "autograd")
    assert NTKSettings(width=1, conv="onednn", jacobian="loop").plan(cpu) == ("loop", "contiguous", "onednn", "autograd")
    assert NTKSettings(width=3, backward="autograd").plan(cpu)[3] == "autograd"
    with pytest.raises(TenasError, match="conv backend"):
        NTKSettings().replace(conv="cudnn")
    with pytest.raises(TenasError, match="backward.*'slow'"):
        NTKSettings().replace(backward="slow")


def test_condition_number_modes() -> None:
    theta = torch.diag(torch.tensor([1.0, 4.0, 10.0], dtype=torch.float64))
    assert condition_number(theta, "paper") == pytest.approx(10.0)
    assert condition_number(theta, "clean") == pytest.approx(10.0)
    zero = torch.zeros(3, 3, dtype=torch.float64)
    assert condition_number(zero, "paper") == PAPER_NAN_VALUE  # 0/0 -> NaN -> 1e5
    assert condition_number(zero, "clean") == math.inf  # singular kernel
    bad = torch.full((2, 2), math.nan, dtype=torch.float64)
    assert condition_number(bad, "paper") == PAPER_NAN_VALUE
    assert math.isnan(condition_number(bad, "clean"))


# -- linear regions --------------------------------------------------------------
class _Breakpoints(nn.Module):
    """1-D input (as N x 1 x 1 x 1); hidden units relu(w_k x - w_k b_k)."""

    def __init__(self, slopes: list[float], breakpoints: list[float]) -> None:
        super().__init__()
        k = len(slopes)
        self.conv = nn.Conv2d(1, k, 1)
        with torch.no_grad():
            w = torch.tensor(slopes)
            self.conv.weight.copy_(w.view(k, 1, 1, 1))
            self.conv.bias.copy_(-w * torch.tensor(breakpoints))
        self.relu = nn.ReLU()
        self.head = nn.Linear(k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize(
    ("slopes", "breakpoints", "lo", "hi", "regions"),
    [
        ([1.0, 1.0, 1.0], [-1.0, 0.0, 2.0], -5.0, 5.0, 4),  # 3 breakpoints in range: 4 pieces
        ([1.0, 1.0, 1.0], [-1.0, 0.0, 2.0], 0.5, 1.5, 1),  # no breakpoint in range
        ([1.0, -1.0], [0.0, 0.0], -3.0, 3.0, 2),  # relu(x), relu(-x): two half-lines
        ([1.0, -1.0], [-1.0, 1.0], -3.0, 3.0, 3),  # both on in (-1, 1): 3 pieces
    ],
)
def test_linear_regions_of_1d_relu_net(slopes, breakpoints, lo, hi, regions) -> None:
    net = _Breakpoints(slopes, breakpoints)
    x = torch.linspace(lo, hi, 1001).view(-1, 1, 1, 1) + 1e-4  # avoid hitting a breakpoint
    codes, out = activation_codes(net, x)
    assert codes.shape == (1001, len(slopes))
    assert count_distinct(codes) == regions


def test_count_distinct_matches_set_and_official_formula() -> None:
    gen = torch.Generator().manual_seed(3)
    codes = torch.rand(500, 11, generator=gen) > 0.8
    reference = len({tuple(row.tolist()) for row in codes})  # per-sample code set
    assert count_distinct(codes) == reference
    # The official counter: sum_i 1 / #{j : code_j == code_i}, via Hamming distances.
    a = codes.double()
    hamming = a @ (1 - a).T + (1 - a) @ a.T
    same = (hamming == 0).double().sum(1)
    assert count_distinct(codes) == pytest.approx(float((1 / same).sum()))
    # Packing is injective: distinct rows stay distinct.
    assert torch.unique(pack_codes(codes), dim=0).shape[0] == reference
    assert count_distinct(torch.zeros(0, 5, dtype=torch.bool)) == 0
    assert count_distinct(torch.zeros(4, 0, dtype=torch.bool)) == 1


# -- NASWOT ------------------------------------------------------------------------
def test_agreement_kernel_by_hand() -> None:
    c = torch.tensor([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    # K_ij = number of positions where rows i and j agree.
    expected = torch.tensor([[4, 2, 3], [2, 4, 1], [3, 1, 4]], dtype=torch.float64)
    k = agreement_kernel(c)
    torch.testing.assert_close(k, expected)
    cf = c.double()
    torch.testing.assert_close(k, cf @ cf.T + (1 - cf) @ (1 - cf).T)
    assert log_abs_det(k) == pytest.approx(math.log(abs(float(torch.linalg.det(expected)))))


def test_naswot_kernel_sums_over_relus_and_reads_inputs() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1))
    x = torch.randn(6, 3)
    kernel, _ = naswot_kernel(model, x)
    h1 = model[0](x)
    h2 = model[2](torch.relu(h1))
    expected = agreement_kernel(h1 > 0) + agreement_kernel(h2 > 0)
    torch.testing.assert_close(kernel, expected)
    assert float(kernel.diagonal().min()) == 9.0  # every sample agrees with itself on 5 + 4 units


class ReLUConvBN(nn.Module):
    """Named like NB201's op, so that NASWOT's name rule selects it; ReLU -> conv -> BN."""

    def __init__(self) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def test_which_modules_count_as_relus_in_each_paper() -> None:
    # Input -> ReLUConvBN (its ReLU reads x) -> ReLU (reads the op's BN output) -> flatten.
    torch.manual_seed(0)
    op = ReLUConvBN()
    with torch.no_grad():
        op.op[1].weight.fill_(-1.0)  # so the BN output's signs differ from the input's
    model = nn.Sequential(op, nn.ReLU(), nn.Flatten())
    x = torch.randn(12, 1, 2, 2)
    h = op(x).detach()
    # TE-NAS's counter: nn.ReLU modules only, i.e. the inner ReLU (x) and the outer one (h).
    codes, _ = activation_codes(model, x)
    assert torch.equal(codes, torch.cat([(x > 0).reshape(12, -1), (h > 0).reshape(12, -1)], 1))
    # NASWOT's hooks: every module whose type names ReLU, read at its input, so the
    # op contributes x's codes twice (as itself and as its inner ReLU), never the BN output's.
    kernel, _ = naswot_kernel(model, x)
    expected = 2 * agreement_kernel((x > 0).reshape(12, -1)) + agreement_kernel((h > 0).reshape(12, -1))
    torch.testing.assert_close(kernel, expected)


def test_naswot_kernel_reuses_a_tensors_kernel_only_while_it_is_unchanged() -> None:
    # Two ReLUs read the same tensor object; between them it is shifted in place,
    # so the second reader must see the new signs, not the first reader's kernel.
    class ReadShiftRead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first, self.second = nn.ReLU(), nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x.clone()
            self.first(h)
            h.add_(0.7)
            return self.second(h).flatten(1)

    torch.manual_seed(0)
    x = torch.randn(10, 1, 3, 3)
    kernel, _ = naswot_kernel(ReadShiftRead(), x)
    codes = (x > 0).reshape(10, -1)
    shifted = (x + 0.7 > 0).reshape(10, -1)
    assert not torch.equal(agreement_kernel(shifted), agreement_kernel(codes))
    torch.testing.assert_close(kernel, agreement_kernel(codes) + agreement_kernel(shifted))


def test_batch_layouts_agree_up_to_float_noise_and_auto_is_channels_last_on_cpu() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert (resolve_layout("auto", cpu), resolve_layout("auto", cuda)) == ("channels_last", "contiguous")
    assert resolve_layout("contiguous", cpu) == "contiguous"
    with pytest.raises(TenasError, match="'rows'"):
        resolve_layout("rows", cpu)
    space = get_space("nb201")
    archs = [
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|",
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    ]
    masks = [space.arch_to_mask(space.parse(a)) for a in archs]
    names = ["naswot", "snip", "grad_norm", "jacov"]
    small = {"width": 8, "cells": 1, "batch_size": 32}
    out = {
        layout: evaluate(space, masks, names, device="cpu", overrides={n: {**small, "layout": layout} for n in names})
        for layout in ("contiguous", "channels_last", "auto")
    }
    # Float32 rounding only (in float64 snip agrees to 1e-15 between layouts); the
    # loss-gradient proxies amplify it through train-mode BatchNorm, as CUDA does.
    rtol = {"naswot": 1e-5, "snip": 2e-3, "grad_norm": 2e-3, "jacov": 1e-4}
    for n in names:
        np.testing.assert_allclose(out["channels_last"][n], out["contiguous"][n], rtol=rtol[n], err_msg=n)
        np.testing.assert_array_equal(out["auto"][n], out["channels_last"][n])


# -- baselines -------------------------------------------------------------------
def test_synflow_of_linear_chain_is_depth_times_path_sum() -> None:
    # R = 1^T |W3||W2||W1| 1 and each layer contributes sum |w * dR/dw| = R.
    torch.manual_seed(0)
    chain = nn.Sequential(nn.Linear(4, 6, bias=False), nn.Linear(6, 5, bias=False), nn.Linear(5, 2, bias=False))
    w = [m.weight.detach().double().abs() for m in chain]
    r = float(torch.ones(2, dtype=torch.float64) @ w[2] @ w[1] @ w[0] @ torch.ones(4, dtype=torch.float64))
    assert synflow_score(chain, (4,)) == pytest.approx(3 * r, rel=1e-12)
    assert chain[0].weight.min() < 0  # the original keeps its signs


def test_count_size_counts_running_modules_only() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.unused = nn.Conv2d(3, 8, 5, padding=2)
            self.head = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.used(x).mean((2, 3)))

    counts = count_size(Branchy(), torch.randn(4, 3, 10, 10))
    assert counts.params == 3 * 8 * 9 + 8 * 2 + 2
    assert counts.flops == 10 * 10 * 8 * (3 * 9) + 8 * 2


def test_jacov_of_orthogonal_rows() -> None:
    # Uncorrelated rows: the correlation matrix is ~I, every eigenvalue 1.
    jac = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    v = 1.0 + 1e-5
    assert jacov_from_jacobian(jac) == pytest.approx(-2 * (math.log(v) + 1 / v), rel=1e-9)
    assert math.isnan(jacov_from_jacobian(torch.ones(2, 4)))  # zero variance


# -- generalization ---------------------------------------------------------------
def test_kernel_regression_error_closed_forms() -> None:
    y = centred_one_hot(torch.tensor([0, 1, 2, 1]), 3)
    torch.testing.assert_close(y.sum(0), torch.zeros(3, dtype=torch.float64))
    eye = torch.eye(4, dtype=torch.float64)
    # Test set = training set: kernel regression interpolates, error 0.
    assert kernel_regression_error(eye * 2, eye * 2, y, y) == pytest.approx(0.0, abs=1e-12)
    # Theta_xx = I: prediction is Theta_yx Y.
    a = torch.tensor([[0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    y_test = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    expected = float((((a @ y) - y_test) ** 2).sum(1).mean())
    assert kernel_regression_error(eye, a, y, y_test) == pytest.approx(expected)
    # A singular kernel is NaN, never an exception.
    singular = torch.ones(4, 4, dtype=torch.float64)
    assert math.isnan(kernel_regression_error(singular, a, y, y_test))

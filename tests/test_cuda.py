"""CUDA scores equal the CPU ones up to float noise, and repeat exactly (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tenas_automl import evaluate, get_space
from tenas_automl.indicators._nn import jacobian, weight_parameters

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
    "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|none~2|",
)
# The condition numbers and kernel-regression errors are ratios of
# eigenvalues of a float32 Jacobian's Gram matrix: they move more than the
# Jacobian itself. A linear-region count moves when float noise flips a
# pre-activation that sits at zero.
RTOL = {
    "ntk": 2e-3,
    "gen": 2e-3,
    "naswot": 1e-4,
    "lr": 1e-2,
    "synflow": 1e-4,
    "snip": 1e-3,
    "grad_norm": 1e-3,
    "jacov": 1e-3,
    "params": 0.0,
    "flops": 0.0,
}
# One repeat keeps the CPU side of the comparison short. The full-network
# indicators feed CPU batches channels-last by default; both sides contiguous
# here, so that only the device differs (layouts: test_indicators_math.py).
OVERRIDES = {
    "ntk": {"repeats": 1},
    "gen": {"repeats": 1},
    "lr": {"repeats": 1},
    **{n: {"layout": "contiguous"} for n in ("naswot", "snip", "grad_norm", "jacov")},
}


@pytest.fixture(scope="module")
def masks() -> list:
    space = get_space("nb201")
    return [space.arch_to_mask(space.parse(a)) for a in ARCHS]


@pytest.mark.parametrize("name", sorted(RTOL))
def test_cuda_scores_match_cpu(name: str, masks: list) -> None:
    space = get_space("nb201")
    cpu = evaluate(space, masks, [name], seed=3, device="cpu", overrides=OVERRIDES)[name]
    gpu = evaluate(space, masks, [name], seed=3, device="cuda", overrides=OVERRIDES)[name]
    np.testing.assert_allclose(gpu, cpu, rtol=RTOL[name], atol=1e-8)


@pytest.mark.parametrize("name", ["ntk", "naswot", "gen"])
def test_cuda_scores_repeat_exactly(name: str, masks: list) -> None:
    space = get_space("nb201")
    first = evaluate(space, masks, [name], seed=1, device="cuda", overrides=OVERRIDES)[name]
    second = evaluate(space, masks, [name], seed=1, device="cuda", overrides=OVERRIDES)[name]
    np.testing.assert_array_equal(first, second)


def test_cuda_tf32_is_off_while_scoring_and_restored(masks: list) -> None:
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        evaluate(get_space("nb201"), masks[:1], ["ntk"], seed=0, device="cuda")
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = before


def test_cuda_batched_jacobian_equals_loop() -> None:
    torch.manual_seed(0)
    model = (
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1),
            torch.nn.BatchNorm2d(4),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(4, 5),
        )
        .cuda()
        .train()
    )
    x = torch.randn(6, 3, 8, 8, device="cuda")
    params = weight_parameters(model)
    loop, out_loop = jacobian(model, x, params, "loop", "contiguous")
    batched, out_batched = jacobian(model, x, params, "batched", "contiguous")
    torch.testing.assert_close(batched, loop, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out_batched, out_loop)

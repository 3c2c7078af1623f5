"""The loop Jacobian's fast BatchNorm/pooling backward: same forward, same gradients."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tenas_automl.indicators import get_indicator
from tenas_automl.indicators._backward import fast_backward
from tenas_automl.indicators._nn import jacobian, per_sample_jacobian, weight_parameters
from tenas_automl.indicators.ntk import condition_number, ntk_matrix
from tenas_automl.indicators.runner import make_context
from tenas_automl.spaces import get_space


def _grads(model: nn.Module, x: torch.Tensor, cot: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = x.detach().requires_grad_(True)
    out = model(x)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out, [x, *params], grad_outputs=cot)
    return out.detach(), list(grads)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "module",
    [
        lambda: nn.BatchNorm2d(3),
        lambda: nn.BatchNorm2d(3, affine=False),
        lambda: nn.BatchNorm2d(3, momentum=None),
        lambda: nn.BatchNorm2d(3, track_running_stats=False),
        lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        lambda: nn.AvgPool2d(2, stride=2),
    ],
    ids=["bn", "bn-no-affine", "bn-cumulative", "bn-untracked", "pool3x3", "pool2x2"],
)
def test_forward_bitwise_and_gradients_equal_autograd(module, channels_last: bool) -> None:
    torch.manual_seed(0)
    ref_mod, fast_mod = module(), module()
    fast_mod.load_state_dict(ref_mod.state_dict())
    x = torch.randn(5, 3, 7, 9) * 3 + 1  # odd sizes: the 2x2 pool drops a row and a column
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if isinstance(ref_mod, nn.BatchNorm2d) and ref_mod.affine:
        with torch.no_grad():
            for m in (ref_mod, fast_mod):
                m.weight.copy_(torch.tensor([0.5, -2.0, 1.5]))
                m.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
    cot = torch.randn_like(copy.deepcopy(ref_mod)(x))  # a copy: the two modules' statistics stay level
    for _ in range(2):  # twice: running statistics and the cumulative momentum move alike
        out_ref, g_ref = _grads(ref_mod, x, cot)
        with fast_backward(fast_mod) as switched:
            out_fast, g_fast = _grads(fast_mod, x, cot)
        assert switched == 1
        assert torch.equal(out_fast, out_ref)
        for a, b in zip(g_fast, g_ref):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        assert g_fast[0].is_contiguous(memory_format=torch.channels_last) == channels_last
        for name, buf in ref_mod.named_buffers():
            assert torch.equal(dict(fast_mod.named_buffers())[name], buf), name
    assert "forward" not in fast_mod.__dict__  # restored


def test_eval_mode_and_other_pools_are_left_alone() -> None:
    bn = nn.BatchNorm2d(3).eval()
    pool = nn.AvgPool2d(3, stride=2, padding=1)  # not an NB201/DARTS stride-1 pool
    model = nn.Sequential(bn, pool, nn.MaxPool2d(2))
    x = torch.randn(4, 3, 8, 8)
    with fast_backward(model) as switched:
        assert switched == 1  # the BatchNorm, which still runs its own eval forward
        out = model(x)
    assert torch.equal(out, model(x))


@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_ntk_loop_with_fast_backward_equals_autograd_on_the_pruning_supernet(layout: str) -> None:
    space = get_space("nb201")
    ctx = make_context(space, seed=0, device="cpu")
    net = ctx.network(get_indicator("ntk").settings)  # 3 channels, 1 cell per stage: every pool and BN
    net.set_mask(space.full_mask(exclude=("none",)))
    x, _ = ctx.images(8, augment=True)
    params = weight_parameters(net)
    fast, out_fast = jacobian(net, x, params, "loop", layout, "onednn", "fast")
    ref, out_ref = jacobian(net, x, params, "loop", layout, "onednn", "autograd")
    assert torch.equal(out_fast, out_ref)
    scale = float(ref.abs().max())
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5 * scale)
    assert condition_number(ntk_matrix(fast)) == pytest.approx(condition_number(ntk_matrix(ref)), rel=1e-5)
    if layout == "contiguous":  # the plain reference: autograd, one backward per sample
        torch.testing.assert_close(fast, per_sample_jacobian(net, x, params), rtol=1e-4, atol=1e-5 * scale)
    assert not any("forward" in m.__dict__ for m in net.modules())


@pytest.mark.parametrize("shape", [(8, 16, 32, 32), (4, 8, 7, 9), (3, 3, 5, 5), (2, 12, 1, 1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_pools_keep_values_and_gradients_bit_for_bit(shape: tuple[int, ...], channels_last: bool) -> None:
    from tenas_automl.indicators._backward import fast_pools

    pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.Tanh())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(2))

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        xi = x.detach().clone().requires_grad_(True)
        out = pool(xi)
        (grad,) = torch.autograd.grad(out, xi, g)
        return out, grad

    expected = run()
    with fast_pools(pool) as switched:
        got = run()
    assert switched == 1 and "forward" not in pool[0].__dict__
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_synflow_network_is_prepared_once_and_gives_the_same_values() -> None:
    from tenas_automl.indicators.az_nas import initialised_network
    from tenas_automl.indicators.baselines import synflow_score

    space = get_space("nb201")
    ctx = make_context(space, seed=0, device="cpu")
    ind = get_indicator("synflow")
    archs = [space.parse(a) for a in (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|",
    )]  # fmt: skip
    masks = [space.arch_to_mask(a) for a in archs]
    got = ind.score_masks(space, masks, ctx)
    s = ind.effective_settings(space, ctx.data)
    net = initialised_network(ctx, s, s.init, 0)
    x, _ = ctx.images(s.batch_size, index=0, augment=s.augment, input_size=s.input_size)
    for mask, value in zip(masks, got):
        net.set_mask(mask)
        assert value == synflow_score(net, x.shape[1:])  # a fresh copy per mask, as before

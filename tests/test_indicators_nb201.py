"""``evaluate`` on NB201 masks: determinism, common random numbers, degenerate cells."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from tenas_automl.data import load_data
from tenas_automl.errors import InvalidArchitectureError, TenasError, UnknownNameError
from tenas_automl.indicators import evaluate, get_indicator, list_indicators, rank
from tenas_automl.indicators._nn import batch_jacobian, per_sample_jacobian, weight_parameters
from tenas_automl.indicators.runner import make_context
from tenas_automl.spaces import get_space

REFERENCE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CUT = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"  # output node cut off
OTHER = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
NO_CELL_WEIGHTS = "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|skip_connect~2|"

SMALL = {
    "ntk": {"batch_size": 8, "repeats": 2},
    "lr": {"batch_size": 200, "batches": 2, "repeats": 2},
    "gen": {"batch_size": 8, "test_batch_size": 8, "repeats": 1},
    "naswot": {"width": 4, "cells": 1, "batch_size": 16},
    "params": {"width": 4, "cells": 1},
    "flops": {"width": 4, "cells": 1},
    "synflow": {"width": 4, "cells": 1, "batch_size": 8},
    "jacov": {"width": 4, "cells": 1, "batch_size": 8},
    "snip": {"width": 4, "cells": 1, "batch_size": 8},
    "grad_norm": {"width": 4, "cells": 1, "batch_size": 8},
    # The 2023-2025 indicators at a fraction of their paper size (their paper settings: test_indicators_recent.py).
    **{n: {"width": 4, "cells": 1, "batch_size": 8} for n in ("az_expressivity", "az_progressivity", "az_trainability")},
    "vkdnw": {"width": 4, "cells": 1, "batch_size": 8, "tensors": 16},
    "zico": {"width": 4, "cells": 1, "batch_size": 8},
    "meco": {"width": 4, "cells": 1},
    "swap": {"repeats": 4},
}
SEARCH = ("ntk", "lr", "gen", "naswot")


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def masks(space, *archs: str):
    return [space.arch_to_mask(space.parse(a)) for a in archs]


def test_every_indicator_is_deterministic_per_seed(space) -> None:
    ms = masks(space, REFERENCE, OTHER)
    first = evaluate(space, ms, list_indicators(), seed=3, device="cpu", overrides=SMALL)
    again = evaluate(space, ms, list_indicators(), seed=3, device="cpu", overrides=SMALL)
    assert list(first) == list_indicators()
    for name, values in first.items():
        assert values.shape == (2,) and np.isfinite(values).all(), name
        np.testing.assert_array_equal(values, again[name])
    other_seed = evaluate(space, ms, ["ntk", "naswot"], seed=4, device="cpu", overrides=SMALL)
    assert not np.array_equal(other_seed["ntk"], first["ntk"])
    assert not np.array_equal(other_seed["naswot"], first["naswot"])


def test_a_masks_value_does_not_depend_on_the_other_masks(space) -> None:
    together = evaluate(space, masks(space, OTHER, REFERENCE), SEARCH, device="cpu", overrides=SMALL)
    alone = evaluate(space, masks(space, REFERENCE), SEARCH, device="cpu", overrides=SMALL)
    for name in SEARCH:
        assert together[name][1] == alone[name][0], name


def test_cut_off_cell_scores_nan_and_ranks_last(space, caplog) -> None:
    names = [*SEARCH, "jacov", "snip", "grad_norm"]
    with caplog.at_level(logging.WARNING, logger="tenas_automl.indicators.runner"):
        out = evaluate(space, masks(space, REFERENCE, CUT, OTHER), names, device="cpu", overrides=SMALL)
    for name in names:
        assert math.isnan(out[name][1]) and np.isfinite(out[name][[0, 2]]).all(), name
        assert rank(out[name], higher_is_better=name in ("lr", "naswot"))[1] == 2
    assert "non-finite" in caplog.text


def test_params_and_flops_of_the_full_size_network(space) -> None:
    out = evaluate(space, masks(space, REFERENCE, OTHER), ["params", "flops"], device="cpu")
    for k, arch in enumerate((REFERENCE, OTHER)):
        built = space.build(space.parse(arch), channels=16, cells_per_stage=5, num_classes=10)
        assert out["params"][k] == sum(p.numel() for p in built.parameters())
    assert out["params"][0] == 802_426
    # A 3x3 conv edge instead of a skip costs C^2 * 9 * H * W MACs in each of 5 cells per stage.
    conv = REFERENCE.replace("skip_connect~2", "nor_conv_3x3~2")
    flops = evaluate(space, masks(space, REFERENCE, conv), ["flops"], device="cpu")["flops"]
    per_stage = [16 * 16 * 9 * 32 * 32, 32 * 32 * 9 * 16 * 16, 64 * 64 * 9 * 8 * 8]
    assert flops[1] - flops[0] == 5 * sum(per_stage)


def test_fast_ntk_jacobian_equals_per_sample_loop_on_the_supernet(space) -> None:
    ctx = make_context(space, seed=0, device="cpu")
    net = ctx.network(get_indicator("ntk").settings)  # 3 channels, 1 cell per stage
    full = space.full_mask()
    net.set_mask(full)  # several ops per edge, as in the pruning search
    x, _ = ctx.images(6, augment=True)
    params = weight_parameters(net)
    fast, _ = batch_jacobian(net, x, params)
    torch.testing.assert_close(fast, per_sample_jacobian(net, x, params), rtol=0, atol=1e-6)


def test_gen_without_cell_weights(space) -> None:
    ms = masks(space, NO_CELL_WEIGHTS)
    clean = evaluate(space, ms, ["gen"], device="cpu", mode="clean", overrides=SMALL)["gen"]
    paper = evaluate(space, ms, ["gen"], device="cpu", mode="paper", overrides=SMALL)["gen"]
    assert math.isnan(clean[0])  # search cells hold no weights: Theta_xx = 0, singular
    assert math.isfinite(paper[0])  # the official kernel includes the reduction blocks


def test_clean_mode_ignores_dead_branches(space) -> None:
    # Node 2 only feeds a `none` edge: the 3x3 conv on edge 2<-1 runs but never
    # reaches the output. Its ReLU reads node 1, which no live ReLU reads (node 1
    # reaches the output through a skip), so in paper mode its codes are new bits.
    dead = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|none~2|"
    same = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|"
    ms = masks(space, dead, same)
    clean = evaluate(space, ms, ["lr", "naswot"], device="cpu", mode="clean", overrides=SMALL)
    paper = evaluate(space, ms, ["lr", "naswot"], device="cpu", mode="paper", overrides=SMALL)
    for name in ("lr", "naswot"):
        assert clean[name][0] == clean[name][1], name
        assert paper[name][0] != paper[name][1], name


def test_pruning_call_scores_multi_op_masks(space) -> None:
    full = space.full_mask()
    subs = [full[:e] + (tuple(o for o in full[e] if o != op),) + full[e + 1 :] for e in (0, 3) for op in full[e]]
    out = evaluate(space, [full, *subs], ["ntk", "lr"], device="cpu", overrides=SMALL)
    assert out["ntk"].shape == (1 + len(subs),)
    assert np.isfinite(out["ntk"]).all() and np.isfinite(out["lr"]).all()


def test_worker_processes_give_the_serial_numbers(space, caplog) -> None:
    full = space.full_mask()
    subs = [full[:e] + (tuple(o for o in full[e] if o != op),) + full[e + 1 :] for e in (0, 5) for op in full[e]]
    ms = [full, *subs, *masks(space, CUT)]
    names = ["ntk", "lr", "naswot"]
    serial = evaluate(space, ms, names, seed=5, device="cpu", overrides=SMALL)
    with caplog.at_level(logging.WARNING, logger="tenas_automl.indicators.runner"):
        parallel = evaluate(space, ms, names, seed=5, device="cpu", overrides=SMALL, workers=2)
    for name in names:
        np.testing.assert_array_equal(parallel[name], serial[name])
    assert "non-finite" in caplog.text  # the cut-off cell, reported by the parent process
    with pytest.raises(TenasError, match="workers"):
        evaluate(space, ms, names, workers=0)


def test_repeats_resample_weights_or_data(space) -> None:
    ms = masks(space, REFERENCE)
    base = {"batch_size": 8, "repeats": 1}
    one = evaluate(space, ms, ["ntk"], device="cpu", overrides={"ntk": {**base, "resample": "weights"}})
    same = evaluate(space, ms, ["ntk"], device="cpu", overrides={"ntk": {**base, "resample": "data"}})
    assert one["ntk"][0] == same["ntk"][0]  # repeat 0 uses the same weights and batch either way
    two = {**base, "repeats": 2}
    w = evaluate(space, ms, ["ntk"], device="cpu", overrides={"ntk": {**two, "resample": "weights"}})
    d = evaluate(space, ms, ["ntk"], device="cpu", overrides={"ntk": {**two, "resample": "data"}})
    assert w["ntk"][0] != d["ntk"][0]
    # ``first_repeat`` gives each repeat on its own: their mean is the multi-repeat score.
    for resample in ("weights", "data"):
        three = {"batch_size": 8, "repeats": 3, "resample": resample}
        whole = evaluate(space, ms, ["ntk"], device="cpu", overrides={"ntk": three})["ntk"]
        rows = [
            evaluate(space, ms, ["ntk"], device="cpu", overrides={"ntk": {**three, "repeats": 1, "first_repeat": r}})["ntk"]
            for r in range(3)
        ]
        assert np.array_equal(whole, np.mean(rows, 0))
        assert len({float(r[0]) for r in rows}) == 3


def test_bad_input_raises_typed_errors(space) -> None:
    with pytest.raises(InvalidArchitectureError, match="6 edges"):
        evaluate(space, [(("skip_connect",),) * 5], ["lr"], device="cpu")
    with pytest.raises(UnknownNameError, match="conv_9x9"):
        evaluate(space, [(("conv_9x9",),) * 6], ["lr"], device="cpu")
    with pytest.raises(UnknownNameError, match="indicator"):
        evaluate(space, masks(space, REFERENCE), ["lr", "ntkk"], device="cpu")
    with pytest.raises(UnknownNameError, match="overrides"):
        evaluate(space, masks(space, REFERENCE), ["lr"], device="cpu", overrides={"nkt": {"repeats": 1}})
    with pytest.raises(TenasError, match="twice"):
        evaluate(space, masks(space, REFERENCE), ["lr", "lr"], device="cpu")
    with pytest.raises(UnknownNameError, match="mode"):
        evaluate(space, masks(space, REFERENCE), ["lr"], device="cpu", mode="exact")


def test_paper_size_smoke(space) -> None:
    out = evaluate(space, masks(space, REFERENCE), ["lr", "naswot"], device="cpu")
    assert 100 < out["lr"][0] <= 3000  # at most one region per input
    assert 1000 < out["naswot"][0] < 2500


@pytest.mark.slow
def test_paper_size_ntk_and_gen(space) -> None:
    out = evaluate(space, masks(space, REFERENCE, OTHER), ["ntk", "gen"], device="cpu")
    assert np.isfinite(out["ntk"]).all() and (out["ntk"] > 1).all()
    assert np.isfinite(out["gen"]).all() and (out["gen"] > 0).all()


def test_custom_image_data(space) -> None:
    from tenas_automl.data import ImageData

    rng = np.random.default_rng(0)
    sample = load_data()
    data = ImageData(
        name="mine", num_classes=3, mean=sample.mean, std=sample.std,
        train_images=rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8),
        train_labels=rng.integers(0, 3, 40), test_images=rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8),
        test_labels=rng.integers(0, 3, 20),
    )  # fmt: skip
    out = evaluate(space, masks(space, REFERENCE), ["ntk", "naswot"], data=data, device="cpu", overrides=SMALL)
    assert np.isfinite(out["ntk"]).all() and np.isfinite(out["naswot"]).all()


def test_jacobian_methods_give_equal_scores(space) -> None:
    ms = masks(space, REFERENCE, OTHER)
    ntk, gen = {"batch_size": 6, "repeats": 1}, {"batch_size": 6, "test_batch_size": 6, "repeats": 1}
    loop = evaluate(
        space,
        ms,
        ["ntk", "gen"],
        device="cpu",
        overrides={"ntk": {**ntk, "jacobian": "loop"}, "gen": {**gen, "jacobian": "loop"}},
    )
    batched = evaluate(
        space,
        ms,
        ["ntk", "gen"],
        device="cpu",
        overrides={"ntk": {**ntk, "jacobian": "batched"}, "gen": {**gen, "jacobian": "batched"}},
    )
    plain = {"jacobian": "loop", "backward": "autograd"}  # the loop without the fast BN/pool backward
    autograd = evaluate(space, ms, ["ntk", "gen"], device="cpu", overrides={"ntk": {**ntk, **plain}, "gen": {**gen, **plain}})
    for name in ("ntk", "gen"):
        np.testing.assert_allclose(loop[name], batched[name], rtol=1e-6)
        np.testing.assert_allclose(loop[name], autograd[name], rtol=1e-6)

"""Contexts reused between evaluate() calls of one thread: same values as fresh ones, never shared between threads."""

from __future__ import annotations

import threading

import numpy as np

from tenas_automl.indicators import evaluate
from tenas_automl.indicators.runner import CONTEXTS_KEPT, clear_contexts, shared_context
from tenas_automl.spaces import get_space

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
)
NAMES = ["ntk", "gen", "lr", "naswot", "synflow", "snip", "meco", "az_expressivity", "az_trainability", "vkdnw", "zico"]
SMALL = {
    "ntk": {"batch_size": 8, "repeats": 1}, "gen": {"batch_size": 8, "test_batch_size": 8, "repeats": 1},
    "lr": {"batch_size": 100, "repeats": 1}, "naswot": {"batch_size": 16}, "snip": {"batch_size": 8},
    "az_expressivity": {"batch_size": 8}, "az_trainability": {"batch_size": 8},
    "vkdnw": {"batch_size": 8, "tensors": 8}, "zico": {"batch_size": 4},
}  # fmt: skip


def test_a_reused_context_gives_the_values_of_a_fresh_one() -> None:
    space = get_space("nb201")
    masks = [space.arch_to_mask(space.parse(a)) for a in ARCHS]
    clear_contexts()
    fresh = evaluate(space, masks[2:], NAMES, seed=3, device="cpu", overrides=SMALL)
    clear_contexts()
    evaluate(space, masks[:2], NAMES, seed=3, device="cpu", overrides=SMALL)  # builds and uses the networks
    reused = evaluate(space, masks[2:], NAMES, seed=3, device="cpu", overrides=SMALL)
    for name in NAMES:
        assert np.array_equal(fresh[name], reused[name], equal_nan=True), name


def test_contexts_are_kept_per_thread_and_bounded() -> None:
    space = get_space("nb201")
    clear_contexts()
    first = shared_context(space, seed=0, device="cpu")
    assert shared_context(space, seed=0, device="cpu") is first
    assert shared_context(space, seed=1, device="cpu") is not first
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(shared_context(space, seed=0, device="cpu")))
    thread.start()
    thread.join()
    assert other[0] is not first  # a thread never gets another thread's networks
    for seed in range(2, 2 + CONTEXTS_KEPT):
        shared_context(space, seed=seed, device="cpu")
    assert shared_context(space, seed=0, device="cpu") is not first  # the oldest was dropped
    clear_contexts()

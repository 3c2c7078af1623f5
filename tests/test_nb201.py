"""NB201 space: codec, NATS-Bench order, unique strings, masks, networks."""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from tenas_automl.errors import InvalidArchitectureError, UnknownNameError
from tenas_automl.spaces import get_space
from tenas_automl.spaces.nb201 import EDGES, OPS, NB201Arch, NB201Space, parse_arch
from tenas_automl.spaces.nb201_ops import EDGE_NODES, NB201Cell, NB201Network

REF = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ARCHS = [
    REF,
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|avg_pool_3x3~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_1x1~2|",
]


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[dict[str, str]]:
    with open(shared_data / "nb201-accuracy.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- codec and order -----------------------------------------------------------
def test_every_row_round_trips_and_has_its_index(space: NB201Space, rows: list[dict[str, str]]) -> None:
    assert space.size() == len(rows) == 15625
    for i, row in enumerate(rows):
        s = row["ArchitectureString"]
        arch = space.parse(s)
        assert space.format(arch) == s == str(arch)
        assert space.index_of(arch) == i
        assert space.arch_at(i) == arch
    assert [str(a) for a in space.all_archs()] == [r["ArchitectureString"] for r in rows]


def test_unique_str_equals_the_table(space: NB201Space, rows: list[dict[str, str]]) -> None:
    got = [space.unique_str(a) for a in space.all_archs()]
    assert got == [r["UniqueString"] for r in rows]


def test_unique_str_identifies_isomorphic_cells(space: NB201Space) -> None:
    # skip then conv on the chain equals the conv directly; zero terms stay as '#'.
    a = space.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
    b = space.parse("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|")
    assert space.unique_str(a) == space.unique_str(b) == "#+#+#+(0)@nor_conv_3x3"
    assert space.unique_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|") == "#+#+#"


def test_arch_value_semantics() -> None:
    a, b = parse_arch(REF), NB201Arch(tuple(parse_arch(REF).ops))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.op("1->2") == "avg_pool_3x3" and a.op("2->3") == "skip_connect"
    assert repr(a) == f"NB201Arch('{REF}')"
    with pytest.raises(AttributeError):
        a.ops = ("none",) * 6  # type: ignore[misc]
    assert get_space("nb201").parse(REF) == a


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "3 nodes"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "3 nodes"),
        (REF + "+|none~0|", "3 nodes"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "node 2 has 1 edge"),
        ("|none~0|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 has 2 edge"),
        ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_3x3'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "input 1"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "input 1"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~02|", "input 02"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed edge 'none0'"),
        ("|none~x|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed edge"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must look like"),
        ("|none~0||+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 has 2 edge"),
    ],
)
def test_parse_rejects_malformed_strings(text: str, fragment: str) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        parse_arch(text)
    assert fragment in str(info.value)


def test_parse_error_lists_allowed_ops() -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        parse_arch("|sep_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert all(op in str(info.value) for op in OPS)


def test_bad_values_are_rejected(space: NB201Space) -> None:
    with pytest.raises(InvalidArchitectureError):
        parse_arch(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArchitectureError, match="6 ops"):
        NB201Arch(("none",) * 5)
    with pytest.raises(InvalidArchitectureError, match="unknown op 'conv'"):
        NB201Arch(("none",) * 5 + ("conv",))
    for index in (-1, 15625, 1.0, True):
        with pytest.raises(InvalidArchitectureError, match="0..15624"):
            space.arch_at(index)  # type: ignore[arg-type]
    with pytest.raises(InvalidArchitectureError):
        space.format(("none",) * 6)
    with pytest.raises(UnknownNameError):
        parse_arch(REF).op("0->4")
    assert parse_arch("  " + REF + "\n") == parse_arch(REF)


# -- sampling ------------------------------------------------------------------
def test_sample_is_seeded_and_uniform(space: NB201Space) -> None:
    draw = lambda seed: [space.sample(np.random.default_rng(seed)) for _ in range(5)]  # noqa: E731
    assert draw(1) == draw(1) and draw(1) != draw(2)
    rng = np.random.default_rng(0)
    counts = Counter(op for _ in range(2000) for op in space.sample(rng).ops)
    assert set(counts) == set(OPS) and min(counts.values()) > 0.17 * 12000


def test_mutate_changes_exactly_one_edge(space: NB201Space) -> None:
    rng = np.random.default_rng(0)
    arch = space.parse(REF)
    edges_hit = set()
    for _ in range(300):
        child = space.mutate(arch, rng)
        diff = [e for e, (a, b) in enumerate(zip(arch.ops, child.ops)) if a != b]
        assert len(diff) == 1
        edges_hit.add(diff[0])
        arch = child
    assert edges_hit == set(range(6))
    assert space.mutate(REF, np.random.default_rng(5)) == space.mutate(REF, np.random.default_rng(5))


# -- masks ---------------------------------------------------------------------
def test_masks(space: NB201Space) -> None:
    assert space.edges == EDGES == ("0->1", "0->2", "1->2", "0->3", "1->3", "2->3")
    assert space.full_mask() == (OPS[1:],) * 6
    assert space.full_mask(exclude=()) == (OPS,) * 6
    assert space.full_mask(exclude=("none", "avg_pool_3x3")) == (OPS[1:4],) * 6
    for s in ARCHS:
        arch = space.parse(s)
        assert space.mask_to_arch(space.arch_to_mask(arch)) == arch
    # order inside an edge does not matter; the result is canonical
    mixed = [("nor_conv_3x3",), ["skip_connect"], ("avg_pool_3x3",), ("none",), ("nor_conv_1x1",), ("none",)]
    assert space.check_mask(mixed)[1] == ("skip_connect",)
    assert space.check_mask([("avg_pool_3x3", "none")] * 6)[0] == ("none", "avg_pool_3x3")


@pytest.mark.parametrize(
    ("mask", "fragment"),
    [
        ((("none",),) * 5, "6 entries, got 5"),
        ("|none~0|", "6 entries"),
        (((("none", "skip_connect"),) + (("none",),) * 5), "edge 0->1 has 2 alive ops"),
        (((),) + (("none",),) * 5, "edge 0->1 has 0 alive ops"),
        ((("conv",),) + (("none",),) * 5, "unknown op 'conv'"),
        ((("none", "none"),) + (("none",),) * 5, "listed twice"),
        (("none",) + (("none",),) * 5, "expected a tuple"),
    ],
)
def test_mask_to_arch_rejects_bad_masks(space: NB201Space, mask: object, fragment: str) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        space.mask_to_arch(mask)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_full_mask_rejects_bad_excludes(space: NB201Space) -> None:
    with pytest.raises(UnknownNameError, match="conv"):
        space.full_mask(exclude=("conv",))
    with pytest.raises(InvalidArchitectureError, match="no op"):
        space.full_mask(exclude=OPS)


# -- networks: parameter counts and NNI reference ------------------------------
def test_reference_parameter_count(space: NB201Space) -> None:
    assert n_params(space.build(space.parse(REF))) == 802426
    # closed form: cell convs only differ between archs; 3x3 conv+BN at C: 9C^2+2C.
    base = n_params(space.build("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    per_conv3 = sum(5 * (9 * c * c + 2 * c) for c in (16, 32, 64))
    assert n_params(space.build(ARCHS[1])) == base + 6 * per_conv3


@pytest.fixture(scope="module")
def nni_space():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hub = pytest.importorskip("nni.nas.hub.pytorch")
    return hub.NasBench201


def nni_choice(arch: NB201Arch) -> dict[str, str]:
    return {f"cell/{j}_{i}": op.replace("nor_", "") for (j, i), op in zip(EDGE_NODES, arch.ops)}


@pytest.mark.nni
@pytest.mark.parametrize("arch_str", ARCHS)
def test_build_matches_nni_hub(space: NB201Space, nni_space, arch_str: str) -> None:  # type: ignore[no-untyped-def]
    arch = space.parse(arch_str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = nni_space(16, 5, 10).freeze(nni_choice(arch))
    ours = space.build(arch)
    assert n_params(ours) == n_params(theirs)
    # Same tensors in the same order: copy theirs into ours, outputs must agree.
    src, dst = theirs.state_dict(), ours.state_dict()
    assert [v.shape for v in src.values()] == [v.shape for v in dst.values()]
    ours.load_state_dict(dict(zip(dst.keys(), src.values())))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for train in (True, False):
        ours.train(train)
        theirs.train(train)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


@pytest.mark.nni
def test_supernet_initialises_like_the_reference(space: NB201Space, nni_space) -> None:  # type: ignore[no-untyped-def]
    """Built after the same seed, the full supernet draws exactly the weights of
    the reference supernet (NNI's hub space builds the official op order), and
    masked to one architecture computes what the frozen reference computes."""
    arch = space.parse(REF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        torch.manual_seed(7)
        theirs_space = nni_space(16, 5, 10)
        torch.manual_seed(7)
        theirs = nni_space(16, 5, 10).freeze(nni_choice(arch))
    torch.manual_seed(7)
    ours = space.build_supernet()
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs_space.parameters(), strict=True))
    ours.set_mask(space.arch_to_mask(arch))
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


# -- networks: supernet --------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"channels": 16, "cells_per_stage": 5},
        {"channels": 8, "cells_per_stage": 2, "num_classes": 100},
        {"channels": 3, "cells_per_stage": 1},  # TE-NAS NTK network
        {"channels": 4, "cells_per_stage": 1, "stages": 2, "affine": False, "track_running_stats": False},
    ],
)
def test_forward_shapes(space: NB201Space, kwargs: dict[str, object]) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    classes = int(kwargs.get("num_classes", 10))  # type: ignore[call-overload]
    supernet = space.build_supernet(**kwargs)  # type: ignore[arg-type]
    net = space.build(REF, **kwargs)  # type: ignore[arg-type]
    for model in (supernet, net):
        out = model(x)
        assert out.shape == (4, classes) and torch.isfinite(out).all()
    stages = int(kwargs.get("stages", 3))  # type: ignore[call-overload]
    assert supernet.out_channels == int(kwargs["channels"]) * 2 ** (stages - 1)  # type: ignore[call-overload]


def test_linear_region_network(space: NB201Space) -> None:
    """TE-NAS's thin network: one cell at 1 channel on 1x3x3 crops, then BN, ReLU, pool, linear."""
    net = space.build_supernet(channels=1, in_channels=1, stem=False, stages=1, cells_per_stage=1)
    assert net.stem is None and len(net.cells) == 1
    assert [type(m).__name__ for m in net.children()] == [
        "ModuleList", "Sequential", "AdaptiveAvgPool2d", "Linear"
    ]  # fmt: skip
    assert isinstance(net.lastact[0], torch.nn.BatchNorm2d) and isinstance(net.lastact[1], torch.nn.ReLU)
    out = net(torch.randn(1000, 1, 3, 3))
    assert out.shape == (1000, 10) and torch.isfinite(out).all()
    # 6 edges x (1x1 conv + BN: 1+2) + (3x3 conv + BN: 9+2), then BN(1) and Linear(1, 10).
    assert n_params(net) == 6 * (3 + 11) + 2 + 20


def reference_cell(cell: NB201Cell, x: torch.Tensor, mask: tuple[tuple[str, ...], ...]) -> torch.Tensor:
    """Obvious re-statement of TE-NAS's rule: softmax over alphas that are 0 for
    alive and -1000 for dead ops; every op with weight > 0.01 is evaluated."""
    nodes = [x]
    for i in range(1, 4):
        total = torch.zeros_like(x)
        for e, (j, target) in enumerate(EDGE_NODES):
            if target != i:
                continue
            alphas = torch.tensor([0.0 if op in mask[e] else -1000.0 for op in cell.edges[e]])
            for w, op in zip(torch.softmax(alphas, 0), cell.edges[e].values()):
                if w > 0.01:
                    total = total + w * op(nodes[j])
        nodes.append(total)
    return nodes[-1]


def test_cell_combines_alive_ops_like_tenas(space: NB201Space) -> None:
    torch.manual_seed(0)
    net = space.build_supernet(channels=4, cells_per_stage=1)
    cell = next(net.search_cells())
    x = torch.randn(2, 4, 8, 8)
    masks = [
        space.full_mask(exclude=()),
        space.full_mask(),
        (("none", "skip_connect"), ("nor_conv_3x3",), ("avg_pool_3x3", "nor_conv_1x1"), ("none",),
         ("skip_connect", "nor_conv_3x3", "avg_pool_3x3"), ("nor_conv_1x1",)),
        space.arch_to_mask(REF),
    ]  # fmt: skip
    for mask in masks:
        net.set_mask(mask)
        torch.testing.assert_close(cell(x), reference_cell(cell, x, space.check_mask(mask)), rtol=1e-6, atol=1e-6)
    # "sum" weighting adds alive ops unscaled
    summed = space.build_supernet(channels=4, cells_per_stage=1, op_weighting="sum")
    summed.load_state_dict(net.state_dict())
    summed.set_mask(masks[1])
    net.set_mask(masks[1])
    a, b = next(summed.search_cells())(x), next(net.search_cells())(x)
    assert not torch.allclose(a, b)


def test_set_mask_keeps_weights_and_skips_dead_ops(space: NB201Space) -> None:
    torch.manual_seed(0)
    net = space.build_supernet(channels=3, cells_per_stage=1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calls: Counter[str] = Counter()
    for cell in net.search_cells():
        for ops in cell.edges:
            for name, op in ops.items():
                op.register_forward_hook(lambda *_, name=name: calls.update([name]))
    arch_mask = space.arch_to_mask(REF)
    net.set_mask(arch_mask)
    assert net.mask == arch_mask and net.built_mask == space.full_mask(exclude=())
    net.eval()  # running statistics must not move either
    with torch.no_grad():
        out_masked = net(torch.randn(2, 3, 32, 32))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert set(calls) == {"nor_conv_3x3", "avg_pool_3x3", "skip_connect"}
    # Same numbers as build(arch) carrying the same weights.
    single = space.build(REF, channels=3, cells_per_stage=1).eval()
    single.load_state_dict({k: v for k, v in net.state_dict().items() if k in single.state_dict()})
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(single(x), net(x), rtol=0, atol=0)
    assert out_masked.shape == (2, 10)
    net.set_mask(space.full_mask())  # ops can be switched back on
    assert net.mask == space.full_mask()


def test_single_op_supernet_is_the_built_network(space: NB201Space) -> None:
    for arch_str in ARCHS:
        for kwargs in ({}, {"channels": 3, "cells_per_stage": 1},
                       {"channels": 1, "in_channels": 1, "stem": False, "stages": 1, "cells_per_stage": 1}):  # fmt: skip
            built = space.build(arch_str, **kwargs)  # type: ignore[arg-type]
            sup = space.build_supernet(space.arch_to_mask(space.parse(arch_str)), **kwargs)  # type: ignore[arg-type]
            assert n_params(built) == n_params(sup)
            assert [(k, v.shape) for k, v in built.state_dict().items()] == [(k, v.shape) for k, v in sup.state_dict().items()]
            assert str(built) == str(sup)


def test_supernet_sub_mask_equals_a_supernet_built_with_it(space: NB201Space) -> None:
    torch.manual_seed(0)
    full = space.build_supernet(channels=3, cells_per_stage=1).eval()
    sub = (("skip_connect", "nor_conv_3x3"), ("nor_conv_1x1",), ("avg_pool_3x3", "nor_conv_1x1", "none"),
           ("nor_conv_3x3",), ("none",), ("skip_connect", "avg_pool_3x3"))  # fmt: skip
    small = space.build_supernet(sub, channels=3, cells_per_stage=1).eval()
    small.load_state_dict({k: v for k, v in full.state_dict().items() if k in small.state_dict()})
    full.set_mask(sub)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(full(x), small(x), rtol=0, atol=0)


def test_cell_parameters(space: NB201Space) -> None:
    net = space.build_supernet(channels=3, cells_per_stage=1)
    names = [n for n, _ in net.named_cell_parameters()]
    assert names and all(n.startswith("cells.") for n in names)
    assert sum(p.numel() for p in net.cell_parameters()) == n_params(net.cells)
    search = [n for n, _ in net.named_cell_parameters(search_only=True)]
    assert search and set(search) < set(names)
    assert sum(p.numel() for p in net.cell_parameters(search_only=True)) == sum(n_params(c) for c in net.search_cells())
    params = dict(net.named_parameters())
    assert all(params[n] is p for n, p in net.named_cell_parameters())


def test_set_mask_rejects_ops_not_built(space: NB201Space) -> None:
    net = space.build_supernet(space.full_mask(), channels=2, cells_per_stage=1)
    with pytest.raises(InvalidArchitectureError, match="edge 0->1: op.*none.*not built"):
        net.set_mask(space.full_mask(exclude=()))
    with pytest.raises(InvalidArchitectureError, match="6 entries"):
        net.set_mask(space.full_mask()[:3])


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"channels": 0}, InvalidArchitectureError, "channels must be an integer >= 1, got 0"),
        ({"channels": 2.5}, InvalidArchitectureError, "channels"),
        ({"channels": True}, InvalidArchitectureError, "channels"),
        ({"cells_per_stage": 0}, InvalidArchitectureError, "cells_per_stage"),
        ({"num_classes": -1}, InvalidArchitectureError, "num_classes"),
        ({"stages": 0}, InvalidArchitectureError, "stages"),
        ({"in_channels": 0}, InvalidArchitectureError, "in_channels"),
        ({"stem": False}, InvalidArchitectureError, "in_channels \\(3\\) must equal channels \\(16\\)"),
        ({"stem": "no"}, InvalidArchitectureError, "stem must be True or False"),
    ],
)
def test_build_rejects_bad_arguments(space: NB201Space, kwargs: dict[str, object], error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        space.build(REF, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error, match=fragment):
        space.build_supernet(**kwargs)  # type: ignore[arg-type]


def test_build_rejects_unknown_options(space: NB201Space) -> None:
    with pytest.raises(TypeError, match="widht"):
        space.build(REF, widht=3)  # type: ignore[call-arg]
    with pytest.raises(UnknownNameError, match="softmax"):
        space.build_supernet(op_weighting="softmax")
    with pytest.raises(InvalidArchitectureError):
        space.build("|nor_conv_3x3~0|")


def test_networks_are_deterministic(space: NB201Space) -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(3)
        net = space.build_supernet(channels=3, cells_per_stage=1)
        return net(torch.randn(2, 3, 32, 32))

    assert torch.equal(run(), run())
    assert isinstance(space.build(REF), NB201Network)

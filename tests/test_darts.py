"""DARTS space: genotype codec, masks, sampling, evaluation network, supernet."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from tenas_automl.errors import InvalidArchitectureError, UnknownNameError
from tenas_automl.spaces import get_space
from tenas_automl.spaces.darts import (
    EDGE_KEYS,
    Cell,
    DartsSpace,
    NetworkCIFAR,
    SearchCell,
)
from tenas_automl.spaces.darts.genotypes import (
    CANDIDATE_OPS,
    DARTS_V2,
    PC_DARTS,
    PUBLISHED,
    TENAS_IMAGENET,
    Genotype,
    parse_genotype,
)
from tenas_automl.spaces.darts.ops import FactorizedReduce

# Verbatim from yuhuixu1993/PC-DARTS genotypes.py (concat written as range(2, 6)).
PC_DARTS_PUBLISHED_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
    "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], "
    "normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), "
    "('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
)


@pytest.fixture(scope="module")
def space() -> DartsSpace:
    s = get_space("darts")
    assert isinstance(s, DartsSpace)
    return s


def _swap_in_node(g: Genotype, cell: str, node: int) -> Genotype:
    pairs = list(g.cell(cell))
    k = 2 * (node - 2)
    pairs[k], pairs[k + 1] = pairs[k + 1], pairs[k]
    return Genotype.of(pairs, g.reduce) if cell == "normal" else Genotype.of(g.normal, pairs)


# -- codec ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_genotypes_round_trip(space: DartsSpace, name: str) -> None:
    g = PUBLISHED[name]
    text = space.format(g)
    back = space.parse(text)
    assert back == g
    assert back.normal == g.normal and back.reduce == g.reduce  # order kept, not only equal
    assert space.format(back) == text
    assert text.startswith("Genotype(normal=[('") and text.endswith("reduce_concat=[2, 3, 4, 5])")


def test_parse_takes_a_published_name_and_lists_the_names_when_the_text_is_neither(space: DartsSpace) -> None:
    assert space.parse("darts_v2") == DARTS_V2
    assert space.parse(" tenas_cifar10 ") == PUBLISHED["tenas_cifar10"]
    with pytest.raises(InvalidArchitectureError, match=r"found 'darts_v3'.*published names darts_v1, darts_v2"):
        space.parse("darts_v3")
    # A malformed Genotype(...) text gets the parser's own message, without the names.
    with pytest.raises(InvalidArchitectureError, match="normal has 1") as err:
        space.parse("Genotype(normal=[('sep_conv_3x3', 0)])")
    assert "published" not in str(err.value)


def test_published_text_with_range_concat(space: DartsSpace) -> None:
    g = space.parse(PC_DARTS_PUBLISHED_TEXT)
    assert g == PC_DARTS
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
    assert space.format(g) == PC_DARTS_PUBLISHED_TEXT.replace("range(2, 6)", "[2, 3, 4, 5]")


def test_parse_tolerates_layout_and_pt_darts_nesting(space: DartsSpace) -> None:
    text = space.format(DARTS_V2)
    loose = text.replace(", ", " ,\n  ").replace("'", '"').replace("])", "],)")
    assert space.parse(loose) == DARTS_V2
    # pt.darts prints one list of two pairs per node.
    pairs = [f"('{op}', {j})" for op, j in DARTS_V2.normal]
    nested = "[" + ", ".join(f"[{pairs[k]}, {pairs[k + 1]}]" for k in range(0, 8, 2)) + "]"
    flat = "[" + ", ".join(pairs) + "]"
    assert space.parse(text.replace(flat, nested, 1)) == DARTS_V2


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            PC_DARTS_PUBLISHED_TEXT.replace("'avg_pool_3x3'", "'conv_9x9'"),
            ["'conv_9x9'", "normal pair 6", "allowed:", "sep_conv_3x3"],
        ),
        (PC_DARTS_PUBLISHED_TEXT.replace("('dil_conv_3x3', 1)]", "('dil_conv_3x3', 5)]"), ["input 5", "node 5", "0-4"]),
        (PC_DARTS_PUBLISHED_TEXT.replace("('max_pool_3x3', 0)", "('max_pool_3x3', 2)"), ["reduce pair 1", "input 2", "node 2"]),
        (PC_DARTS_PUBLISHED_TEXT.replace("('avg_pool_3x3', 0), ", ""), ["normal has 7", "expected 8"]),
        (PC_DARTS_PUBLISHED_TEXT.replace("range(2, 6)", "[2, 3, 4]", 1), ["normal_concat", "[2, 3, 4, 5]"]),
        (PC_DARTS_PUBLISHED_TEXT + "[0]", ["unexpected '['", "after the closing parenthesis"]),
        (PC_DARTS_PUBLISHED_TEXT.replace("normal=", "normal=+"), ["unexpected character '+'"]),
        (PC_DARTS_PUBLISHED_TEXT.replace("normal_concat", "normal_cat"), ["unknown field 'normal_cat'"]),
        (PC_DARTS_PUBLISHED_TEXT.split(", reduce=")[0] + ")", ["missing field(s) reduce, reduce_concat"]),
        ("Genotype(normal=[(__import__('os').system('true'), 0)])", ["bad genotype string", "position"]),
        ("|nor_conv_3x3~0|+|", ["unexpected character '|' at position 0"]),
        ("DARTS_V2", ["expected 'Genotype' but found 'DARTS_V2'"]),
        ("", ["the end of the string"]),
    ],
    ids=[
        "op",
        "input",
        "reduce-input",
        "count",
        "concat",
        "trailing",
        "char",
        "field",
        "missing",
        "no-eval",
        "nb201-string",
        "bare-name",
        "empty",
    ],
)
def test_bad_strings_name_the_bad_piece(space: DartsSpace, text: str, needles: list[str]) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        space.parse(text)
    for needle in needles:
        assert needle in str(info.value)


def test_genotype_value_checks() -> None:
    g = Genotype.of(DARTS_V2.normal, DARTS_V2.reduce)
    assert g == DARTS_V2 and hash(g) == hash(DARTS_V2)
    # numpy integers are inputs like any other; bools are not.
    assert Genotype.of([(op, np.int64(j)) for op, j in DARTS_V2.normal], DARTS_V2.reduce) == DARTS_V2
    bad = list(DARTS_V2.normal)
    bad[0] = ("sep_conv_3x3", True)
    with pytest.raises(InvalidArchitectureError, match="integer"):
        Genotype.of(bad, DARTS_V2.reduce)
    with pytest.raises(InvalidArchitectureError, match="expected 8"):
        Genotype.of(DARTS_V2.normal[:6], DARTS_V2.reduce)
    with pytest.raises(InvalidArchitectureError):
        parse_genotype(123)  # type: ignore[arg-type]


def test_equality_ignores_pair_order_within_a_node(space: DartsSpace) -> None:
    swapped = _swap_in_node(DARTS_V2, "normal", 5)
    assert swapped == DARTS_V2 and hash(swapped) == hash(DARTS_V2)
    assert space.format(swapped) != space.format(DARTS_V2)
    assert len({DARTS_V2, swapped, PC_DARTS}) == 2
    # Swapping pairs across nodes is a different cell.
    pairs = list(DARTS_V2.normal)
    pairs[4], pairs[6] = pairs[6], pairs[4]
    assert Genotype.of(pairs, DARTS_V2.reduce) != DARTS_V2


# -- edges and masks -------------------------------------------------------------
def test_edges_and_input_groups(space: DartsSpace) -> None:
    assert len(space.edges) == 28 and len(set(space.edges)) == 28
    assert space.edges[:5] == ("normal:2<-0", "normal:2<-1", "normal:3<-0", "normal:3<-1", "normal:3<-2")
    assert space.edges[13] == "normal:5<-4" and space.edges[14] == "reduce:2<-0"
    groups = space.input_groups()
    cell = ((0, 1), (2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12, 13))
    assert groups == cell + tuple(tuple(i + 14 for i in g) for g in cell)
    for g, node in zip(groups, [2, 3, 4, 5] * 2):
        assert all(space.edges[i].endswith(f"{node}<-{j}") for j, i in enumerate(g))
    assert space.inputs_per_node == 2 and space.size() is None
    assert space.ops_pruned_per_round("cifar10") == space.ops_pruned_per_round("cifar100") == 3
    assert space.ops_pruned_per_round("ImageNet16-120") == 2
    with pytest.raises(UnknownNameError, match="mnist"):
        space.ops_pruned_per_round("mnist")


def test_full_mask(space: DartsSpace) -> None:
    mask = space.full_mask()
    assert len(mask) == 28 and all(ops == CANDIDATE_OPS for ops in mask) and len(CANDIDATE_OPS) == 7
    assert all(len(ops) == 8 for ops in space.full_mask(exclude=()))
    assert all("skip_connect" not in ops for ops in space.full_mask(exclude=("none", "skip_connect")))
    with pytest.raises(UnknownNameError, match="conv_9x9"):
        space.full_mask(exclude=("conv_9x9",))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_mask_round_trip(space: DartsSpace, name: str) -> None:
    g = PUBLISHED[name]
    mask = space.arch_to_mask(g)
    assert len(mask) == 28 and sum(map(len, mask)) == 16
    for group in space.input_groups():
        assert sum(1 for i in group if mask[i]) == 2
    back = space.mask_to_arch(mask)
    assert back == g and back == g.canonical()
    assert space.arch_to_mask(back) == mask
    assert space.arch_to_mask(space.format(g)) == mask  # text works too


def test_mask_to_arch_rejects_unfinished_masks(space: DartsSpace) -> None:
    mask = list(space.arch_to_mask(DARTS_V2))
    cases = {
        "still has 2 ops": [("sep_conv_3x3", "skip_connect")] + mask[1:],
        "3 alive input edges": mask[:4] + [("skip_connect",)] + mask[5:],  # node 3 gets 3<-2 too
        "1 alive input edges": [()] + mask[1:],
        "28 entries": mask[:27],
        "unknown op": [("conv_9x9",)] + mask[1:],
    }
    for needle, bad in cases.items():
        with pytest.raises(InvalidArchitectureError, match=needle):
            space.mask_to_arch(tuple(bad))
    with pytest.raises(InvalidArchitectureError, match="still has 7 ops"):
        space.mask_to_arch(space.full_mask())
    with pytest.raises(InvalidArchitectureError, match="exactly 2 of normal:3<-0 .. normal:3<-2"):
        space.mask_to_arch((("skip_connect",),) * 28)


def test_node_reading_one_input_twice_builds_but_has_no_mask(space: DartsSpace) -> None:
    pairs = list(DARTS_V2.normal)
    pairs[7] = ("dil_conv_3x3", 0)  # node 5: skip_connect <- 0 and dil_conv_3x3 <- 0
    g = Genotype.of(pairs, DARTS_V2.reduce)
    assert space.parse(space.format(g)) == g
    out = space.build(g, channels=4, layers=3)(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 10)
    with pytest.raises(InvalidArchitectureError, match="normal node 5 reads input 0 twice"):
        space.arch_to_mask(g)


# -- sampling and mutation -------------------------------------------------------
def _assert_valid(space: DartsSpace, g: Genotype) -> None:
    for cell in ("normal", "reduce"):
        for node in (2, 3, 4, 5):
            (op_a, a), (op_b, b) = g.node_pairs(cell, node)
            assert a != b and 0 <= a < node and 0 <= b < node
            assert op_a in CANDIDATE_OPS and op_b in CANDIDATE_OPS
    assert space.mask_to_arch(space.arch_to_mask(g)) == g


def test_sample_is_valid_uniform_and_seeded(space: DartsSpace) -> None:
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(1000)]
    for g in draws:
        _assert_valid(space, g)
    again = np.random.default_rng(0)
    assert [space.sample(again) for _ in range(1000)] == draws
    ops = Counter(op for g in draws for op, _ in g.normal + g.reduce)
    assert set(ops) == set(CANDIDATE_OPS)
    expected = 16000 / 7
    assert all(abs(n - expected) < 0.1 * expected for n in ops.values())
    # node 5 chooses one of the 10 input pairs uniformly (2000 draws over both cells)
    pairs = Counter(tuple(sorted(j for _, j in g.node_pairs(c, 5))) for g in draws for c in ("normal", "reduce"))
    assert set(pairs) == set(itertools.combinations(range(5), 2))
    assert all(abs(n - 200) < 60 for n in pairs.values())
    assert len(set(draws)) == 1000


def test_mutate_changes_exactly_one_field(space: DartsSpace) -> None:
    rng = np.random.default_rng(1)
    parent = space.sample(rng)
    kinds: Counter[str] = Counter()
    children = []
    for _ in range(1000):
        child = space.mutate(parent, rng)
        _assert_valid(space, child)
        assert child != parent
        diffs = [
            (c, k, a, b) for c in ("normal", "reduce") for k, (a, b) in enumerate(zip(parent.cell(c), child.cell(c))) if a != b
        ]
        assert len(diffs) == 1
        cell, k, (op_a, in_a), (op_b, in_b) = diffs[0]
        assert (op_a != op_b) + (in_a != in_b) == 1
        kinds["rewire" if in_a != in_b else "op"] += 1
        kinds[cell] += 1
        assert not (in_a != in_b and k < 2)  # node 2 has no spare input
        children.append(child)
        parent = child
    assert 420 < kinds["rewire"] < 580 and 420 < kinds["normal"] < 580
    rng = np.random.default_rng(1)
    parent = space.sample(rng)
    for expected in children:
        parent = space.mutate(parent, rng)
        assert parent.format() == expected.format()


# -- evaluation network ----------------------------------------------------------
def test_darts_v2_parameter_count(space: DartsSpace) -> None:
    # DARTS's own count at C=36, 20 cells, CIFAR-10 (its utils.count_parameters_in_MB
    # skips the auxiliary head); NNI's hub DARTS('darts-v2') gives the same 3,349,342.
    model = space.build(DARTS_V2)
    assert isinstance(model, NetworkCIFAR)
    assert sum(p.numel() for p in model.parameters()) == 3_349_342
    assert space.param_count_millions(DARTS_V2) == pytest.approx(3.349342, abs=1e-9)
    assert space.param_count_millions(DARTS_V2, auxiliary=True) == pytest.approx(3.349342, abs=1e-9)
    # Published sizes: PC-DARTS 3.6M (CIFAR-10); ImageNet mobile setting (C=48, 14 cells):
    # DARTS-V2 4.7M, TE-NAS's ImageNet cell 5.4M.
    assert round(space.param_count_millions(PC_DARTS), 1) == 3.6
    imagenet = {"variant": "imagenet", "channels": 48, "layers": 14, "num_classes": 1000}
    assert space.param_count_millions(DARTS_V2, **imagenet) == pytest.approx(4.718752, abs=1e-9)
    assert round(space.param_count_millions(TENAS_IMAGENET, **imagenet), 1) == 5.4


def test_evaluation_network_forward_aux_and_drop_path(space: DartsSpace) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    model = space.build(PC_DARTS, channels=8, layers=5, num_classes=7, auxiliary=True, drop_path_prob=0.0)
    logits, aux = model.train()(x)
    assert logits.shape == (4, 7) and aux.shape == (4, 7)
    model.eval()
    ref = model(x)
    assert isinstance(ref, torch.Tensor) and ref.shape == (4, 7) and torch.isfinite(ref).all()
    model.drop_path_prob = 0.5
    assert torch.equal(model(x), ref)  # drop path is a training-time op
    model.train()
    torch.manual_seed(1)
    dropped = model(x)[0]
    model.drop_path_prob = 0.0
    assert not torch.allclose(dropped, model(x)[0])
    net = space.build(DARTS_V2, channels=4, layers=3, variant="imagenet", num_classes=5)
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    with pytest.raises(UnknownNameError, match="variant"):
        space.build(DARTS_V2, variant="mnist")


@pytest.mark.nni
def test_matches_nni_darts_implementation(space: DartsSpace) -> None:
    """Independent check: NNI's hub DARTS, frozen to each published genotype and
    given our weights, computes the same logits."""
    hub = pytest.importorskip("nni.nas.hub.pytorch")
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for g in (DARTS_V2, PC_DARTS):
        arch = {}
        for cell in ("normal", "reduce"):
            for node in (2, 3, 4, 5):
                for k, (op, j) in enumerate(g.node_pairs(cell, node)):
                    arch[f"{cell}/op_{node}_{k}"], arch[f"{cell}/input_{node}_{k}"] = op, [j]
        theirs = hub.DARTS.frozen_factory(arch)(width=6, num_cells=5).eval()
        ours = space.build(g, channels=6, layers=5).eval()
        values = list(theirs.state_dict().values())
        ours.load_state_dict(dict(zip(ours.state_dict(), values, strict=True)))
        assert torch.equal(ours(x), theirs(x))


def test_factorized_reduce_is_darts_on_even_maps_and_handles_odd_ones() -> None:
    torch.manual_seed(0)
    fr = FactorizedReduce(3, 4, affine=False)
    x = torch.randn(2, 3, 8, 8)
    r = x.relu()
    # DARTS: conv_1 on the map, conv_2 on the map shifted by one pixel, no padding.
    darts = torch.cat([fr.conv_1(r), fr.conv_2(r[:, :, 1:, 1:])], dim=1)
    torch.testing.assert_close(fr(x), torch.nn.functional.batch_norm(darts, None, None, training=True))
    assert fr(torch.randn(2, 3, 3, 3)).shape == (2, 4, 2, 2)
    with pytest.raises(ValueError, match="2 output channels"):
        FactorizedReduce(3, 1)


# -- supernet ----------------------------------------------------------------------
def test_supernet_at_tenas_scoring_widths(space: DartsSpace) -> None:
    torch.manual_seed(0)
    ntk = space.build_supernet(space.full_mask(), num_classes=10, **space.paper_supernet_kwargs("ntk"))
    assert [c.reduction for c in ntk.cells] == [False, True]
    assert ntk.stem is not None and ntk.stem[0].out_channels == 1
    assert ntk.classifier.in_features == 8  # 4 nodes x 2 channels after the reduction
    out = ntk.train()(torch.randn(14, 3, 32, 32))
    assert out.shape == (14, 10) and torch.isfinite(out).all()
    lr = space.build_supernet(space.full_mask(), **space.paper_supernet_kwargs("lr"))
    assert lr.stem is None
    crops = torch.randn(64, 1, 3, 3)  # odd maps: the reduction cell pads
    assert lr(crops).shape == (64, 10)
    lr.set_mask(space.arch_to_mask(DARTS_V2))
    assert lr(crops).shape == (64, 10)
    with pytest.raises(UnknownNameError):
        space.paper_supernet_kwargs("flops")


def test_set_mask_keeps_weights_and_skips_dead_ops(space: DartsSpace) -> None:
    torch.manual_seed(0)
    net = space.build_supernet(channels=2, cells_per_stage=1, stages=2, stem_multiplier=1).eval()
    assert all(len(ops) == 8 for ops in net.mask)  # default: every op, `none` included
    x = torch.randn(3, 3, 16, 16)
    full = net(x)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.set_mask(space.arch_to_mask(DARTS_V2))
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    calls: Counter[str] = Counter()
    for name, module in net.named_modules():
        if len(name.split(".")) == 5 and name.split(".")[2] == "edges":  # cells.i.edges.<edge>.<op>
            module.register_forward_hook(lambda m, i, o, name=name: calls.update([name]))
    single = net(x)
    assert not torch.allclose(single, full)
    assert len(calls) == 2 * 8  # two alive ops per node, 4 nodes, 2 cells
    assert "cells.0.edges.2<-0.sep_conv_3x3" in calls and "cells.0.edges.2<-0.none" not in calls
    net.set_mask(net.built_mask)
    assert torch.equal(net(x), full)
    small = space.build_supernet(space.arch_to_mask(DARTS_V2), channels=2, layers=3)
    with pytest.raises(InvalidArchitectureError, match="not built"):
        small.set_mask(space.full_mask())


def test_supernet_cell_with_a_genotype_mask_is_the_evaluation_cell(space: DartsSpace) -> None:
    torch.manual_seed(0)
    mask = space.arch_to_mask(PC_DARTS)
    op_kwargs = {"affine": True, "track_running_stats": True, "pool_bn": False}
    for reduction, reduction_prev in [(False, False), (True, False), (False, True)]:
        cell_mask = mask[14:] if reduction else mask[:14]
        search = SearchCell(cell_mask, 8, 6, 4, reduction, reduction_prev, 4, op_kwargs)
        cell = Cell(PC_DARTS, 8, 6, 4, reduction, reduction_prev)
        cell.preprocess0.load_state_dict(search.preprocess0.state_dict())
        cell.preprocess1.load_state_dict(search.preprocess1.state_dict())
        pairs = PC_DARTS.reduce if reduction else PC_DARTS.normal
        for k, (op, j) in enumerate(pairs):
            cell._ops[k].load_state_dict(search.edges[f"{2 + k // 2}<-{j}"][op].state_dict())
        size = 16 if reduction_prev else 8
        s0, s1 = torch.randn(2, 8, size, size), torch.randn(2, 6, 8, 8)
        assert torch.equal(search(s0, s1, cell_mask, True), cell(s0, s1))


def test_mixed_edge_averages_or_sums_and_dead_nodes_are_zero(space: DartsSpace) -> None:
    torch.manual_seed(0)
    cell_mask = tuple([("skip_connect", "avg_pool_3x3"), ("skip_connect",)] + [()] * 12)
    op_kwargs = {"affine": True, "track_running_stats": True, "pool_bn": False}
    cell = SearchCell(cell_mask, 3, 3, 2, False, False, 4, op_kwargs)
    s0, s1 = torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5)
    p0, p1 = cell.preprocess0(s0), cell.preprocess1(s1)
    pooled = torch.nn.functional.avg_pool2d(p0, 3, 1, 1, count_include_pad=False)
    zeros = torch.zeros(2, 6, 5, 5)
    mean = cell(s0, s1, cell_mask, True)
    torch.testing.assert_close(mean, torch.cat([0.5 * (p0 + pooled) + p1, zeros], dim=1))
    summed = cell(s0, s1, cell_mask, False)
    torch.testing.assert_close(summed, torch.cat([p0 + pooled + p1, zeros], dim=1))


def test_cell_parameters_follow_the_mask(space: DartsSpace) -> None:
    net = space.build_supernet(space.full_mask(), channels=2, cells_per_stage=1, stages=2)
    everything = sum(p.numel() for p in net.cells.parameters())
    assert sum(p.numel() for p in net.cell_parameters()) == everything
    net.set_mask(space.arch_to_mask(DARTS_V2))
    alive = {id(p) for p in net.cell_parameters()}
    for name, p in net.cells.named_parameters():
        is_alive_op = any(
            f"edges.{n}<-{j}.{op}." in name
            for c, cell in enumerate(("normal", "reduce"))
            for n in (2, 3, 4, 5)
            for op, j in DARTS_V2.node_pairs(cell, n)
            if name.startswith(f"{c}.")
        )
        assert (id(p) in alive) == (is_alive_op or "preprocess" in name), name
    names = [n for n, _ in net.alive_named_parameters()]
    assert "stem.0.weight" in names and "classifier.weight" in names
    assert not any(".sep_conv_5x5." in n for n in names)
    x = torch.randn(4, 3, 8, 8)
    grads = torch.autograd.grad(net(x).sum(), [p for _, p in net.alive_named_parameters()])
    assert all(g is not None for g in grads)


def test_supernet_layouts_and_argument_checks(space: DartsSpace) -> None:
    net = space.build_supernet(space.arch_to_mask(DARTS_V2), channels=2)
    assert [c.reduction for c in net.cells] == [False, False, True, False, False, True, False, False]
    net = space.build_supernet(space.arch_to_mask(DARTS_V2), channels=2, cells_per_stage=2, stages=3)
    assert [c.reduction for c in net.cells] == [False, False, True, False, True, False]
    with pytest.raises(ValueError, match="either layers"):
        space.build_supernet(layers=8, cells_per_stage=1)
    with pytest.raises(ValueError, match="steps"):
        space.build_supernet(steps=5)
    with pytest.raises(UnknownNameError, match="op_weighting"):
        space.build_supernet(op_weighting="max")
    with pytest.raises(InvalidArchitectureError, match="28 entries"):
        space.build_supernet(space.full_mask()[:14])
    net = space.build_supernet(space.full_mask(), channels=2, layers=3, pool_bn=True, multiplier=2)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert net.classifier.in_features == 2 * 8
    net.set_mask(tuple(tuple(reversed(ops)) for ops in space.full_mask()))
    assert net.mask == space.full_mask()  # ops of an edge are kept in vocabulary order
    assert EDGE_KEYS[0] in space.edges

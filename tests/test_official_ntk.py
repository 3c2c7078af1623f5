"""``ntk`` and ``gen`` against the official TE-NAS / TEG-NAS code, on identical weights and batches.

``tests/data/official_ntk.npz`` was written by ``benchmarks/official_ntk.py fixture``,
which runs the official code (VITA-Group/TENAS ``get_ntk_n`` and ``TinyNetworkDarts`` /
``NASNetworkDARTS``; VITA-Group/TEGNAS ``get_ntk_n`` for G) on networks drawn after
``prepare_seed(0)`` and the first images of the bundled CIFAR-10 sample. Here our
supernets get those weights and the same batches, and must give the same values
through the code path the indicators use (the CPU plan of :class:`NTKSettings`).
The official code takes eigenvalues of a float32 kernel; ours are float64, hence a
relative tolerance of 1e-4 rather than equality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tenas_automl.data import MEAN, STD, load_data
from tenas_automl.indicators._nn import jacobian, weight_parameters
from tenas_automl.indicators.gen import GenSettings, centred_one_hot, gen_parameters, kernel_regression_error
from tenas_automl.indicators.ntk import NTKSettings, condition_number, ntk_matrix
from tenas_automl.spaces import get_space

FIXTURE = Path(__file__).parent / "data" / "official_ntk.npz"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def official() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


def bundled_batch(n: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_data("cifar10").split(split)
    x = (images[:n].astype(np.float32) / 255.0 - np.float32(MEAN["cifar10"])) / np.float32(STD["cifar10"])
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(labels[:n].astype(np.int64))


def load_flat(net: torch.nn.Module, flat: np.ndarray) -> None:
    """Copy a flat vector into the parameters, in ``named_parameters`` order."""
    offset = 0
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.from_numpy(flat[offset : offset + p.numel()]).view_as(p))
            offset += p.numel()
    assert offset == flat.size, "the official network has a different number of parameters"


def flat(net: torch.nn.Module) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])


def nb201_net(official: dict[str, np.ndarray]) -> torch.nn.Module:
    net = get_space("nb201").build_supernet(None, channels=3, cells_per_stage=1, num_classes=10).train()
    load_flat(net, official["nb201_weights"])
    return net


def kappa(net: torch.nn.Module, x: torch.Tensor, settings: NTKSettings) -> float:
    jac, _ = jacobian(net, x, weight_parameters(net), *settings.plan(CPU))
    return condition_number(ntk_matrix(jac), "paper")


def test_our_supernets_draw_the_official_initial_weights(official: dict[str, np.ndarray]) -> None:
    # Same construction order and default init: a seeded build equals TE-NAS's, parameter for parameter.
    torch.manual_seed(0)
    nb201 = get_space("nb201").build_supernet(None, channels=3, cells_per_stage=1, num_classes=10)
    np.testing.assert_array_equal(flat(nb201), official["nb201_weights"])
    darts = get_space("darts")
    torch.manual_seed(0)
    net = darts.build_supernet(None, **darts.PAPER_SUPERNETS["ntk"])
    np.testing.assert_array_equal(flat(net), official["darts_weights"])


def test_nb201_logits_equal_the_official_network(official: dict[str, np.ndarray]) -> None:
    space = get_space("nb201")
    net = nb201_net(official)
    net.set_mask(space.arch_to_mask(space.parse(str(official["nb201_archs"][0]))))
    x, _ = bundled_batch(72)
    np.testing.assert_allclose(net(x).detach().numpy(), official["nb201_logits"], rtol=0, atol=1e-5)


@pytest.mark.parametrize(("plan", "count"), [({}, 10), ({"jacobian": "batched"}, 5)], ids=["cpu-plan-10", "batched-5"])
def test_nb201_kappa_equals_the_official_code(official: dict[str, np.ndarray], plan: dict[str, str], count: int) -> None:
    space = get_space("nb201")
    net = nb201_net(official)
    x, _ = bundled_batch(72)
    settings = NTKSettings(**plan)
    ours = []
    for arch in official["nb201_archs"][:count]:
        net.set_mask(space.arch_to_mask(space.parse(str(arch))))
        ours.append(kappa(net, x, settings))
    np.testing.assert_allclose(ours, official["nb201_kappa"][:count], rtol=1e-4)


def test_a_channels_last_batch_is_float_noise_away_from_the_official_kappa(
    official: dict[str, np.ndarray],
) -> None:
    # Why the CPU plan keeps the batch contiguous: channels-last sums in another
    # order, which an ill-conditioned kernel (kappa ~1.3e4 here) amplifies.
    space = get_space("nb201")
    net = nb201_net(official)
    x, _ = bundled_batch(72)
    k = int(np.argmax(official["nb201_kappa"]))
    net.set_mask(space.arch_to_mask(space.parse(str(official["nb201_archs"][k]))))
    rel = abs(kappa(net, x, NTKSettings(layout="channels_last")) / official["nb201_kappa"][k] - 1)
    assert 1e-4 < rel < 2e-2


def test_darts_kappa_equals_the_official_code(official: dict[str, np.ndarray]) -> None:
    space = get_space("darts")
    net = space.build_supernet(None, **space.PAPER_SUPERNETS["ntk"]).train()
    load_flat(net, official["darts_weights"])
    ops = [str(o) for o in official["darts_ops"]]
    x, _ = bundled_batch(14)
    settings = NTKSettings(width=1)  # the DARTS plan: batched VJPs, native convolutions
    ours = []
    for alive in official["darts_alive"]:  # (cell type, edge, op) in TE-NAS's op order
        mask = tuple(tuple(ops[k] for k in np.flatnonzero(edge)) for cell in alive for edge in cell)
        net.set_mask(mask)
        ours.append(kappa(net, x, settings))
    np.testing.assert_allclose(ours, official["darts_kappa"], rtol=1e-4)


def test_gen_equals_tegnas_kernel_regression_error(official: dict[str, np.ndarray]) -> None:
    space = get_space("nb201")
    net = nb201_net(official)
    x, y = bundled_batch(64)
    t, yt = bundled_batch(64, "test")
    params = gen_parameters(net, "paper")
    plan = GenSettings().plan(CPU)
    ours = []
    for arch in official["gen_archs"]:
        net.set_mask(space.arch_to_mask(space.parse(str(arch))))
        jx, _ = jacobian(net, x, params, *plan)
        jt, _ = jacobian(net, t, params, *plan)
        jx, jt = jx.double(), jt.double()
        ours.append(kernel_regression_error(jx @ jx.T, jt @ jx.T, centred_one_hot(y, 10), centred_one_hot(yt, 10)))
    np.testing.assert_allclose(ours, official["gen_value"], rtol=1e-4)

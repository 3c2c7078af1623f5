"""Our ``ntk`` beside the official TE-NAS NTK code, on the same NB201 architectures.

The official side imports ``get_ntk_n`` and ``TinyNetworkDarts`` unchanged from an
export of VITA-Group/TENAS (``$TENAS_SRC``), with the CPU shims of
``../shared/tools/official-reference/run_reference.py``; see that folder's README
for how to fetch the repository.

Subcommands:

- ``official``: for each seed, ``prepare_seed(seed)``, three ``TinyNetworkDarts``
  (C=3, N=1, PyTorch default init) masked to the architecture, and one batch of
  72 training images drawn with ``numpy.random.RandomState(seed)`` (the
  official loader is shuffled), kappa averaged over the three networks.
- ``ours``: ``score_many(..., ["ntk"], seed=seed)`` at paper settings
  (``--no-augment`` for unaugmented batches, as the official side uses).
- ``fixture``: write ``tests/data/official_ntk.npz``, which pins our ``ntk`` and
  ``gen`` to the official code on identical weights and batches
  (``tests/test_official_ntk.py``): the weights of one official NB201 network
  (C=3, N=1) and one DARTS network (C=1, a normal and a reduction cell), each
  drawn after ``prepare_seed(0)``, the official kappa of 20 NB201 architectures
  and 5 DARTS masks, and TEG-NAS's G (``$TEGNAS_SRC``) of 6 NB201
  architectures. Batches: the first images of the bundled CIFAR-10 sample.
- ``report``: Kendall tau / Spearman rho against CIFAR-10 accuracy per seed, and
  their mean and spread, for every JSON given.

Each run appends its rows to ``--out`` after every seed, so a rerun resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from tenas_automl._io import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE_TOOLS = SHARED / "tools" / "official-reference"
ACCURACY_CSV = SHARED / "data" / "nb201-accuracy.csv"


def sample_archs(n: int, sample_seed: int) -> list[dict[str, Any]]:
    """``n`` NB201 rows drawn without replacement by ``random.Random(sample_seed)``."""
    with open(ACCURACY_CSV) as f:
        rows = list(csv.DictReader(f))
    idx = random.Random(sample_seed).sample(range(len(rows)), n)
    return [
        {"index": i, "arch": rows[i]["ArchitectureString"],
         "acc": [float(rows[i][k]) for k in ("CIFAR10TestAccuracy200Epochs",
                                            "CIFAR100TestAccuracy200Epochs",
                                            "ImageNetTestAccuracy200Epochs")]}
        for i in idx
    ]  # fmt: skip


def official_api() -> types.SimpleNamespace:
    """The official TE-NAS NTK function, network builder and structure parser, on CPU."""
    src = os.environ.get("TENAS_SRC")
    if not src:
        raise SystemExit("set TENAS_SRC to an export of VITA-Group/TENAS (see the official-reference README)")
    sys.path.insert(0, str(REFERENCE_TOOLS))
    import run_reference  # the harness's CPU shims and image loader

    run_reference._install_cpu_shims()
    sys.path.insert(0, os.path.join(src, "lib"))
    from models import get_cell_based_tiny_net, get_search_spaces
    from models.cell_searchs.genotypes import Structure
    from procedures import get_ntk_n, prepare_seed

    ops = get_search_spaces("cell", "nas-bench-201")
    config = types.SimpleNamespace(
        name="DARTS-V1", C=3, N=1, depth=-1, use_stem=True, max_nodes=4, num_classes=10,
        space=ops, affine=True, track_running_stats=True,
    )  # fmt: skip
    return types.SimpleNamespace(
        get_ntk_n=get_ntk_n, prepare_seed=prepare_seed, build=lambda: get_cell_based_tiny_net(config),
        structure=Structure, ops=ops, load_images=run_reference.load_images,
    )  # fmt: skip


def official_alphas(api: types.SimpleNamespace, arch: str, edge2index: dict[str, int]) -> list[Any]:
    """TE-NAS's masking of one architecture: logit 0 for the chosen op, -1000 elsewhere."""
    import torch

    alphas = torch.full((len(edge2index), len(api.ops)), -1000.0)
    for i, node in enumerate(api.structure.str2structure(arch).nodes):
        for op, j in node:
            alphas[edge2index[f"{i + 1}<-{j}"], api.ops.index(op)] = 0.0
    return [alphas]


def official_nets(api: types.SimpleNamespace, arch: str, seed: int, repeats: int = 3) -> list[Any]:
    """``repeats`` official networks drawn after ``prepare_seed(seed)``, masked to ``arch``."""
    api.prepare_seed(seed)
    nets = []
    for _ in range(repeats):
        net = api.build().train()
        net.set_alphas(official_alphas(api, arch, net.edge2index))
        nets.append(net)
    return nets


def _load(out: Path) -> dict[str, Any]:
    return json.loads(out.read_text()) if out.exists() else {"runs": {}}


def _save(out: Path, doc: dict[str, Any]) -> None:
    atomic_write_json(out, doc)


def cmd_official(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    api = official_api()
    x, _ = api.load_images()
    archs = sample_archs(args.n, args.sample_seed)
    out = Path(args.out)
    doc = _load(out)
    doc.update(side="official", sample_seed=args.sample_seed, archs=archs, torch=torch.__version__,
               threads=args.threads)  # fmt: skip
    for seed in args.seeds:
        if str(seed) in doc["runs"]:
            continue
        pick = np.random.RandomState(seed).choice(len(x), 72, replace=False)
        loader = [(torch.from_numpy(x[pick]), None)]
        t0, rows = time.process_time(), []
        for a in archs:
            conds = api.get_ntk_n(loader, official_nets(api, a["arch"], seed), recalbn=0,
                                  train_mode=True, num_batch=1)  # fmt: skip
            rows.append([float(c) for c in conds])
        doc["runs"][str(seed)] = {"kappas": rows, "cpu_s": time.process_time() - t0}
        _save(out, doc)
        print(f"official seed {seed}: {time.process_time() - t0:.0f} CPU-s", flush=True)


def cmd_ours(args: argparse.Namespace) -> None:
    import torch

    from tenas_automl import get_space, score_many

    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    archs = sample_archs(args.n, args.sample_seed)
    out = Path(args.out)
    doc = _load(out)
    doc.update(side="ours", augment=args.augment, sample_seed=args.sample_seed, archs=archs,
               torch=torch.__version__, threads=args.threads)  # fmt: skip
    overrides = None if args.augment else {"ntk": {"augment": False}}
    for seed in args.seeds:
        if str(seed) in doc["runs"]:
            continue
        t0 = time.process_time()
        res = score_many(space, [a["arch"] for a in archs], ["ntk"], seed=seed, device="cpu",
                         overrides=overrides, use_cache=False)  # fmt: skip
        doc["runs"][str(seed)] = {"kappas": [[r.values["ntk"]] for r in res], "cpu_s": time.process_time() - t0}
        _save(out, doc)
        print(f"ours seed {seed}: {time.process_time() - t0:.0f} CPU-s", flush=True)


def bundled_batch(n: int, split: str = "train") -> tuple[Any, Any]:
    """The first ``n`` images of the bundled CIFAR-10 sample, normalised, and their labels."""
    import torch

    from tenas_automl.data import MEAN, STD, load_data

    images, labels = load_data("cifar10").split(split)
    x = (images[:n].astype(np.float32) / 255.0 - np.float32(MEAN["cifar10"])) / np.float32(STD["cifar10"])
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(labels[:n].astype(np.int64))


def _flat(net: Any) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for n, p in net.named_parameters() if "arch" not in n])


def cmd_fixture(args: argparse.Namespace) -> None:
    import importlib.util

    import torch

    torch.set_num_threads(args.threads)
    api = official_api()
    from models import get_cell_based_tiny_net, get_search_spaces

    out: dict[str, Any] = {}
    # NB201: one network, 20 architectures, the first 72 training images.
    archs = [a["arch"] for a in sample_archs(20, 26)]
    api.prepare_seed(0)
    net = api.build().train()
    x, y = bundled_batch(72)
    kappas = []
    for a in archs:
        net.set_alphas(official_alphas(api, a, net.edge2index))
        kappas.append(api.get_ntk_n([(x, None)], [net], recalbn=0, train_mode=True, num_batch=1)[0])
    net.set_alphas(official_alphas(api, archs[0], net.edge2index))
    out.update(nb201_weights=_flat(net), nb201_archs=np.array(archs), nb201_kappa=np.array(kappas, np.float64),
               nb201_logits=net(x)[1].detach().numpy())  # fmt: skip
    # gen (TEG-NAS): the same network, 64 training and 64 test images.
    teg_src = os.environ.get("TEGNAS_SRC")
    if not teg_src:
        raise SystemExit("set TEGNAS_SRC to an export of VITA-Group/TEGNAS")
    spec = importlib.util.spec_from_file_location("tegnas_ntk", os.path.join(teg_src, "lib", "procedures", "ntk.py"))
    teg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(teg)
    xg, yg = bundled_batch(64)
    tg, ytg = bundled_batch(64, "test")
    gens = []
    for a in archs[:6]:
        net.set_alphas(official_alphas(api, a, net.edge2index))
        _, mses = teg.get_ntk_n([(xg, yg)], [net], loader_val=[(tg, ytg)], train_mode=True, num_batch=1,
                                num_classes=10)  # fmt: skip
        gens.append(mses[0])
    out.update(gen_archs=np.array(archs[:6]), gen_value=np.array(gens, np.float64))
    # DARTS: TE-NAS's NTK network, 5 random alive sets (none excluded), 14 images.
    ops = get_search_spaces("cell", "darts")
    cfg = types.SimpleNamespace(
        name="DARTS-V1", C=1, N=1, depth=2, use_stem=True, stem_multiplier=1, num_classes=10, space=ops,
        affine=True, track_running_stats=True, super_type="nasnet-super", steps=4, multiplier=4, max_nodes=4,
    )  # fmt: skip
    api.prepare_seed(0)
    dnet = get_cell_based_tiny_net(cfg).train()
    rng = np.random.RandomState(26)
    alive = (rng.rand(5, 2, 14, len(ops)) < 0.5) & (np.arange(len(ops)) > 0)
    for m in range(5):  # at least one op per edge
        for c in range(2):
            for e in range(14):
                if not alive[m, c, e].any():
                    alive[m, c, e, 1 + rng.randint(len(ops) - 1)] = True
    xd, _ = bundled_batch(14)
    dk = []
    for m in range(5):
        dnet.set_alphas([torch.from_numpy(np.where(alive[m, c], 0.0, -1000.0).astype(np.float32)) for c in range(2)])
        dk.append(api.get_ntk_n([(xd, None)], [dnet], recalbn=0, train_mode=True, num_batch=1)[0])
    out.update(darts_weights=_flat(dnet), darts_ops=np.array(ops), darts_alive=alive, darts_kappa=np.array(dk))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(
        f"wrote {args.out}: NB201 kappa {np.round(kappas, 2).tolist()}, G {np.round(gens, 4).tolist()}, "
        f"DARTS kappa {np.round(dk, 2).tolist()}"
    )


def cmd_report(args: argparse.Namespace) -> None:
    from scipy.stats import kendalltau, spearmanr

    summary = {}
    for path in args.files:
        doc = json.loads(Path(path).read_text())
        acc = np.array([a["acc"][0] for a in doc["archs"]])
        taus, rhos, medians = [], [], []
        for run in doc["runs"].values():
            kappa = np.array([np.mean(k) for k in run["kappas"]], dtype=float)
            kappa[~np.isfinite(kappa)] = np.inf  # a failed score ranks last
            taus.append(kendalltau(-kappa, acc)[0])
            rhos.append(spearmanr(-kappa, acc)[0])
            medians.append(float(np.median(kappa)))
        label = f"{doc['side']}" + ("" if doc["side"] == "official" else f" augment={doc['augment']}")
        summary[label] = {
            "file": str(path), "n_archs": len(acc), "seeds": sorted(int(s) for s in doc["runs"]),
            "tau": taus, "rho": rhos, "median_kappa": medians,
            "tau_mean": float(np.mean(taus)), "tau_std": float(np.std(taus, ddof=1)) if len(taus) > 1 else 0.0,
            "rho_mean": float(np.mean(rhos)), "rho_std": float(np.std(rhos, ddof=1)) if len(rhos) > 1 else 0.0,
        }  # fmt: skip
        s = summary[label]
        print(f"{label:22s} n={s['n_archs']} seeds={len(taus)} tau {s['tau_mean']:.3f} ± {s['tau_std']:.3f} "
              f"(min {min(taus):.3f}, max {max(taus):.3f})  rho {s['rho_mean']:.3f} ± {s['rho_std']:.3f}  "
              f"median kappa {np.median(medians):.0f}")  # fmt: skip
    if args.out:
        _save(Path(args.out), summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("official", "ours"):
        p = sub.add_parser(name)
        p.add_argument("--n", type=int, default=50, help="architectures (default 50)")
        p.add_argument("--sample-seed", type=int, default=2026, help="seed of the architecture sample")
        p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--out", required=True)
        if name == "ours":
            p.add_argument("--no-augment", dest="augment", action="store_false")
    p = sub.add_parser("fixture")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "tests" / "data" / "official_ntk.npz"))
    p = sub.add_parser("report")
    p.add_argument("files", nargs="+")
    p.add_argument("--out")
    args = parser.parse_args(argv)
    {"official": cmd_official, "ours": cmd_ours, "fixture": cmd_fixture, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()

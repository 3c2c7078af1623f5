"""Our AZ-NAS, ZiCo, MeCo, VKDNW and jacov beside the official code, on the same NB201 architectures.

The official side is ``../shared/tools/official-zero-cost/run_zero_cost_reference.py``
(see its README): it writes ``rows.jsonl``, one row of official scores per
architecture. This script scores the same architectures with our indicators
at paper settings (``jacov`` also with the ports' Kaiming-normal fan-in init),
computes the papers' aggregates (``az``, ``vkdnw_agg``) within the sample on
both sides, and reports Kendall tau / Spearman rho against the three datasets'
accuracies, and the difference of tau between ours and the official code.

    python benchmarks/official_zero_cost.py --rows /tmp/zcout/rows.jsonl \\
        --out benchmarks/results/official_zero_cost_n100.json [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from tenas_automl._io import atomic_write_json
from tenas_automl.analysis import goodness
from tenas_automl.indicators import get_combination, get_indicator
from tenas_automl.scoring import score_many
from tenas_automl.spaces import get_space

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
#: (our indicator or combination, the official row's column).
PAIRS = (
    ("az_expressivity", "az_expressivity"),
    ("az_progressivity", "az_progressivity"),
    ("az_trainability", "az_trainability"),
    ("az", "az_nas_agg"),
    ("zico", "zico"),
    ("meco", "meco"),
    ("vkdnw", "vkdnw"),
    ("vkdnw_agg", "vkdnw_agg"),
    ("jacov_kaiming", "jacov"),
    ("flops", "flops"),
)
OURS = ("az_expressivity", "az_progressivity", "az_trainability", "zico", "meco", "vkdnw", "flops")


def official_table(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Official columns, with the aggregates computed as the harness does (AZ-NAS: average ranks
    of the raw values; VKDNW: dense rank of (tensors, entropy) and average ranks of the rest)."""
    col = {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "arch" and not k.startswith("t_")}
    col["vkdnw"] = col["vkdnw_dim"] + col["vkdnw_entropy"] / 10
    n = len(rows)
    col["az_nas_agg"] = sum(
        np.log(stats.rankdata(col[k]) / n) for k in ("flops", "az_expressivity", "az_progressivity", "az_trainability")
    )
    col["vkdnw_agg"] = np.log(stats.rankdata(col["vkdnw"], method="dense")) + sum(
        np.log(stats.rankdata(col[k])) for k in ("az_expressivity", "az_trainability", "flops", "jacov")
    )
    return col


def correlations(values: np.ndarray, acc: dict[str, np.ndarray]) -> dict[str, float]:
    v = goodness(values, True)  # non-finite scores rank last, as -inf does in the harness
    out = {}
    for ds in DATASETS:
        out[f"tau_{ds}"] = float(stats.kendalltau(v, acc[ds]).statistic)
        out[f"rho_{ds}"] = float(stats.spearmanr(v, acc[ds]).statistic)
    out["nonfinite"] = int((~np.isfinite(values)).sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=Path, required=True, help="the official harness's rows.jsonl")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", default="paper")
    ap.add_argument("--cache-dir", default=None, help="score cache (default: none, every value computed)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    space = get_space("nb201")
    archs = [space.parse(r["arch"]) for r in rows]
    acc = {ds: np.array([space.benchmark_accuracy(a, ds) for a in archs]) for ds in DATASETS}

    t0 = time.process_time()

    def scored(indicator: Any, name: str) -> tuple[np.ndarray, float]:
        start = time.process_time()
        kw = {"seed": args.seed, "device": "cpu", "mode": args.mode}
        res = score_many(space, archs, [indicator], cache_dir=args.cache_dir, use_cache=args.cache_dir is not None, **kw)
        return np.array([r.values[name] for r in res], dtype=float), (time.process_time() - start) / len(archs)

    ours: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for name in OURS:
        ours[name], seconds[name] = scored(name, name)
    jk = get_indicator("jacov", init="kaiming_normal_fan_in")
    ours["jacov_kaiming"], seconds["jacov_kaiming"] = scored(jk, "jacov")
    ours["jacov"] = ours["jacov_kaiming"]
    ours["az"] = get_combination("az").combine(ours)
    ours["vkdnw_agg"] = get_combination("vkdnw_agg").combine(ours)
    official = official_table(rows)

    report = []
    for mine, theirs in PAIRS:
        a, b = correlations(ours[mine], acc), correlations(official[theirs], acc)
        report.append(
            {
                "ours": mine,
                "official": theirs,
                "ours_corr": a,
                "official_corr": b,
                "tau_difference_cifar10": a["tau_cifar10"] - b["tau_cifar10"],
                "ours_cpu_s_per_arch": seconds.get(mine),
            }
        )
        print(
            f"{mine:18s} tau c10 ours {a['tau_cifar10']:.3f} official {b['tau_cifar10']:.3f} "
            f"(diff {a['tau_cifar10'] - b['tau_cifar10']:+.3f})  rho ours {a['rho_cifar10']:.3f} / "
            f"{a['rho_cifar100']:.3f} / {a['rho_ImageNet16-120']:.3f}  official {b['rho_cifar10']:.3f} / "
            f"{b['rho_cifar100']:.3f} / {b['rho_ImageNet16-120']:.3f}"
        )
    atomic_write_json(
        args.out,
        {
            "n": len(rows),
            "seed": args.seed,
            "mode": args.mode,
            "threads": args.threads,
            "torch": torch.__version__,
            "cpu_seconds_total": time.process_time() - t0,
            "archs": [r["arch"] for r in rows],
            "report": report,
            "ours": {k: [float(x) if np.isfinite(x) else None for x in v] for k, v in ours.items()},
        },
    )


if __name__ == "__main__":
    main()

"""Correlation of indicators with NB201 accuracy, each dataset scored with its own setting.

For each dataset (``--datasets``) it scores a seeded sample with that
dataset's setting (its classes and normalisation; ImageNet16-120 at 16x16),
through the same code as ``tenas-automl correlate``, and writes
``OUT/<dataset>.json`` in ``correlate``'s format (scores, accuracies, the
correlations, mean seconds per architecture of each indicator) plus
``OUT/summary.json``: per dataset, Kendall tau, Spearman rho and the top-1 /
top-10 accuracy of every indicator and combination against that dataset's
accuracy, the process CPU seconds per architecture (the scoring workers'
included) and the sample size and seed. Scores are cached (``--cache-dir``),
so a rerun resumes.

    python benchmarks/correlation.py OUT --sample 300 --seed 7 --indicators meco,az,ensemble --workers 2
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from tenas_automl._io import atomic_write_json
from tenas_automl.analysis import correlate_sample
from tenas_automl.spaces import get_space

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--sample", default="300", help="architectures, or 'all'")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--indicators", required=True)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mode", default="paper")
    ap.add_argument("--cache-dir", type=Path)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    space = get_space("nb201")
    n = None if args.sample == "all" else int(args.sample)
    names = [x.strip() for x in args.indicators.split(",") if x.strip()]
    summary: dict[str, object] = {"sample": args.sample, "seed": args.seed, "mode": args.mode, "indicators": names,
                                  "datasets": {}}  # fmt: skip
    for ds in args.datasets.split(","):
        wall = time.perf_counter()
        report = correlate_sample(
            space, n, names, seed=args.seed, device="cpu", dataset=ds, mode=args.mode,
            cache_dir=args.cache_dir, workers=args.workers,
        )  # fmt: skip
        wall = time.perf_counter() - wall
        compute = sum(v for v in report.seconds.values() if math.isfinite(v))
        atomic_write_json(args.out / f"{ds}.json", report.to_dict())
        rows = {c.indicator: c.to_dict() for c in report.correlations if c.dataset == ds}
        summary["datasets"][ds] = {  # type: ignore[index]
            "n": len(report.archs),
            "compute_seconds_per_arch": compute,
            "wall_seconds": wall,
            "seconds_per_arch": report.seconds,
            "correlations": rows,
        }
        print(f"{ds}: {len(report.archs)} archs, {compute:.2f} compute-s/arch, {wall:.0f} s wall")
        for name, c in rows.items():
            print(f"  {name:18s} tau {c['kendall_tau']:.3f} rho {c['spearman_rho']:.3f} top-1 {c['top1_accuracy']:.2f}")
        atomic_write_json(args.out / "summary.json", summary)


if __name__ == "__main__":
    main()

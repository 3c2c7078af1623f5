"""Choose the ``ensemble`` combination on a development sample; report it on other architectures.

Both steps read the JSON that ``tenas-automl correlate --output`` writes (scores
of every indicator on a sample, and the three datasets' accuracies):

    tenas-automl correlate --sample 500 --seed 7 --indicators CANDIDATES --workers 2 --output dev.json
    python benchmarks/ensemble.py select dev.json [--max-members 6] [--out selection.json]
    tenas-automl correlate --sample all --indicators MEMBERS --workers 2 --output all.json
    python benchmarks/ensemble.py report all.json --members a,b,c [--weights 1,1,2] \\
        --exclude dev.json --out report.json

``select`` grows the member set greedily: at each step it adds the indicator
(and weight, from ``--weights-grid``) whose log-rank sum raises the smallest of
the three datasets' Spearman rho most, and stops when nothing raises it by
more than ``--min-gain``. ``report`` computes, on the architectures of the
report JSON not in ``--exclude`` (the development sample), Kendall tau,
Spearman rho and the top-1 / top-10 accuracy of the ensemble, of ``az`` and
``vkdnw_agg`` where their members were scored, and of every single indicator.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tenas_automl._io import atomic_write_json
from tenas_automl.analysis import correlate
from tenas_automl.indicators import COMBINATIONS, higher_is_better, log_rank_sum

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def load(path: Path, exclude: Path | None = None) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(archs, scores, accuracies) of a ``correlate`` JSON, without the archs of ``exclude``."""
    doc = json.loads(path.read_text())
    drop = set(json.loads(exclude.read_text())["archs"]) if exclude is not None else set()
    keep = [i for i, a in enumerate(doc["archs"]) if a not in drop]

    def col(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if values[i] is None else values[i] for i in keep], dtype=float)

    scores = {k: col(v) for k, v in doc["scores"].items()}
    accs = {k: col(v) for k, v in doc["accuracies"].items()}
    return [doc["archs"][i] for i in keep], scores, accs


def rhos(values: np.ndarray, accs: dict[str, np.ndarray]) -> dict[str, float]:
    got = correlate({"x": values}, accs, {"x": True}, combined=False)
    return {c.dataset: c.spearman_rho for c in got}


def select(args: argparse.Namespace) -> None:
    _, scores, accs = load(args.dev)
    directions = {k: higher_is_better(k) for k in scores}
    grid = [float(w) for w in args.weights_grid.split(",")]
    chosen: dict[str, float] = {}
    best = -np.inf
    path: list[dict[str, Any]] = []
    while len(chosen) < args.max_members:
        trial_best = None
        for name in scores:
            for w in grid:
                if name in chosen and chosen[name] == w:
                    continue
                members = dict(chosen, **{name: w})
                v = log_rank_sum({m: scores[m] for m in members}, directions, weights=members)
                r = rhos(v, accs)
                worst = min(r.values())
                if trial_best is None or worst > trial_best[0]:
                    trial_best = (worst, name, w, r)
        assert trial_best is not None
        if trial_best[0] <= best + args.min_gain:
            break
        best, name, w, r = trial_best
        chosen[name] = w
        path.append({"members": dict(chosen), "rho": r})
        print(f"+ {name} (weight {w:g}): rho " + " / ".join(f"{r[d]:.3f}" for d in DATASETS))
    out = {"dev": str(args.dev), "members": chosen, "path": path}
    if args.out:
        atomic_write_json(args.out, out)
    print(json.dumps(out["members"]))


def report(args: argparse.Namespace) -> None:
    archs, scores, accs = load(args.report, args.exclude)
    directions = {k: higher_is_better(k) for k in scores}
    members = args.members.split(",")
    weights = [float(w) for w in args.weights.split(",")] if args.weights else [1.0] * len(members)
    table = {"ensemble": log_rank_sum({m: scores[m] for m in members}, directions, weights=dict(zip(members, weights)))}
    for name, combo in COMBINATIONS.items():
        if all(m in scores for m in combo.members):
            table[name] = combo.combine(scores)
    table.update({k: v if directions[k] else -v for k, v in scores.items()})
    rows = []
    for name, values in table.items():
        got = correlate({name: values}, accs, {name: True}, combined=False)
        rows.append({"name": name, **{f"{c.dataset}": c.to_dict() for c in got}})
        print(
            f"{name:18s} "
            + "  ".join(f"{c.dataset} tau {c.kendall_tau:.3f} rho {c.spearman_rho:.3f}" for c in got)
            + f"  c10 top-1 {got[0].top1_accuracy:.2f} top-10 {got[0].top10_accuracy:.2f}"
        )
    out = {"report": str(args.report), "exclude": str(args.exclude), "n": len(archs), "members": members,
           "weights": weights, "rows": rows}  # fmt: skip
    if args.out:
        atomic_write_json(args.out, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("dev", type=Path)
    s.add_argument("--max-members", type=int, default=6)
    s.add_argument("--weights-grid", default="1")
    s.add_argument("--min-gain", type=float, default=0.002)
    s.add_argument("--out", type=Path)
    r = sub.add_parser("report")
    r.add_argument("report", type=Path)
    r.add_argument("--members", required=True)
    r.add_argument("--weights", default="")
    r.add_argument("--exclude", type=Path)
    r.add_argument("--out", type=Path)
    args = ap.parse_args()
    select(args) if args.cmd == "select" else report(args)


if __name__ == "__main__":
    main()

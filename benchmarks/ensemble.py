"""Choose the ``ensemble`` combination on a development sample; report it on other architectures.

Both steps read the JSON that ``tenas-automl correlate --output`` writes, one
file per dataset setting (the scores of every indicator on a sample, computed
with that dataset's classes and input size, and the benchmark accuracies); each
dataset's correlations come from the file scored with its setting:

    for ds in cifar10 cifar100 ImageNet16-120; do
      tenas-automl correlate --sample 300 --seed 7 --dataset $ds --indicators CANDIDATES \\
        --workers 2 --threads 1 --output dev_$ds.json; done
    python benchmarks/ensemble.py select dev_*.json --max-seconds 1.0 --out selection.json
    for ds in ...; do tenas-automl correlate --sample 3300 --seed 11 --dataset $ds \\
        --indicators MEMBERS ... --output report_$ds.json; done
    python benchmarks/ensemble.py report report_*.json --members a,b,c [--weights 1,1,2] \\
        --exclude dev_cifar10.json --out report.json    # or --exclude-sample 300:7

``select`` grows the member set greedily: at each step it adds the indicator
(and weight, from ``--weights-grid``) whose log-rank sum raises the smallest of
the three datasets' Spearman rho most while the members' summed seconds per
architecture (the costliest dataset setting's) stay within ``--max-seconds``,
and stops when nothing raises it by more than ``--min-gain``; with
``--exhaustive`` it tries every set of up to ``--max-members`` equally
weighted members within the budget instead and keeps the best. ``report``
computes, on the architectures of the report files not in ``--exclude`` (the
development sample), Kendall tau, Spearman rho and the top-1 / top-10 accuracy
of the ensemble, of ``az`` and ``vkdnw_agg`` where their members were scored,
and of every single indicator, with each one's seconds per architecture.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from tenas_automl._io import atomic_write_json
from tenas_automl.analysis import correlate
from tenas_automl.indicators import COMBINATIONS, higher_is_better, log_rank_sum

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


class Setting:
    """One dataset setting's scores and accuracies, without the excluded archs."""

    def __init__(self, path: Path, drop: set[str]) -> None:
        doc = json.loads(path.read_text())
        self.dataset: str = doc.get("dataset", "cifar10")
        keep = [i for i, a in enumerate(doc["archs"]) if a not in drop]
        self.archs = [doc["archs"][i] for i in keep]

        def col(values: list[float | None]) -> np.ndarray:
            return np.array([np.nan if values[i] is None else values[i] for i in keep], dtype=float)

        self.scores = {k: col(v) for k, v in doc["scores"].items()}
        self.accuracy = col(doc["accuracies"][self.dataset])
        self.seconds: dict[str, float] = doc.get("seconds_per_arch", {})
        self.seed = doc.get("seed")

    def extend(self, other: Setting) -> None:
        """Add ``other``'s architectures that this one lacks (another sample of the same setting)."""
        new = [i for i, a in enumerate(other.archs) if a not in set(self.archs)]
        n0, n1 = len(self.archs), len(new)
        self.archs += [other.archs[i] for i in new]
        self.scores = {k: np.concatenate([v, other.scores[k][new]]) for k, v in self.scores.items() if k in other.scores}
        self.accuracy = np.concatenate([self.accuracy, other.accuracy[new]])
        self.seconds = {k: (v * n0 + other.seconds[k] * n1) / (n0 + n1) for k, v in self.seconds.items() if k in other.seconds}
        self.seed = [*(self.seed if isinstance(self.seed, list) else [self.seed]), other.seed]


def load(paths: list[Path], exclude: list[Path] | None = None, exclude_sample: str | None = None) -> dict[str, Setting]:
    """The settings of ``paths`` by dataset, without the excluded architectures; several files of
    one dataset (samples with other seeds) are merged, each architecture once.

    ``exclude_sample`` ("N:SEED") drops the sample ``correlate --sample N --seed SEED`` draws.
    """
    drop: set[str] = set()
    for p in exclude or []:
        drop |= set(json.loads(p.read_text())["archs"])
    if exclude_sample:
        from tenas_automl.analysis import sample_archs
        from tenas_automl.spaces import get_space

        space = get_space("nb201")
        n, seed = (int(x) for x in exclude_sample.split(":"))
        drop |= {space.format(a) for a in sample_archs(space, n, seed)}
    settings: dict[str, Setting] = {}
    for p in paths:
        s = Setting(p, drop)
        if s.dataset in settings:
            settings[s.dataset].extend(s)
        else:
            settings[s.dataset] = s
    return settings


def rho(values: np.ndarray, accuracy: np.ndarray) -> float:
    return correlate({"x": values}, {"acc": accuracy}, {"x": True}, combined=False)[0].spearman_rho


def ensemble_values(s: Setting, members: dict[str, float]) -> np.ndarray:
    directions = {k: higher_is_better(k) for k in members}
    return log_rank_sum({m: s.scores[m] for m in members}, directions, weights=members)


#: Indicators computed together: the first one scored carries the time of all.
SHARED = (("az_expressivity", "az_progressivity", "az_trainability"),)


def member_seconds(seconds: dict[str, float], members: object) -> float:
    """Seconds per architecture of scoring ``members``, a shared computation counted once."""
    names = set(members)  # type: ignore[call-overload]
    for group in SHARED:
        if names & set(group):
            names |= set(group)
    return sum(seconds.get(m, 0.0) for m in names)


def cost(settings: dict[str, Setting], members: dict[str, float]) -> float:
    """Seconds per architecture of ``members`` under the costliest setting."""
    return max(member_seconds(s.seconds, members) for s in settings.values())


def select(args: argparse.Namespace) -> None:
    settings = load(args.dev)
    names = [n for n in next(iter(settings.values())).scores if all(n in s.scores for s in settings.values())]
    if args.exhaustive:
        return select_exhaustive(args, settings, names)
    grid = [float(w) for w in args.weights_grid.split(",")]
    chosen: dict[str, float] = {}
    best = -np.inf
    path: list[dict[str, Any]] = []
    while len(chosen) < args.max_members:
        trial_best = None
        for name in names:
            for w in grid:
                if name in chosen and chosen[name] == w:
                    continue
                members = dict(chosen, **{name: w})
                if cost(settings, members) > args.max_seconds:
                    continue
                r = {d: rho(ensemble_values(s, members), s.accuracy) for d, s in settings.items()}
                worst = min(r.values())
                if trial_best is None or worst > trial_best[0]:
                    trial_best = (worst, name, w, r)
        if trial_best is None or trial_best[0] <= best + args.min_gain:
            break
        best, name, w, r = trial_best
        chosen[name] = w
        path.append({"members": dict(chosen), "rho": r, "seconds": cost(settings, chosen)})
        print(f"+ {name} (weight {w:g}): rho " + " / ".join(f"{r[d]:.3f}" for d in r) + f"  {cost(settings, chosen):.2f} s/arch")
    out = {"dev": [str(p) for p in args.dev], "members": chosen, "path": path}
    if args.out:
        atomic_write_json(args.out, out)
    print(json.dumps(out["members"]))


def select_exhaustive(args: argparse.Namespace, settings: dict[str, Setting], names: list[str]) -> None:
    """Every set of up to ``--max-members`` equally weighted members within the budget; the
    one with the highest smallest rho wins (ties: the cheaper)."""
    found = []
    for k in range(1, args.max_members + 1):
        for combo in itertools.combinations(names, k):
            members = dict.fromkeys(combo, 1.0)
            c = cost(settings, members)
            if c <= args.max_seconds:
                r = {d: rho(ensemble_values(s, members), s.accuracy) for d, s in settings.items()}
                found.append((min(r.values()), -c, combo, r))
    found.sort(reverse=True)
    for worst, c, combo, r in found[:10]:
        print(f"{worst:.3f}  rho " + " / ".join(f"{r[d]:.3f}" for d in r) + f"  {-c:.2f} s/arch  {','.join(combo)}")
    worst, c, combo, r = found[0]
    top10 = [{"members": list(f[2]), "rho": f[3], "seconds": -f[1]} for f in found[:10]]
    out = {"dev": [str(p) for p in args.dev], "max_seconds": args.max_seconds, "members": dict.fromkeys(combo, 1.0),
           "rho": r, "seconds": -c, "top10": top10}  # fmt: skip
    if args.out:
        atomic_write_json(args.out, out)
    print(json.dumps(out["members"]))


def report(args: argparse.Namespace) -> None:
    settings = load(args.report, args.exclude, args.exclude_sample)
    members = args.members.split(",")
    weights = [float(w) for w in args.weights.split(",")] if args.weights else [1.0] * len(members)
    chosen = dict(zip(members, weights))
    rows: dict[str, dict[str, Any]] = {}
    for d, s in settings.items():
        table = {"ensemble": ensemble_values(s, chosen)}
        seconds = {"ensemble": member_seconds(s.seconds, members)}
        for name, combo in COMBINATIONS.items():
            if name != "ensemble" and all(m in s.scores for m in combo.members):
                table[name] = combo.combine(s.scores)
                seconds[name] = member_seconds(s.seconds, combo.members)
        table.update({k: v if higher_is_better(k) else -v for k, v in s.scores.items()})
        for name, values in table.items():
            c = correlate({name: values}, {d: s.accuracy}, {name: True}, combined=False)[0]
            secs = seconds.get(name, member_seconds(s.seconds, [name]))
            rows.setdefault(name, {})[d] = {**c.to_dict(), "seconds_per_arch": secs}
    n = {d: len(s.archs) for d, s in settings.items()}
    print(f"{'':18s} " + "  ".join(f"{d:>30s}" for d in settings) + f"   (n = {n})")
    for name, by in rows.items():
        print(
            f"{name:18s} "
            + "  ".join(
                f"tau {c['kendall_tau']:.3f} rho {c['spearman_rho']:.3f} top-1 {c['top1_accuracy']:5.2f}" for c in by.values()
            )
        )
    out = {"report": [str(p) for p in args.report], "exclude": [str(p) for p in args.exclude or []],
           "exclude_sample": args.exclude_sample, "n": n,
           "seeds": {d: s.seed for d, s in settings.items()}, "members": chosen, "rows": rows}  # fmt: skip
    if args.out:
        atomic_write_json(args.out, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("dev", type=Path, nargs="+")
    s.add_argument("--max-members", type=int, default=8)
    s.add_argument("--max-seconds", type=float, default=float("inf"))
    s.add_argument("--weights-grid", default="1")
    s.add_argument("--min-gain", type=float, default=0.002)
    s.add_argument("--exhaustive", action="store_true", help="try every member set of up to --max-members")
    s.add_argument("--out", type=Path)
    r = sub.add_parser("report")
    r.add_argument("report", type=Path, nargs="+")
    r.add_argument("--members", required=True)
    r.add_argument("--weights", default="")
    r.add_argument("--exclude", type=Path, nargs="*")
    r.add_argument("--exclude-sample", default=None, help="N:SEED, the development sample of correlate --sample N --seed SEED")
    r.add_argument("--out", type=Path)
    args = ap.parse_args()
    select(args) if args.cmd == "select" else report(args)


if __name__ == "__main__":
    main()

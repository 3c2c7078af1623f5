"""Benchmark the search strategies: NB201 accuracy of what they find, and cost.

For every strategy and seed, search NAS-Bench-201 and look the result up in
the benchmark table (test accuracy after 200 epochs on CIFAR-10, CIFAR-100 and
ImageNet16-120); report mean +- std (ddof=1) over seeds and the median search
time. The search itself always uses the images of ``--dataset`` (by default
the bundled CIFAR-10 sample; the papers searched on each target dataset). With
``--darts-seeds N`` it also prunes the DARTS space N times and reports the
median time and the size of the found network (C=36, 20 cells, CIFAR-10).

The JSON file is rewritten atomically after every search, so an interrupted
run keeps what it finished. Example (smoke run)::

    python benchmarks/search.py --seeds 1 --strategies prune --output /tmp/search.json

``--plot PNG FILES...`` runs nothing: it reads result files of this script
and prints, per file and strategy, the mean found accuracy (on the dataset
searched) against the median seconds per search, as a markdown table, and
draws the same as a quality-versus-time plot::

    python benchmarks/search.py --plot quality_vs_time.png benchmarks/results/search_*.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tenas_automl import __version__, get_space
from tenas_automl._io import atomic_write_json
from tenas_automl.data import DATASETS, load_data
from tenas_automl.spaces.base import Space
from tenas_automl.strategies import EVOLUTION_PRESETS, STRATEGIES, SearchResult, get_strategy

log = logging.getLogger("benchmarks.search")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (default: all)")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds, 0..K-1 (default 10)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=None, help="evolution/random budget (default: theirs)")
    p.add_argument("--preset", default="fast", help="evolution preset: fast or paper")
    p.add_argument("--prune-preset", default="paper", help="prune preset: paper or fast (NTK on 32 images)")
    p.add_argument("--prune-draws", default="common", help="prune: common (per round) or per_candidate (official code)")
    p.add_argument("--indicators", default=None, help="comma-separated, overrides every strategy's default")
    p.add_argument(
        "--overrides",
        default=None,
        type=json.loads,
        help='indicator settings as JSON, e.g. \'{"ntk": {"batch_size": 8, "repeats": 1}}\'',
    )
    p.add_argument("--dataset", default="cifar10", choices=DATASETS, help="images to search on")
    p.add_argument("--data-dir", default=None, help="real dataset folder (default: bundled CIFAR-10 sample)")
    p.add_argument("--device", default="auto")
    p.add_argument("--darts-seeds", type=int, default=0, help="also prune DARTS this many times")
    p.add_argument("--output", default="benchmarks/results/search.json")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--workers", type=int, default=1, help="processes scoring each round's candidates (default 1)")
    p.add_argument("--plot", default=None, metavar="PNG", help="plot result FILES instead of searching")
    p.add_argument("files", nargs="*", help="with --plot: result files of this script")
    args = p.parse_args(argv)
    if bool(args.files) != (args.plot is not None):
        p.error("result FILES go with --plot PNG, and --plot needs FILES")
    return args


def _label(settings: dict[str, Any], strategy: str) -> str:
    """A strategy's name with the settings that distinguish its runs."""
    if strategy == "prune":
        label = f"TE-NAS prune, {settings.get('prune_preset', 'paper')}"
    elif strategy == "evolution":
        label = f"evolution, {settings.get('preset', 'fast')}"
    else:
        label = strategy + (f", N = {settings['budget']}" if settings.get("budget") else "")
    names = settings.get("indicators") or ",".join(get_strategy(strategy).indicators)
    if strategy == "evolution" and not settings.get("indicators"):
        names = ",".join(EVOLUTION_PRESETS[settings.get("preset", "fast")].get("indicators", names.split(",")))
    return f"{label} ({names})"


def quality_vs_time(files: list[str]) -> list[dict[str, Any]]:
    """One row per (file, strategy): label, dataset searched, runs, mean/std accuracy there, median s."""
    rows = []
    for f in files:
        doc = json.loads(Path(f).read_text())
        ds = doc["settings"].get("dataset", "cifar10")
        for key, s in doc["summary"].items():
            acc = s.get("test_accuracy", {}).get(ds)
            if not acc or acc["mean"] is None:
                continue
            rows.append({"label": _label(doc["settings"], key.split("/")[1]), "dataset": ds, "runs": s["runs"],
                         "mean": acc["mean"], "std": acc["std"], "median_seconds": s["median_seconds"],
                         "file": Path(f).name})  # fmt: skip
    return rows


def plot_quality_vs_time(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tenas_automl._io import atomic_write_bytes

    fig, axes = plt.subplots(1, len({r["dataset"] for r in rows}), figsize=(6.4, 4.2), squeeze=False)
    for ax, ds in zip(axes[0], sorted({r["dataset"] for r in rows})):
        for r in (r for r in rows if r["dataset"] == ds):
            ax.errorbar(r["median_seconds"], r["mean"], yerr=r["std"] or 0, fmt="o", capsize=3, label=r["label"])
        ax.set_xscale("log")
        ax.set_xlabel("median seconds per search (2 CPU cores)")
        ax.set_ylabel(f"NB201 {ds} test accuracy of the found arch (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _mean_std(values: list[float]) -> dict[str, float | int | None]:
    v = [x for x in values if x is not None and np.isfinite(x)]
    if not v:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else None, "n": len(v)}


def _run_row(space: Space, result: SearchResult) -> dict[str, Any]:
    row = {k: v for k, v in result.to_dict().items() if k != "history"}
    if space.name == "nb201":
        row["benchmark"] = {ds: space.benchmark_accuracy(result.arch, ds) for ds in DATASETS}
    else:
        row["params_millions"] = _params_millions(space, result.arch)
    return row


def _params_millions(space: Space, arch: Any) -> float | None:
    """Parameters of DARTS's CIFAR-10 evaluation network (C=36, 20 cells), auxiliary head excluded."""
    count = getattr(space, "param_count_millions", None)
    return float(count(arch)) if callable(count) else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted({(r["space"], r["strategy"]) for r in runs}):
        rows = [r for r in runs if (r["space"], r["strategy"]) == key]
        s: dict[str, Any] = {
            "runs": len(rows),
            "median_seconds": statistics.median(r["seconds"] for r in rows),
            "median_evaluations": statistics.median(r["evaluations"] for r in rows),
            "interrupted": sum(bool(r["interrupted"]) for r in rows),
        }
        if key[0] == "nb201":
            s["test_accuracy"] = {ds: _mean_std([r["benchmark"][ds] for r in rows]) for ds in DATASETS}
        else:
            s["params_millions"] = _mean_std([r["params_millions"] for r in rows])
        out[f"{key[0]}/{key[1]}"] = s
    return out


def _print_summary(summary: dict[str, Any]) -> None:
    for key, s in summary.items():
        line = f"{key:18s} runs={s['runs']:2d} median {s['median_seconds']:8.1f} s  evals {s['median_evaluations']:g}"
        if "test_accuracy" in s:
            accs = "  ".join(
                f"{ds} {a['mean']:.2f}+-{a['std'] or 0:.2f}" if a["mean"] is not None else f"{ds} -"
                for ds, a in s["test_accuracy"].items()
            )
            line += "  " + accs
        else:
            pm = s["params_millions"]
            line += f"  params {pm['mean']:.2f}M" if pm["mean"] is not None else ""
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot is not None:
        rows = quality_vs_time(args.files)
        print("| strategy | dataset | seeds | mean ± std accuracy | median s | file |\n|---|---|---|---|---|---|")
        for r in sorted(rows, key=lambda r: r["median_seconds"]):
            std = f" ± {r['std']:.2f}" if r["std"] is not None else ""
            cells = [r["label"], r["dataset"], str(r["runs"]), f"{r['mean']:.2f}{std}", f"{r['median_seconds']:,.0f}"]
            print("| " + " | ".join(cells) + f" | `{r['file']}` |")
        plot_quality_vs_time(rows, args.plot)
        print(f"wrote {args.plot}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    indicators = tuple(args.indicators.split(",")) if args.indicators else None
    data = load_data(args.dataset, args.data_dir)
    report: dict[str, Any] = {
        "version": __version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "images": f"{args.dataset} from {args.data_dir or 'the bundled CIFAR-10 sample'} "
        f"({data.source}; {len(data.train_images)} train / {len(data.test_images)} test images)",
        "settings": vars(args),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
        },
        "runs": [],
        "summary": {},
    }
    out = Path(args.output)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [("nb201", s, seed) for s in strategies for seed in seeds]
    jobs += [("darts", "prune", seed) for seed in range(args.first_seed, args.first_seed + args.darts_seeds)]
    for space_name, strategy, seed in jobs:
        space = get_space(space_name)
        kw: dict[str, Any] = {
            "seed": seed,
            "dataset": args.dataset,
            "data_dir": args.data_dir,
            "workers": args.workers,
            "device": args.device,
            "indicators": indicators,
            "overrides": args.overrides,
        }
        if strategy != "prune":
            kw["budget"] = args.budget
        if strategy == "evolution":
            kw["preset"] = args.preset
        if strategy == "prune":
            kw["preset"] = args.prune_preset
            kw["draws"] = args.prune_draws

        def progress(done: int, total: int, info: str, tag: str = f"{space_name}/{strategy} seed {seed}") -> None:
            log.info("%s: %d/%d %s", tag, done, total, info)

        result = get_strategy(strategy, progress=progress, **kw).search(space)
        row = _run_row(space, result)
        report["runs"].append(row)
        report["summary"] = summarise(report["runs"])
        atomic_write_json(out, report)
        log.info(
            "%s/%s seed %d: %s (%.1f s, %d evaluations)",
            space_name,
            strategy,
            seed,
            result.arch_str,
            result.seconds,
            result.evaluations,
        )
        if result.interrupted:
            log.warning("interrupted: stopping the benchmark")
            break
    _print_summary(report["summary"])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

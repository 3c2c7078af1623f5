"""Seconds per architecture and peak memory of every indicator at paper settings.

Scores ``--n`` seeded random NB201 architectures with each indicator, one
indicator per child process (so each peak RSS is that indicator's own), and
writes a JSON report. Seconds per architecture leave out the first one, which
also builds the indicator's networks and batches (reported separately). ``--reference`` also times the NTK computed as the
official code does it (``.backward()`` per sample, reading ``.grad``) against
this package's paths on the same networks, batches and masks, and checks that
they agree; likewise NASWOT's kernel and TE-NAS's linear-region counter.

    python benchmarks/indicators.py results.json --n 50
    python benchmarks/indicators.py results.json --n 3 --reference --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tenas_automl._io import atomic_write_text
from tenas_automl.indicators import get_indicator, list_indicators
from tenas_automl.indicators._nn import (
    batch_jacobian,
    jacobian,
    logits,
    per_sample_jacobian,
    resolve_layout,
    to_layout,
    weight_parameters,
)
from tenas_automl.indicators.linear_regions import activation_codes, count_distinct
from tenas_automl.indicators.naswot import log_abs_det, naswot_kernel
from tenas_automl.indicators.ntk import condition_number, ntk_matrix
from tenas_automl.indicators.runner import make_context
from tenas_automl.scoring import iter_scores
from tenas_automl.spaces import get_space


def sample_archs(n: int, seed: int) -> list[str]:
    space = get_space("nb201")
    rng = np.random.default_rng(seed)
    return [space.format(space.sample(rng)) for _ in range(n)]


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def time_indicator(name: str, archs: list[str], seed: int, device: str, dataset: str = "cifar10") -> dict[str, Any]:
    """Score ``archs`` with one indicator; seconds per arch (first arch includes building)."""
    space = get_space("nb201")
    # Memory is the peak RSS: tracemalloc would slow Python-heavy code (deep copies) several-fold.
    start = time.perf_counter()
    results, cpu = [], []
    cpu_start = time.process_time()
    # CPU time is less disturbed than wall time by other processes on a shared machine.
    for result in iter_scores(space, archs, [name], seed=seed, device=device, dataset=dataset):
        results.append(result)
        cpu.append(time.process_time() - cpu_start)
        cpu_start = time.process_time()
    total = time.perf_counter() - start
    seconds = [r.seconds[name] for r in results]
    values = [r.values[name] for r in results]
    warm = seconds[1:] or seconds  # the first arch also builds the networks and batches
    return {
        "settings": get_indicator(name).settings.to_dict(),
        "seconds_first_arch": seconds[0],
        "seconds_per_arch_mean": statistics.fmean(warm),
        "seconds_per_arch_median": statistics.median(warm),
        "cpu_seconds_per_arch_mean": statistics.fmean(cpu[1:] or cpu),
        "seconds_total": total,
        "nonfinite": int(sum(not np.isfinite(v) for v in values)),
        "peak_rss_mb": peak_rss_mb(),
    }


def official_style_jacobian(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """As TE-NAS's ``get_ntk_n``: backward of each sample's logits, read ``.grad``, zero it."""
    net.zero_grad()
    out = net(x)
    rows = []
    for i in range(len(x)):
        out[i : i + 1].backward(torch.ones_like(out[i : i + 1]), retain_graph=True)
        rows.append(torch.cat([w.grad.view(-1).detach().clone() for n, w in net.named_parameters()
                               if "weight" in n and w.grad is not None]))  # fmt: skip
        net.zero_grad()
    return torch.stack(rows)


def time_reference(archs: list[str], seed: int, device: str, parts: tuple[str, ...] = ("ntk", "lr", "naswot")) -> dict[str, Any]:
    """The official codes' way of computing ``parts`` against this package's, on the
    same networks, batches and masks; each part also checks that the values agree."""
    report: dict[str, Any] = {}
    if "lr" in parts:
        report["lr_count"] = time_lr_reference(archs, seed, device)
    if "naswot" in parts:
        report["naswot"] = time_naswot_reference(archs, seed, device)
    if "ntk" in parts:
        report.update(time_ntk_reference(archs, seed, device))
    return report


def time_ntk_reference(archs: list[str], seed: int, device: str) -> dict[str, Any]:
    """The NTK: TE-NAS's per-sample ``.backward()`` loop against this package's paths.

    ``plan`` is the path the ``ntk`` indicator takes (``NTKSettings.plan``:
    on CPU the loop in channels-last with the fast BatchNorm/pooling
    backward); ``loop`` and ``batched`` are plain autograd on the contiguous
    batch the official code sees.
    """
    space = get_space("nb201")
    s = get_indicator("ntk").settings
    ctx = make_context(space, seed=seed, device=device)
    paths = {
        "official": lambda net, x, params: official_style_jacobian(net, x),
        "loop": per_sample_jacobian,
        "batched": lambda net, x, params: batch_jacobian(net, x, params)[0],
        "plan": lambda net, x, params: jacobian(net, x, params, *s.plan(x.device))[0],
    }
    timings: dict[str, float] = dict.fromkeys(paths, 0.0)
    cpu: dict[str, float] = dict(timings)
    max_rel_diff = 0.0
    for arch in archs:
        mask = space.arch_to_mask(space.parse(arch))
        for r in range(s.repeats):
            net = ctx.network(s, r)
            x, _ = ctx.images(s.batch_size, augment=s.augment)
            net.set_mask(mask)
            params = weight_parameters(net)
            kappas = {}
            for name, path in paths.items():
                t, c = time.perf_counter(), time.process_time()
                jac = path(net, x, params)
                timings[name] += time.perf_counter() - t
                cpu[name] += time.process_time() - c
                kappas[name] = condition_number(ntk_matrix(jac), "paper")
            k_ref = kappas["official"]
            max_rel_diff = max([max_rel_diff, *(abs(k - k_ref) / abs(k_ref) for k in kappas.values())])
    per_arch = {k: v / len(archs) for k, v in timings.items()}
    cpu_per_arch = {k: v / len(archs) for k, v in cpu.items()}
    report: dict[str, Any] = {
        "plan": list(s.plan(torch.device(device))),
        "ntk_seconds_per_arch": per_arch,
        "ntk_cpu_seconds_per_arch": cpu_per_arch,
    }
    for name in ("loop", "batched", "plan"):
        report[f"cpu_speedup_{name}_vs_official"] = cpu_per_arch["official"] / cpu_per_arch[name]
        report[f"speedup_{name}_vs_official"] = per_arch["official"] / per_arch[name]
    report["max_relative_kappa_difference"] = max_rel_diff
    return report


def official_region_count(codes: torch.Tensor) -> float:
    """TE-NAS's counter (in float32 here, fp16 there): sum_i 1 / #{j: code_j == code_i}."""
    a = codes.float()
    hamming = a @ (1 - a).T
    hamming = hamming + hamming.T
    return float((1.0 / (1 - torch.sign(hamming)).sum(1)).sum())


def official_style_codes(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """As TE-NAS's ``Linear_Region_Collector``: hooks on ``nn.ReLU`` instances with a
    4-D input keep ``sign(output)``, concatenated per sample."""
    feats: list[torch.Tensor] = []

    def hook(_mod: torch.nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if inp[0].dim() == 4:
            feats.append(out.detach())

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return torch.sign(torch.cat([f.reshape(len(x), -1) for f in feats], 1))


def time_lr_reference(archs: list[str], seed: int, device: str) -> dict[str, Any]:
    """Counting distinct codes: TE-NAS's N x N matrix vs packed ``torch.unique``;
    and our codes against codes collected as TE-NAS's hooks collect them."""
    space = get_space("nb201")
    s = get_indicator("lr").settings
    ctx = make_context(space, seed=seed, device=device)
    net = ctx.network(s)
    x = ctx.crops(s.batch_size * s.batches, size=s.input_size or 3)
    official = ours = 0.0
    agree = True
    for arch in archs:
        net.set_mask(space.arch_to_mask(space.parse(arch)))
        codes = torch.cat([activation_codes(net, b)[0] for b in x.split(s.batch_size)])
        theirs = torch.cat([official_style_codes(net, b) for b in x.split(s.batch_size)])
        agree &= torch.equal(codes, theirs.bool())
        t = time.perf_counter()
        ref = official_region_count(codes)
        official += time.perf_counter() - t
        t = time.perf_counter()
        count = count_distinct(codes)
        ours += time.perf_counter() - t
        agree &= abs(ref - count) < 1e-3 * count
    return {
        "official_matrix_seconds_per_arch": official / len(archs),
        "unique_seconds_per_arch": ours / len(archs),
        "speedup": official / ours,
        "codes_and_counts_agree": bool(agree),
    }


def official_style_naswot(net: torch.nn.Module, x: torch.Tensor) -> float:
    """As NASWOT's ``score_networks.py``: a forward and backward pass arm the ReLU
    hooks, a second forward adds ``c c^T`` and ``(1 - c)(1 - c)^T`` of every
    ReLU's input codes to a numpy K (two float32 matmuls per ReLU), then
    ``slogdet``. The official code arms a ReLU in the backward pass; here the
    first forward arms it, so ReLUs on branches our masked supernet skips
    (theirs multiplies them by zero) count as ours do. The cost is the same.
    """
    n = len(x)
    kernel = np.zeros((n, n))
    armed: set[int] = set()

    def hook(mod: torch.nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        nonlocal kernel
        if id(mod) not in armed:
            armed.add(id(mod))
            return
        c = (inp[0].reshape(n, -1) > 0).float()
        kernel = kernel + (c @ c.t()).cpu().numpy() + ((1.0 - c) @ (1.0 - c).t()).cpu().numpy()

    # As score_networks.py selects them: the type's name contains "ReLU" (ReLU-conv-BN ops too).
    handles = [m.register_forward_hook(hook) for m in net.modules() if "ReLU" in str(type(m))]
    try:
        x1 = x.clone().requires_grad_(True)
        y = logits(net, x1)
        y.backward(torch.ones_like(y))
        logits(net, x.clone())
    finally:
        for h in handles:
            h.remove()
        net.zero_grad(set_to_none=True)
    return float(np.linalg.slogdet(kernel)[1])


def time_naswot_reference(archs: list[str], seed: int, device: str) -> dict[str, Any]:
    """NASWOT's way (forward + backward + forward, two matmuls per ReLU) vs ours
    (one no-grad forward in the layout the indicator picks, one Gram matrix per
    distinct ReLU input); same network, batch and masks. The log-dets are
    compared both in that layout and, untimed, with a contiguous batch (exact)."""
    space = get_space("nb201")
    ctx = make_context(space, seed=seed, device=device)
    s = get_indicator("naswot").effective_settings(space, ctx.data)
    layout = resolve_layout(s.layout, ctx.device)
    net = ctx.network(s, 0)
    x = ctx.images(s.batch_size, index=0, augment=s.augment, input_size=s.input_size)[0]
    x_ours = to_layout(x, layout)
    official = ours = max_diff = max_diff_contiguous = 0.0
    for arch in archs:
        net.set_mask(space.arch_to_mask(space.parse(arch)))
        t = time.process_time()
        ref = official_style_naswot(net, x)
        official += time.process_time() - t
        t = time.process_time()
        kernel, _ = naswot_kernel(net, x_ours)
        value = log_abs_det(kernel)
        ours += time.process_time() - t
        contiguous = log_abs_det(naswot_kernel(net, x)[0])
        if np.isfinite(ref) and np.isfinite(value):
            max_diff = max(max_diff, abs(ref - value))
            max_diff_contiguous = max(max_diff_contiguous, abs(ref - contiguous))
    return {
        "layout": layout,
        "official_cpu_seconds_per_arch": official / len(archs),
        "ours_cpu_seconds_per_arch": ours / len(archs),
        "cpu_speedup": official / ours,
        "max_abs_logdet_difference": max_diff,
        "max_abs_logdet_difference_contiguous": max_diff_contiguous,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="JSON file to write")
    parser.add_argument("--n", type=int, default=50, help="random NB201 architectures (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--indicators", default=",".join(list_indicators()))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dataset", default="cifar10", help="whose setting (classes, input size) the indicators use")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also time the official-style computations (NTK loop, region counter, NASWOT kernel)",
    )
    parser.add_argument("--reference-parts", default="ntk,lr,naswot", help="which of them (default: all three)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: time one indicator
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    archs = sample_archs(args.n, args.seed)

    if args.worker:
        result = time_indicator(args.worker, archs, args.seed, args.device, args.dataset)
        atomic_write_text(args.output, json.dumps(result))
        return

    report: dict[str, Any] = {
        "n_archs": args.n,
        "seed": args.seed,
        "device": args.device,
        "dataset": args.dataset,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "indicators": {},
    }
    tmp = args.output.with_suffix(".worker.json")
    for name in [n.strip() for n in args.indicators.split(",") if n.strip()]:
        cmd = [sys.executable, __file__, str(tmp), "--worker", name, "--n", str(args.n),
               "--seed", str(args.seed), "--device", args.device, "--dataset", args.dataset]  # fmt: skip
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        subprocess.run(cmd, check=True)
        report["indicators"][name] = json.loads(tmp.read_text())
        r = report["indicators"][name]
        print(
            f"{name:10s} {r['seconds_per_arch_mean']:8.3f} s/arch (first {r['seconds_first_arch']:.3f},"
            f" CPU {r['cpu_seconds_per_arch_mean']:.3f})"
            f"  peak RSS {r['peak_rss_mb']:7.1f} MB",
            flush=True,
        )
    tmp.unlink(missing_ok=True)
    if args.reference:
        parts = tuple(p.strip() for p in args.reference_parts.split(",") if p.strip())
        report["reference"] = time_reference(archs, args.seed, args.device, parts)
        print(json.dumps(report["reference"], indent=2))
    atomic_write_text(args.output, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

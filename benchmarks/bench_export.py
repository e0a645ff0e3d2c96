"""ONNX export of the demo's student: parity with torch, and int8 against fp32 (accuracy, CPU latency).

    zoo-distill demo                           # trains the demo's runs (once)
    python -m benchmarks.bench_export          # exports the default method's run; results in benchmarks/results/export/

Goals (issue: "a student they can ship"): max |logit difference| <= 1e-4 and top-1 agreement >= 99.9%
between the fp32 graph and torch on the demo's test split; the int8 copy within 1 point of fp32's
accuracy, with the CPU latency of both (median of >= 50 batch-1 calls, one thread) side by side.
Run it on an idle machine: a latency taken under load is not a figure.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import onnxruntime
import torch

from zoo_distill import api
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.zoobench.demo import DEMO_METHODS, default_root


def _home_relative(value):
    """The report with paths under the home folder written as ~/..., so a kept result names no machine."""
    home = str(Path.home())
    if isinstance(value, dict):
        return {k: _home_relative(v) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(home + "/"):
        return "~" + value[len(home) :]
    return value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=None, help="Run directory (default: the demo's default method).")
    p.add_argument("--latency-runs", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/export"))
    args = p.parse_args()
    run_dir = args.run or default_root() / "runs" / next(iter(DEMO_METHODS))
    if not (run_dir / "metrics.json").is_file():
        raise SystemExit(f"{run_dir} holds no finished run: run `zoo-distill demo` first, or pass --run")
    report = api.export(
        run_dir, out=args.out / "files", int8=True, latency_runs=args.latency_runs, threads=args.threads
    )
    fp32, int8 = report["onnx"], report["int8"]
    report["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    report["goals"] = {
        "max_abs_logit_diff <= 1e-4": fp32["max_abs_logit_diff"] <= 1e-4,
        "top1_agreement >= 0.999": fp32["top1_agreement"] >= 0.999,
        "int8 within 1 point of fp32": abs(int8["test_accuracy"] - fp32["test_accuracy"]) <= 0.01,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "export.json", _home_relative(report))
    print(
        f"{run_dir} on {report['test_images']} test images, {args.threads} thread(s), "
        f"median of {args.latency_runs} batch-1 calls:\n"
    )
    print("| graph | MB | max abs logit diff vs torch | top-1 agreement with torch | test accuracy | CPU ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| fp32 | {fp32['bytes'] / 1e6:.2f} | {fp32['max_abs_logit_diff']:.1e} | {fp32['top1_agreement']:.4f} "
        f"| {fp32['test_accuracy']:.4f} | {fp32['cpu_latency_ms']:.2f} |"
    )
    print(
        f"| int8 | {int8['bytes'] / 1e6:.2f} | | {int8['top1_agreement']:.4f} | {int8['test_accuracy']:.4f} "
        f"| {int8['cpu_latency_ms']:.2f} |"
    )
    print(f"\ngoals: {report['goals']}")
    return 0 if all(report["goals"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

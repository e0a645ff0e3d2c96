"""The default method on a GPU: the same zoobench split trained on the CPU, on CUDA in float32 and
on CUDA with bf16 autocast, side by side.

    python -m benchmarks.bench_gpu                      # the mini zoobench's demo split, 20 epochs

What it checks: ``run``'s default (DistillWeighted + FixMatch with the joint teacher probe) trains
on ``--device cuda`` with and without ``--precision bf16`` (channels-last, pinned non-blocking
copies, no host sync per step), and lands where the CPU run does: test accuracy within the spread of
training seeds, not bit-identical (cuDNN's kernels sum in another order). Reported per device: test
accuracy, training seconds, student images/s and the share of the training time spent waiting for
inputs. The JSON goes to ``--out``/gpu.json. Needs a CUDA device; exits with a message otherwise.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any


def _one(
    data: Any,
    build: Any,
    student: str,
    zoo: Any,
    cache: Any,
    device: str,
    precision: str,
    epochs: int,
    seed: int,
    out: Path,
) -> dict[str, Any]:
    from zoo_distill import api

    started = time.perf_counter()
    result = api.run(
        data,
        zoo,
        out=out,
        overwrite=True,
        cache_dir=cache.root,
        device=device,
        precision=precision,
        epochs=epochs,
        seed=seed,
        student=student,
        student_init=str(build.generic[student]),
    )
    m = result.metrics
    return {
        "device": device,
        "precision": precision,
        "seed": seed,
        "test_accuracy": m["test_accuracy"],
        "train_s": m["train_seconds"],
        "wall_s": time.perf_counter() - started,
        "images_per_second": m["throughput"]["images_per_second"],
        "data_wait_share": m["throughput"]["data_wait_share"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="zoobench folder (default: <cache>/zoobench/<preset>, the one `zoo-distill demo` builds)",
    )
    parser.add_argument("--preset", default="mini", choices=["mini", "full"])
    parser.add_argument("--target", default="shapes-on-textures")
    parser.add_argument("--split", default="5shot-s0")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds on the GPU")
    parser.add_argument("--cpu-seeds", type=int, nargs="*", default=[0], help="training seeds on the CPU")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu"))
    args = parser.parse_args()

    import timm
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_gpu: no CUDA device is visible to torch; run it on a machine with a GPU")
    from zoo_distill.util.atomic import atomic_write_json
    from zoo_distill.zoobench.spec import ZoobenchSettings
    from zoo_distill.zoobench.workspace import default_root, load_split, open_workspace

    settings = ZoobenchSettings.mini() if args.preset == "mini" else ZoobenchSettings.full()
    root = args.root or default_root(args.preset)
    started = time.perf_counter()
    build, zoo, _, cache = open_workspace(root, settings)
    build_s = time.perf_counter() - started
    data = load_split(build, args.target, args.split)
    rows = []
    for device, precision in (("cpu", "fp32"), ("cuda", "fp32"), ("cuda", "bf16")):
        for seed in args.cpu_seeds if device == "cpu" else args.seeds:
            row = _one(
                data,
                build,
                settings.student_arch,
                zoo,
                cache,
                device,
                precision,
                args.epochs,
                seed,
                root / "runs" / "gpu",
            )
            rows.append(row)
            print(
                f"{device} {precision} seed {seed}: test {row['test_accuracy']:.4f}  train {row['train_s']:.1f} s  "
                f"{row['images_per_second']:.0f} img/s  waiting {row['data_wait_share']:.1%}",
                flush=True,
            )
    name = torch.cuda.get_device_name(0)
    print(
        f"\n{args.preset} zoobench, {args.target} {args.split}, {args.epochs} epochs, the default method; "
        f"{name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads; zoo built in {build_s:.0f} s\n"
    )
    print("| device | precision | seed | test accuracy | training s | images/s | waiting for inputs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['device']} | {r['precision']} | {r['seed']} | {r['test_accuracy']:.3f} | {r['train_s']:.1f} "
            f"| {r['images_per_second']:.0f} | {r['data_wait_share']:.1%} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        args.out / "gpu.json",
        {
            "machine": {
                "platform": platform.platform(),
                "gpu": name,
                "torch": torch.__version__,
                "timm": timm.__version__,
                "cpu_threads": torch.get_num_threads(),
            },
            "settings": {"preset": args.preset, "target": args.target, "split": args.split, "epochs": args.epochs},
            "build_s": build_s,
            "rows": rows,
        },
    )
    print(f"\nwrote {args.out / 'gpu.json'}")


if __name__ == "__main__":
    main()

"""Seconds per epoch of plain fine-tuning vs distillation from cached teachers.

    python benchmarks/bench_distill.py --example-dir ./zd-example

Same student, same data, same steps per epoch, in one run:
  (a)  plain fine-tuning, labeled batch B per step (what `baseline finetune` runs), and
  (a') plain fine-tuning on B(1 + mu) images per step: the same number of student images per step
       as distillation, so (b)/(a') is the overhead of distillation itself;
  (b)  distillation with teacher targets read from the cached view bank, 1 and 4 sources;
  (c)  distillation with --online-teachers, 4 sources (teachers run on every step).
Target: (b) <= 1.2x (a') and far below (c). The one-time cost of building the view bank is
printed separately. Each figure is the median over the timed epochs after one warm-up epoch.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.pool import ImagePool
from zoo_distill.data.target import load_target
from zoo_distill.example import build_example
from zoo_distill.features.bank import build_bank
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import get_registry
from zoo_distill.synthetic import generate, write_image_folder, write_unlabeled
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.loop import train
from zoo_distill.training.methods.distill import distill_objective
from zoo_distill.training.methods.finetune import FineTune
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.training.student import create_student
from zoo_distill.util.progress import make_progress
from zoo_distill.zoo.file import load_zoo


def make_target(root: Path, labeled_per_class: int, unlabeled_per_class: int) -> Path:
    classes = list(range(10))
    images, labels, names = generate("digits", labeled_per_class, 101, classes=classes)
    write_image_folder(root, "train", images, labels, names)
    images, _, _ = generate("digits", unlabeled_per_class, 102, classes=classes)
    write_unlabeled(root, images)
    return root


def epoch_seconds(method, config: TrainConfig, n_labeled: int, n_unlabeled: int, epochs: int) -> float:
    result = train(method, config, n_labeled, n_unlabeled, None)
    return statistics.median(row["seconds"] for row in result.history[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example-dir", type=Path, default=Path("zd-example"))
    parser.add_argument("--student", default="resnet10t")
    parser.add_argument("--labeled-per-class", type=int, default=5)
    parser.add_argument("--unlabeled-per-class", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mu", type=int, default=2)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="1 warm-up + timed epochs")
    args = parser.parse_args()
    torch.manual_seed(0)

    with make_progress() as progress:
        build = build_example(args.example_dir, progress=progress)
    registry = get_registry()
    zoo = load_zoo(build.zoo, registry)
    names = list(zoo.entries)[:4]
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        data = load_target(make_target(Path(tmp) / "target", args.labeled_per_class, args.unlabeled_per_class))
        n_l, n_u = len(data.train), len(data.unlabeled)
        labels = np.asarray(data.train.labels)
        cache = FeatureCache(Path(tmp) / "cache")
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, mu=args.mu)
        dcfg = DistillOptions(views=args.views)
        paths = list(data.train.paths) + list(data.unlabeled)
        entries = {n: (zoo.entries[n], registry.provider(zoo.entries[n].provider)) for n in names}
        start = time.perf_counter()
        bank = build_bank(entries, paths, args.views, ViewPolicy(), dcfg.view_seed, cache)
        bank_seconds = time.perf_counter() - start

        def student():
            return create_student(args.student, len(data.class_names), "scratch", 32)

        def distill(sources):
            alpha = {s: 1 / len(sources) for s in sources}
            return distill_objective(
                student(),
                ImagePool(data.train.paths),
                labels,
                ImagePool(data.unlabeled),
                alpha,
                {s: bank[s] for s in sources},
                device,
                dcfg,
            )

        steps = config.resolved_steps(n_l, n_u)
        wide = TrainConfig(epochs=args.epochs, batch_size=args.batch_size * (1 + args.mu), mu=0, steps_per_epoch=steps)
        rows = [
            (
                "(a) fine-tuning, B per step",
                epoch_seconds(
                    FineTune(student(), ImagePool(data.train.paths), labels, device), config, n_l, n_u, args.epochs
                ),
            ),
            (
                "(a') fine-tuning, B(1+mu) per step",
                epoch_seconds(
                    FineTune(student(), ImagePool(data.train.paths), labels, device), wide, n_l, n_u, args.epochs
                ),
            ),
            ("(b) distill, cached, 1 source", epoch_seconds(distill(names[:1]), config, n_l, n_u, args.epochs)),
            ("(b) distill, cached, 4 sources", epoch_seconds(distill(names), config, n_l, n_u, args.epochs)),
        ]
    base = rows[1][1]
    print(f"machine: {platform.machine()}, torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(
        f"student {args.student} at 32x32, teachers resnet10t; {n_l} labeled + {n_u} unlabeled images, "
        f"B={args.batch_size}, mu={args.mu}, {steps} steps/epoch, V={args.views} views\n"
    )
    print("| setting | s/epoch | vs (a') |\n|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f}x |")
    print(
        f"\none-time view bank for {len(names)} teachers x {args.views} views x {n_l + n_u} images: "
        f"{bank_seconds:.1f} s"
    )


if __name__ == "__main__":
    main()

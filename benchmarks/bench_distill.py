"""Seconds per epoch of plain fine-tuning vs distillation from cached teachers.

    python -m benchmarks.bench_distill --example-dir ./zd-example

Same student, same data, same steps per epoch, in one run:
  (a)  plain fine-tuning, labeled batch B per step (what `baseline finetune` runs), and
  (a') plain fine-tuning on B(1 + mu) images per step: the same number of student images per step
       as distillation, so (b)/(a') is the overhead of distillation itself;
  (b)  distillation with teacher targets read from the cached view bank, 1 and 4 sources;
  (c)  distillation with --online-teachers, 4 sources (teachers run on every step).
Target: (b) <= 1.2x (a') and far below (c). Every setting is one ``zoo_distill.run``; the
one-time cost of the first distillation's setup (its view bank, into an empty cache) is printed
separately. Each figure is the median over the timed epochs after one warm-up epoch.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch

from benchmarks.harness.timing import epoch_seconds, setup_seconds, timed_run
from zoo_distill import api
from zoo_distill.example import build_example
from zoo_distill.synthetic import generate, write_image_folder, write_unlabeled
from zoo_distill.training.config import TrainConfig
from zoo_distill.util.progress import make_progress


def make_target(root: Path, labeled_per_class: int, unlabeled_per_class: int) -> Path:
    classes = list(range(10))
    images, labels, names = generate("digits", labeled_per_class, 101, classes=classes)
    write_image_folder(root, "train", images, labels, names)
    images, _, _ = generate("digits", unlabeled_per_class, 102, classes=classes)
    write_unlabeled(root, images)
    return root


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
    zoo = api.load_zoo(build.zoo)
    names = list(zoo.entries)[:4]
    student = {"student": args.student, "student_init": "scratch", "input_size": 32, "epochs": args.epochs}
    with tempfile.TemporaryDirectory() as tmp:
        target = make_target(Path(tmp) / "target", args.labeled_per_class, args.unlabeled_per_class)
        data = api.load_target(target)
        n_l, n_u = len(data.train), len(data.unlabeled)
        cache, runs = Path(tmp) / "cache", Path(tmp) / "runs"
        config = {"batch_size": args.batch_size, "mu": args.mu}
        steps = TrainConfig(epochs=args.epochs, **config).resolved_steps(n_l, n_u)
        wide = {"batch_size": args.batch_size * (1 + args.mu), "mu": 0, "steps_per_epoch": steps}

        def distill(sources: list[str]):
            return timed_run(
                data,
                zoo,
                runs / f"distill-{len(sources)}",
                cache,
                aggregator="uniform",
                sources=sources,
                views=args.views,
                **student,
                **config,
            )

        every = distill(names)  # first, into the empty cache: its setup builds the view bank
        finetune = timed_run(data, None, runs / "ft", None, method="finetune", **student, **config)
        finetune_wide = timed_run(data, None, runs / "ft-wide", None, method="finetune", **student, **wide)
        rows = [
            ("(a) fine-tuning, B per step", epoch_seconds(finetune)),
            ("(a') fine-tuning, B(1+mu) per step", epoch_seconds(finetune_wide)),
            ("(b) distill, cached, 1 source", epoch_seconds(distill(names[:1]))),
            ("(b) distill, cached, 4 sources", epoch_seconds(every)),
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
        f"\none-time setup of the first distillation ({len(names)} teachers x {args.views} views x "
        f"{n_l + n_u} images into an empty cache: the view bank, the checks and saving the student): "
        f"{setup_seconds(every):.1f} s"
    )


if __name__ == "__main__":
    main()

"""The data path at real size: the teacher bank on disk (``--part bank``) and the training input
pipeline (``--part input``).

    python benchmarks/bench_pipeline.py --part bank     # N = 10k, 50k, 100k; D = 2048; V = 2
    python benchmarks/bench_pipeline.py --part input    # 500x375 JPEGs, 224-px resnet18 student

Part ``bank``: for each N, in a fresh process (so one size's memory does not hide another's), a
fake teacher writes V views of N x D random float32 features into the feature cache batch by batch
through the same streaming writer ``extract`` uses (the teacher is not the point here; the bank's
storage is), then one epoch of distillation reads is run: batches of B rows, each row from a random
view, as ``Distill`` reads them. Reported per N: the bank's size on disk, the peak growth of the
process's RSS while writing and while reading (sampled after every batch), that growth as a share
of the size on disk (target: <= 10% at N = 100k), the read time per batch, and, as a control, the
RSS growth when the same rows are read through memory maps instead. The in-RAM bank it replaces
held V x N x D float16 per source. The page cache is warm (the files were just written).

Part ``input``: photo-like JPEGs of ``--image-size`` (500x375) are generated (10 classes x 4
labeled, 240 unlabeled, 240 test: a test split as large as the unlabeled pool). Measured side by
side in one process: (1) the input pipeline alone, the distillation inputs of 224-px student
views (views, student preprocessing, bank rows of a [V, N, 2048] bank) from the decoded pool, in
images/s with 0, 1 and 2 DataLoader workers (``--workers``; steady state: from the first step received to the
last); (2) the resnet18 student's training step alone on ready inputs (forward, backward, SGD),
images/s; (3) the training loop with both, the share of its time spent waiting for inputs, with the
same worker counts; (4) one end-to-end ``run`` (ranking, a bank from a resnet50-shaped teacher with
random weights, 2 epochs, evaluation at the defaults' schedule for 2 epochs: every epoch), with
evaluation's share of the wall time, and that share projected for the default 30 epochs (4
evaluations) from the measured per-epoch and per-evaluation seconds.

All figures come from one run; the JSON goes to ``--out`` (``bank.json``, ``input.json``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _rss() -> int:
    """This process's resident set size in bytes (Linux ``/proc``)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))


def _bank_at(n: int, d: int, views: int, batch: int, root: str, results: Any) -> None:
    """One size, in its own process: write the bank, read an epoch from it, then the mapped control."""
    import torch

    from zoo_distill.features.bank import TeacherBank
    from zoo_distill.features.cache import FeatureCache

    torch.set_num_threads(1)
    cache, rng = FeatureCache(root), np.random.default_rng(0)

    def write(key: str, rows: int) -> tuple[Any, int, float]:
        peak, start = _rss(), time.perf_counter()
        with cache.writer("fake-teacher", key, {"features": ((rows, d), np.float32)}, {"teacher": "fake"}) as w:
            for first in range(0, rows, batch):  # what extract does with each batch the teacher returns
                w.write("features", first, rng.standard_normal((min(batch, rows - first), d), dtype=np.float32))
                peak = max(peak, _rss())
        return cache.locate("fake-teacher", key)["features"], peak, time.perf_counter() - start

    warm_rows, _, _ = write("w" * 64, 2 * batch)  # first use allocates what later batches reuse
    TeacherBank([warm_rows])[torch.zeros(batch, dtype=torch.long), torch.arange(batch)]
    base = _rss()
    written = [write(f"{v}" * 64, n) for v in range(views)]
    bank = TeacherBank([rows for rows, _, _ in written])
    write_peak, write_s = max(p for _, p, _ in written), sum(s for _, _, s in written)

    order, read_peak, seconds = rng.permutation(n), _rss(), []
    for first in range(0, n, batch):
        it = torch.as_tensor(order[first : first + batch])
        vt = torch.as_tensor(rng.integers(0, views, len(it)))
        start = time.perf_counter()
        rows = bank[vt, it].to("cpu")
        seconds.append(time.perf_counter() - start)
        assert rows.shape == (len(it), d)
        read_peak = max(read_peak, _rss())

    before = _rss()
    mapped = [r.memmap() for r in bank.views]
    for first in range(0, n, batch):
        for array in mapped:
            np.asarray(array[np.sort(order[first : first + batch])])
    mapped_growth = _rss() - before
    disk = sum(r.path.stat().st_size for r in bank.views)
    results.put(
        {
            "n": n,
            "d": d,
            "views": views,
            "batch": batch,
            "disk_bytes": disk,
            "in_ram_bank_bytes": views * n * d * 2,
            "write_rss_growth": write_peak - base,
            "read_rss_growth": read_peak - base,
            "write_s": write_s,
            "read_ms_per_batch": 1000 * statistics.median(seconds),
            "mapped_rss_growth": mapped_growth,
        }
    )


def bench_bank(args: argparse.Namespace) -> dict[str, Any]:
    """Part ``bank``: one fresh process per N, run one after the other."""
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for n in args.sizes:
        root = tempfile.mkdtemp(prefix="zd-bench-bank-", dir=args.work_dir)
        try:
            results = ctx.Queue()
            proc = ctx.Process(target=_bank_at, args=(n, args.d, args.views, args.batch, root, results))
            proc.start()
            rows.append(results.get(timeout=3600))
            proc.join()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"\nbank: V = {args.views} views, D = {args.d}, float32 on disk, read as float16 in batches of "
        f"{args.batch} rows (random view per row), one epoch; RSS growth over the process's baseline\n"
    )
    print(
        "| N | on disk | in-RAM bank it replaces | RSS growth, writing | RSS growth, reading | reading / disk "
        "| read ms/batch | RSS growth, memory-mapped reads |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        mib = 2**20
        print(
            f"| {r['n']:,} | {r['disk_bytes'] / mib:,.1f} MiB | {r['in_ram_bank_bytes'] / mib:,.1f} MiB "
            f"| {r['write_rss_growth'] / mib:.1f} MiB | {r['read_rss_growth'] / mib:.1f} MiB "
            f"| {r['read_rss_growth'] / r['disk_bytes']:.2%} | {r['read_ms_per_batch']:.2f} "
            f"| {r['mapped_rss_growth'] / mib:,.0f} MiB |"
        )
    largest = max(rows, key=lambda r: r["n"])
    share = max(largest["read_rss_growth"], largest["write_rss_growth"]) / largest["disk_bytes"]
    print(
        f"\nN = {largest['n']:,}: RSS growth {share:.2%} of the bank's size on disk (target <= 10%): "
        f"{'ok' if share <= 0.10 else 'MISSED'}"
    )
    return {
        "settings": {"sizes": args.sizes, "d": args.d, "views": args.views, "batch": args.batch},
        "rows": rows,
        "target_share": 0.10,
        "share_at_largest": share,
    }


# --- part "input": the training input pipeline -----------------------------------------------------


def _photo(rng: np.random.Generator, size: tuple[int, int], tint: np.ndarray) -> Any:
    """A photo-like RGB image: smooth colour fields, edges and sensor noise (JPEG-compresses like a
    photo, ~30-60 KB at quality 90 and 500x375, where pure noise would be ~4x larger)."""
    from PIL import Image, ImageFilter

    w, h = size
    field = (rng.random((6, 8, 3)) * 200 + tint).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(field).resize((w, h), Image.BICUBIC)
    shapes = (rng.random((h // 25, w // 25, 3)) * 255).astype(np.uint8)
    img = Image.blend(
        img, Image.fromarray(shapes).resize((w, h), Image.NEAREST).filter(ImageFilter.GaussianBlur(2)), 0.3
    )
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def _write_target(root: Path, classes: int, per_class: int, unlabeled: int, test: int, size: tuple[int, int]) -> Path:
    rng = np.random.default_rng(0)
    tints = rng.random((classes, 3)) * 110 - 55
    for split, per in (("train", per_class), ("test", -(-test // classes))):
        for k in range(classes):
            (root / split / f"c{k}").mkdir(parents=True, exist_ok=True)
            for i in range(per):
                _photo(rng, size, tints[k]).save(root / split / f"c{k}" / f"{i:04d}.jpg", quality=90)
    (root / "unlabeled").mkdir(parents=True, exist_ok=True)
    for i in range(unlabeled):
        _photo(rng, size, tints[i % classes]).save(root / "unlabeled" / f"u{i:05d}.jpg", quality=90)
    return root


def _distill_method(data: Any, pools: tuple[Any, Any], args: argparse.Namespace) -> Any:
    """Distillation of a fresh student from a [V, N, 2048] float16 bank of random rows (the bank's
    storage is part ``bank``'s subject; here it is what a step reads), on the decoded ``pools``."""
    import torch

    from zoo_distill.training.methods.distill import distill_objective
    from zoo_distill.training.methods.options import DistillOptions
    from zoo_distill.training.student import create_student

    n = len(data.train) + len(data.unlabeled)
    bank = torch.randn(args.views, n, 2048, generator=torch.Generator().manual_seed(0)).half()
    torch.manual_seed(0)
    student = create_student(args.student, len(data.class_names), "scratch", args.input_size)
    return distill_objective(
        student,
        pools[0],
        np.asarray(data.train.labels),
        pools[1],
        {"fake": 1.0},
        {"fake": bank},
        torch.device(args.device),
        DistillOptions(views=args.views),
    )


def _input_rate(method: Any, data: Any, args: argparse.Namespace, workers: int) -> float:
    """Student images/s of the input pipeline alone (no model), steady state."""
    from zoo_distill.training.pipeline import StepDataset, StepPlan, step_loader, unwrap

    plan = StepPlan(0, len(data.train), len(data.unlabeled), args.input_batch, args.mu * args.input_batch)
    images, started = 0, None
    for item in step_loader(StepDataset(plan, method.make_inputs), 0, 1, args.steps + 1, workers):
        if started is None:  # the first step includes the workers' start
            started = time.perf_counter()
            continue
        images += int(unwrap(item)["x"].shape[0])
    return images / (time.perf_counter() - started)


def _student_rate(method: Any, data: Any, args: argparse.Namespace) -> float:
    """Student images/s of the training step alone, on inputs made beforehand (already on the device,
    in the layout and precision ``train`` uses)."""
    import torch

    from zoo_distill.training.loop import autocast, place_modules
    from zoo_distill.training.pipeline import StepPlan, to_device

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    plan = StepPlan(0, len(data.train), len(data.unlabeled), args.input_batch, args.mu * args.input_batch)
    ready = [
        to_device(method.make_inputs(plan.batch(0, s)), device, channels_last=cuda)
        for s in range(min(args.steps, 4) + 1)
    ]
    place_modules(method.modules().values(), device)  # as train() does
    for module in method.modules().values():
        module.train()
    params = [p for m in method.modules().values() for p in m.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    images, started = 0, 0.0
    for k in range(2 * len(ready) - 1):  # the first step warms up (cuDNN autotuning on a GPU)
        inputs = ready[k % len(ready)]
        if k == 1:
            if cuda:
                torch.cuda.synchronize(device)
            started = time.perf_counter()
        with autocast(device, args.precision):
            loss, _ = method.loss(inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        images += int(inputs["x"].shape[0]) if k else 0
    if cuda:
        torch.cuda.synchronize(device)
    return images / (time.perf_counter() - started)


def _loop_wait(data: Any, pools: tuple[Any, Any], args: argparse.Namespace, workers: int) -> dict[str, float]:
    """The training loop with its inputs: images/s and the share of its time waiting for inputs."""
    from zoo_distill.training.config import TrainConfig
    from zoo_distill.training.loop import train

    method = _distill_method(data, pools, args)  # a fresh student: every worker count trains the same steps
    config = TrainConfig(
        epochs=1,
        batch_size=args.input_batch,
        mu=args.mu,
        steps_per_epoch=args.steps,
        workers=workers,
        device=args.device,
        precision=args.precision,
    )
    return train(method, config, len(data.train), len(data.unlabeled), None).throughput


def _end_to_end(target: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One ``run`` at the input size: ranking, the bank from a resnet50-shaped teacher, training, evaluation."""
    import timm
    import torch
    import yaml
    from safetensors.torch import save_file

    from zoo_distill import api

    torch.manual_seed(0)
    teacher = timm.create_model(args.teacher, num_classes=0)
    save_file({k: v.contiguous() for k, v in teacher.state_dict().items()}, str(work / "teacher.safetensors"))
    cfg = {
        "input_size": [3, args.input_size, args.input_size],
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "bilinear",
        "crop_pct": 0.875,
    }
    zoo = work / "zoo.yaml"
    zoo.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "sources": [
                    {
                        "name": "teacher",
                        "provider": "local",
                        "weights": "teacher.safetensors",
                        "arch": args.teacher,
                        "num_classes": 0,
                        "pretrained_cfg": cfg,
                    }
                ],
            }
        )
    )
    started = time.perf_counter()
    outcome = api.run(
        target,
        zoo,
        out=work / "run",
        cache_dir=work / "cache",
        student=args.student,
        student_init="scratch",
        input_size=args.input_size,
        epochs=args.run_epochs,
        batch_size=args.input_batch,
        mu=args.mu,
        views=args.views,
        device=args.device,
        precision=args.precision,
    )
    m, wall = outcome.metrics, time.perf_counter() - started
    evaluations = len(m["evaluation"]["epochs"])
    per_eval = m["evaluation"]["seconds"] / max(evaluations, 1)
    per_epoch = (m["train_seconds"] - m["evaluation"]["seconds"]) / args.run_epochs
    default_share = 4 * per_eval / (30 * per_epoch + 4 * per_eval)  # 30 epochs, evaluated 4 times
    return {
        "wall_s": wall,
        "train_s": m["train_seconds"],
        "setup_s": wall - m["train_seconds"],
        "epochs": args.run_epochs,
        "evaluated_epochs": m["evaluation"]["epochs"],
        "eval_s": m["evaluation"]["seconds"],
        "eval_share": m["evaluation"]["seconds"] / wall,
        "epoch_train_s": per_epoch,
        "eval_s_each": per_eval,
        "default_eval_share": default_share,
        "throughput": m["throughput"],
        "test_images": m["data"]["test"],
        "unlabeled": m["data"]["unlabeled"],
    }


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else device


def bench_input(args: argparse.Namespace) -> dict[str, Any]:
    """Part ``input``: input images/s by worker count, the student step, waiting, one end-to-end run."""
    import torch

    from zoo_distill.data.pool import ImagePool
    from zoo_distill.data.target import load_target
    from zoo_distill.training.pipeline import preload

    work = Path(tempfile.mkdtemp(prefix="zd-bench-input-", dir=args.work_dir))
    try:
        target = _write_target(
            work / "target", args.classes, args.labeled_per_class, args.unlabeled, args.test, tuple(args.image_size)
        )
        data = load_target(target)
        jpeg_kib = statistics.median(p.stat().st_size for p in data.unlabeled) / 1024
        pools = ImagePool(data.train.paths), ImagePool(data.unlabeled)
        preload(pools, 2)  # decoded once, as training does before its workers start
        method = _distill_method(data, pools, args)
        rates = {w: _input_rate(method, data, args, w) for w in args.workers}
        student = _student_rate(method, data, args)
        loops = {w: _loop_wait(data, pools, args, w) for w in args.workers}
        run = _end_to_end(target, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    w, h = args.image_size
    step = args.input_batch * (1 + args.mu)
    print(
        f"\ninput: {w}x{h} JPEGs (median {jpeg_kib:.0f} KiB) -> {args.input_size}-px {args.student} inputs, "
        f"{step} images per step (B = {args.input_batch}, mu = {args.mu}), V = {args.views}, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads in the main process, "
        f"device {_device_name(args.device)}, {args.precision}\n"
    )
    first = args.workers[0]
    print(
        f"| workers | input images/s (pipeline alone) | vs {first} workers | training loop images/s "
        "| waiting for inputs |"
    )
    print("|---:|---:|---:|---:|---:|")
    for k in args.workers:
        print(
            f"| {k} | {rates[k]:.0f} | {rates[k] / rates[first]:.2f}x | {loops[k]['images_per_second']:.1f} "
            f"| {loops[k]['data_wait_share']:.1%} |"
        )
    print(f"\nstudent step alone ({args.student}, forward + backward + SGD, ready inputs): {student:.1f} images/s")
    print(
        f"\nend to end: `run` with a {args.teacher}-shaped teacher, {args.student} student at {args.input_size} px, "
        f"{run['unlabeled']} unlabeled and {run['test_images']} test images, {run['epochs']} epochs "
        f"(evaluated after epochs {run['evaluated_epochs']})\n"
    )
    print(
        "| wall s | checks, ranking, bank, export s | training s | evaluation s | evaluation / wall | "
        "projected for 30 epochs, 4 evaluations | images/s | waiting for inputs |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {run['wall_s']:.1f} | {run['setup_s']:.1f} | {run['train_s']:.1f} | {run['eval_s']:.1f} "
        f"| {run['eval_share']:.1%} | {run['default_eval_share']:.1%} | "
        f"{run['throughput']['images_per_second']:.1f} | {run['throughput']['data_wait_share']:.1%} |"
    )
    goals = {"2 workers >= 1.7x the input throughput of 0": rates[2] / rates[0] >= 1.7} if {0, 2} <= set(rates) else {}
    goals |= {
        "waiting for inputs <= 10% (default workers, end to end)": run["throughput"]["data_wait_share"] <= 0.10,
        "evaluation <= 10% of the wall time (defaults, 30 epochs)": run["default_eval_share"] <= 0.10,
    }
    print()
    for goal, met in goals.items():
        print(f"{goal}: {'ok' if met else 'MISSED'}")
    return {
        "settings": {
            "image_size": args.image_size,
            "input_size": args.input_size,
            "student": args.student,
            "device": _device_name(args.device),
            "precision": args.precision,
            "workers": args.workers,
            "teacher": args.teacher,
            "batch": args.input_batch,
            "mu": args.mu,
            "views": args.views,
            "steps": args.steps,
            "classes": args.classes,
            "labeled_per_class": args.labeled_per_class,
            "unlabeled": args.unlabeled,
            "test": args.test,
            "run_epochs": args.run_epochs,
            "main_threads": torch.get_num_threads(),
        },
        "jpeg_kib_median": jpeg_kib,
        "input_images_per_second": rates,
        "student_images_per_second": student,
        "loop": loops,
        "end_to_end": run,
        "goals": goals,
    }


PARTS = {"bank": bench_bank, "input": bench_input}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["bank", "input", "all"], default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000], help="N per bank")
    parser.add_argument("--d", type=int, default=2048, help="feature dimension D")
    parser.add_argument("--views", type=int, default=2, help="views V per source")
    parser.add_argument("--batch", type=int, default=256, help="rows per write and per read")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where the bank files and the generated images go (default: $TMPDIR)",
    )
    inputs = parser.add_argument_group("part input")
    inputs.add_argument("--image-size", type=int, nargs=2, default=[500, 375], metavar=("W", "H"))
    inputs.add_argument("--input-size", type=int, default=224, help="the student's (and teacher's) input side")
    inputs.add_argument("--student", default="resnet18")
    inputs.add_argument("--teacher", default="resnet50", help="architecture of the end-to-end run's teacher")
    inputs.add_argument("--classes", type=int, default=10)
    inputs.add_argument("--labeled-per-class", type=int, default=4)
    inputs.add_argument("--unlabeled", type=int, default=240)
    inputs.add_argument("--test", type=int, default=240)
    inputs.add_argument("--input-batch", type=int, default=16, help="labeled images per step, B")
    inputs.add_argument("--mu", type=int, default=2)
    inputs.add_argument("--steps", type=int, default=8, help="timed steps of the pipeline and the loop")
    inputs.add_argument("--run-epochs", type=int, default=2, help="epochs of the end-to-end run")
    inputs.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="DataLoader worker counts compared (the end-to-end run uses the default)",
    )
    inputs.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N: where the student trains")
    inputs.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pipeline"))
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        parser.error("RSS is read from /proc: Linux only")
    parts = list(PARTS) if args.part == "all" else [args.part]
    missing = [p for p in parts if p not in PARTS]
    if missing:
        parser.error(f"part {', '.join(missing)} is not written yet; available: {', '.join(PARTS)}")

    from zoo_distill.util.atomic import atomic_write_json

    args.out.mkdir(parents=True, exist_ok=True)
    machine = {
        "platform": platform.platform(),
        "cpus": multiprocessing.cpu_count(),
        "python": platform.python_version(),
    }
    for part in parts:
        result = PARTS[part](args)
        atomic_write_json(args.out / f"{part}.json", {"part": part, "machine": machine, **result})
        print(f"\nwrote {args.out / f'{part}.json'}")


if __name__ == "__main__":
    main()

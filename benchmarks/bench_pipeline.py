"""The data path at real size: the teacher bank on disk (``--part bank``), the decoded-image store
(``--part store``) and the training inputs (``--part input``).

    python -m benchmarks.bench_pipeline --part bank     # N = 10k, 50k, 100k; D = 2048; V = 2
    python -m benchmarks.bench_pipeline --part store    # N = 10k, 100k images of 256 x 341 px
    python -m benchmarks.bench_pipeline --part input    # 500x375 JPEGs, 224-px resnet18 student

Part ``bank``: for each N, in a fresh process (so one size's memory does not hide another's), a
fake teacher writes V views of N x D random float32 features into the feature cache batch by batch
through the same streaming writer ``extract`` uses (the teacher is not the point here; the bank's
storage is), then one epoch of distillation reads is run: batches of B rows, each row from a random
view, as ``Distill`` reads them. Reported per N: the bank's size on disk, the peak growth of the
process's RSS while writing and while reading (sampled after every batch), that growth as a share
of the size on disk (target: <= 10% at N = 100k), the read time per batch, and, as a control, the
RSS growth when the same rows are read through memory maps instead. The in-RAM bank it replaces
held V x N x D float16 per source. The page cache is warm (the files were just written).

Part ``store``: for each N, in a fresh process, N uint8 images of 256 x 341 px go through the store's
writer (``write_store_file``, as ``open_store`` writes decoded images), the file is opened (its sha256
verified) and an epoch of random batches is read as training reads them: the size on disk, the write
and open times, the RSS growth while writing and reading, as a share of the size on disk (target:
<= 10% at N = 100k), and the read time per batch.

Part ``input``: photo-like JPEGs of ``--image-size`` (500x375) are generated (10 classes x 4
labeled, 240 unlabeled, 240 test: a test split as large as the unlabeled pool). Measured side by
side in one process: (0) the image store's build (decoding in 2 processes) and its size on disk;
(1) the inputs of the default method (weak views of every image of a step, strong views of its
unlabeled ones, bank rows of a [V, N, 2048] bank) at 224 px, in images/s: made as before 0.3, one
image at a time with PIL from decoded images (``harness/pil_views.py``), and as now, store rows read
by 0, 1 or 2 DataLoader workers (``--workers``) with every view made in batch on ``--device``
(steady state: from the first step received to the last); the bank's rows of one view likewise,
PIL against batched; (2) the resnet18 student's training step (forward, backward, SGD), with its
views made from ready store rows and on views made beforehand, images/s; (3) the training loop
with both, its images/s against the step's and the share of its time spent waiting for inputs,
with the same worker counts; (4) one end-to-end ``run`` (ranking, a bank from a resnet50-shaped
teacher with random weights, 2 epochs, evaluation at the defaults' schedule for 2 epochs: every
epoch), with evaluation's share of the wall time, and that share projected for the default 30
epochs (4 evaluations) from the measured per-epoch and per-evaluation seconds.

All figures come from one run; the JSON goes to ``--out`` (``bank.json``, ``store.json``, ``input.json``).
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


def _in_a_fresh_process(target: Any, args: tuple, prefix: str, work_dir: Path | None) -> dict[str, Any]:
    """``target(*args, folder, queue)`` in a spawned process (so one size's memory does not hide
    another's), in a scratch folder removed afterwards; its one result from the queue."""
    ctx = multiprocessing.get_context("spawn")
    root = tempfile.mkdtemp(prefix=prefix, dir=work_dir)
    try:
        results = ctx.Queue()
        proc = ctx.Process(target=target, args=(*args, root, results))
        proc.start()
        row = results.get(timeout=7200)
        proc.join()
        return row
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _largest_share(rows: list[dict[str, Any]], what: str) -> float:
    """The RSS growth (writing or reading) at the largest N as a share of the file's size; printed."""
    largest = max(rows, key=lambda r: r["n"])
    share = max(largest["read_rss_growth"], largest["write_rss_growth"]) / largest["disk_bytes"]
    print(
        f"\nN = {largest['n']:,}: RSS growth {share:.2%} of the {what}'s size on disk (target <= 10%): "
        f"{'ok' if share <= 0.10 else 'MISSED'}"
    )
    return share


def bench_bank(args: argparse.Namespace) -> dict[str, Any]:
    """Part ``bank``: one fresh process per N, run one after the other."""
    rows = [
        _in_a_fresh_process(_bank_at, (n, args.d, args.views, args.batch), "zd-bench-bank-", args.work_dir)
        for n in args.sizes
    ]
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
    share = _largest_share(rows, "bank")
    return {
        "settings": {"sizes": args.sizes, "d": args.d, "views": args.views, "batch": args.batch},
        "rows": rows,
        "target_share": 0.10,
        "share_at_largest": share,
    }


def _store_at(n: int, side: int, batch: int, root: str, results: Any) -> None:
    """One store size, in its own process: write N images of ``side`` x 4/3 ``side`` px, open it (its
    checksum verified), then read an epoch of random batches as training does."""
    from zoo_distill.data.store import load_store_file, write_store_file

    rng = np.random.default_rng(0)
    h, w = side, round(side * 4 / 3)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = Path(root) / "store.safetensors"
    start_rss, peak = _rss(), 0

    def images() -> Any:
        nonlocal peak
        for k in range(n):
            base[k % h, :, k % 3] = k % 251  # the content differs per image; its bytes are not the subject
            yield base, (h, w)
            if k % 1000 == 0:
                peak = max(peak, _rss())

    started = time.perf_counter()
    write_store_file(path, images(), n, side)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    store = load_store_file(path)
    open_s = time.perf_counter() - started
    store.read(np.arange(min(batch, n)))  # first use allocates what later batches reuse
    base_rss, read_peak, seconds = _rss(), 0, []
    order = rng.permutation(n)
    for first in range(0, n, batch):
        begin = time.perf_counter()
        rows = store.read(np.sort(order[first : first + batch]))
        seconds.append(time.perf_counter() - begin)
        assert rows.shape[0] == min(batch, n - first)
        read_peak = max(read_peak, _rss())
    results.put(
        {
            "n": n,
            "side": side,
            "image": [h, w],
            "disk_bytes": path.stat().st_size,
            "write_s": write_s,
            "open_s": open_s,
            "write_rss_growth": max(peak - start_rss, 0),
            "read_rss_growth": max(read_peak - base_rss, 0),
            "read_ms_per_batch": 1000 * statistics.median(seconds),
            "batch": batch,
        }
    )


def bench_store(args: argparse.Namespace) -> dict[str, Any]:
    """Part ``store``: one fresh process per N, run one after the other."""
    rows = [
        _in_a_fresh_process(_store_at, (n, args.store_side, args.store_batch), "zd-bench-store-", args.work_dir)
        for n in args.store_sizes
    ]
    print(
        f"\nimage store: images of {rows[0]['image'][0]}x{rows[0]['image'][1]} px (side {args.store_side}) as uint8 "
        f"rows, read in sorted random batches of {args.store_batch} images, one epoch; RSS growth over the process's "
        "baseline\n"
    )
    print(
        "| N | on disk | write s | open (checksum) s | RSS growth, writing | RSS growth, reading | reading / disk | read ms/batch |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        gib, mib = 2**30, 2**20
        print(
            f"| {r['n']:,} | {r['disk_bytes'] / gib:,.2f} GiB | {r['write_s']:.1f} | {r['open_s']:.1f} "
            f"| {r['write_rss_growth'] / mib:.1f} MiB | {r['read_rss_growth'] / mib:.1f} MiB "
            f"| {r['read_rss_growth'] / r['disk_bytes']:.2%} | {r['read_ms_per_batch']:.1f} |"
        )
    share = _largest_share(rows, "store")
    return {
        "settings": {"sizes": args.store_sizes, "side": args.store_side, "batch": args.store_batch},
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


def _distill_method(data: Any, stores: tuple[Any, Any], args: argparse.Namespace) -> Any:
    """The default method (distillation + FixMatch consistency weighed by the teachers' probe) of a fresh
    student from a [V, N, 2048] float16 bank of random rows (the bank's storage is part ``bank``'s
    subject; here it is what a step reads), on the image ``stores``."""
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
        stores[0],
        np.asarray(data.train.labels),
        stores[1],
        {"fake": 1.0},
        {"fake": bank},
        torch.device(args.device),
        DistillOptions(views=args.views),
    )


def _plan(data: Any, args: argparse.Namespace) -> Any:
    from zoo_distill.training.pipeline import StepPlan

    return StepPlan(0, len(data.train), len(data.unlabeled), args.input_batch, args.mu * args.input_batch)


def _views_of(method: Any, inputs: Any, device: Any) -> Any:
    """The student's inputs of a step, made as ``Distill.loss`` makes them (weak, then strong views)."""
    from zoo_distill.training.inputs import student_views
    from zoo_distill.training.pipeline import to_device

    return student_views(to_device(inputs, device), method.consumer, ("w", "s"), method.magnitude)


def _input_rate(method: Any, data: Any, args: argparse.Namespace, workers: int, device: Any) -> float:
    """Student images/s of the input path alone (no model), steady state: store rows and view parameters
    from ``workers`` DataLoader processes (0: this process), the views made in batch on ``device``."""
    import torch

    from zoo_distill.training.pipeline import StepDataset, step_loader, unwrap

    images, started = 0, None
    for item in step_loader(StepDataset(_plan(data, args), method.make_inputs), 0, 1, args.steps + 1, workers):
        x = _views_of(method, unwrap(item), device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if started is None:  # the first step includes the workers' start
            started = time.perf_counter()
            continue
        images += int(x.shape[0])
    return images / (time.perf_counter() - started)


def _pil_rate(decoded: tuple[list[Any], list[Any]], data: Any, args: argparse.Namespace) -> float:
    """The reference: the same step's views made one image at a time with PIL (``harness/pil_views.py``),
    from the images ``decoded`` beforehand (as the old pool held them), in this process."""
    from benchmarks.harness.pil_views import PilViews
    from zoo_distill.data.policy import ViewPolicy

    labeled, unlabeled = decoded
    views, plan, rng = PilViews(ViewPolicy(), args.input_size), _plan(data, args), np.random.default_rng(0)
    images, started = 0, 0.0
    for s in range(args.steps + 1):
        batch = plan.batch(0, s)
        x = views.step([labeled[i] for i in batch.labeled], [unlabeled[i] for i in batch.unlabeled], rng)
        if s == 0:
            started = time.perf_counter()
            continue
        images += int(x.shape[0])
    return images / (time.perf_counter() - started)


def _bank_rows_rate(store: Any, decoded: list[Any], args: argparse.Namespace, device: Any) -> dict[str, float]:
    """Teacher-input images/s of one bank view (a weak view of every image, as the bank's views are), made
    in batches of 64 from the store and, as the reference, one image at a time with PIL from ``decoded``
    (each after one untimed batch or image); the teacher itself is not run."""
    import torch

    from benchmarks.harness.pil_views import PilViews
    from zoo_distill.data.policy import ViewPolicy
    from zoo_distill.data.render import Consumer, render, view_tensors
    from zoo_distill.data.store_batches import StoreBatches
    from zoo_distill.data.view_params import view_table

    consumer = Consumer.of({"input_size": (3, args.input_size, args.input_size), "crop_pct": 0.875})
    table = view_table(ViewPolicy(), 0, 1, store.shapes[:, 2:])
    batches = StoreBatches(store, 64, lambda index: table.take(index).on_images(np.arange(len(index))))
    started, images = 0.0, 0
    for k in range(len(batches)):  # the first batch warms up (thread pools, allocations): not timed
        batch = batches[k]
        pixels, sizes = batch["pixels"].to(device), batch["sizes"].to(device)
        made = int(render(pixels, sizes, view_tensors(batch, "e"), consumer).shape[0])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if k == 0:
            started = time.perf_counter()
        else:
            images += made
    batched = images / (time.perf_counter() - started)
    pil = PilViews(ViewPolicy(), args.input_size)
    pil.weak_view(decoded[0])
    started = time.perf_counter()
    for image in decoded[1:]:
        pil.weak_view(image)
    return {"batched": batched, "pil": (len(decoded) - 1) / (time.perf_counter() - started)}


def _student_rate(method: Any, data: Any, args: argparse.Namespace) -> dict[str, float]:
    """Student images/s of the training step on inputs made beforehand (on the device, in the layout
    and precision ``train`` uses): the whole step as the loop runs it (views made from the store rows,
    forward, backward, SGD), and the model's part alone on views made beforehand."""
    import torch

    from zoo_distill.training.loop import autocast, place_modules
    from zoo_distill.training.methods.terms.step import StudentStep, sum_terms
    from zoo_distill.training.pipeline import to_device

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    plan = _plan(data, args)
    ready = [to_device(method.make_inputs(plan.batch(0, s)), device) for s in range(min(args.steps, 4) + 1)]
    views = [_views_of(method, inputs, device) for inputs in ready]
    place_modules(method.modules().values(), device)  # as train() does
    for module in method.modules().values():
        module.train()
    params = [p for m in method.modules().values() for p in m.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)

    def model_only(k: int) -> Any:
        inputs = ready[k]
        targets = {s: inputs[f"target:{s}"] for s in method.sources}
        return sum_terms(method.terms, StudentStep(method.student.model, {**inputs, "x": views[k]}, targets))

    rates = {}
    for name, loss_of in (("step", lambda k: method.loss(ready[k])), ("model", model_only)):
        images, started = 0, 0.0
        for k in range(2 * len(ready) - 1):  # the first step warms up (cuDNN autotuning on a GPU)
            if k == 1:
                if cuda:
                    torch.cuda.synchronize(device)
                started = time.perf_counter()
            with autocast(device, args.precision):
                loss, _ = loss_of(k % len(ready))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += int(views[k % len(ready)].shape[0]) if k else 0
        if cuda:
            torch.cuda.synchronize(device)
        rates[name] = images / (time.perf_counter() - started)
    return rates


def _loop_wait(data: Any, stores: tuple[Any, Any], args: argparse.Namespace, workers: int) -> dict[str, float]:
    """The training loop with its inputs: images/s and the share of its time waiting for inputs."""
    from zoo_distill.training.config import TrainConfig
    from zoo_distill.training.loop import train

    method = _distill_method(data, stores, args)  # a fresh student: every worker count trains the same steps
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
    """Part ``input``: the image store's build, input images/s (batched views and the PIL reference), the
    bank's view rows, the student step, the loop's waiting by worker count, one end-to-end run."""
    import torch

    from zoo_distill.data.decode import load_rgb
    from zoo_distill.data.store import open_store, store_side
    from zoo_distill.data.target import load_target
    from zoo_distill.training.student import create_student

    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp(prefix="zd-bench-input-", dir=args.work_dir))
    try:
        target = _write_target(
            work / "target", args.classes, args.labeled_per_class, args.unlabeled, args.test, tuple(args.image_size)
        )
        data = load_target(target)
        jpeg_kib = statistics.median(p.stat().st_size for p in data.unlabeled) / 1024
        side = store_side(create_student(args.student, 2, "scratch", args.input_size).data_config)
        started = time.perf_counter()
        stores = tuple(open_store(list(paths), side, work / "cache", 2) for paths in (data.train.paths, data.unlabeled))
        store_s = time.perf_counter() - started
        store_bytes = sum(f.stat().st_size for f in (work / "cache" / "images").glob("*.safetensors"))
        decoded = [load_rgb(p) for p in data.train.paths], [load_rgb(p) for p in data.unlabeled]
        method = _distill_method(data, stores, args)
        pil = _pil_rate(decoded, data, args)
        rates = {w: _input_rate(method, data, args, w, device) for w in args.workers}
        bank_rows = _bank_rows_rate(stores[1], decoded[1], args, device)
        student = _student_rate(method, data, args)
        loops = {w: _loop_wait(data, stores, args, w) for w in args.workers}
        run = _end_to_end(target, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    w, h = args.image_size
    step = args.input_batch * (1 + 2 * args.mu)
    images = len(data.train) + len(data.unlabeled)
    print(
        f"\ninput: {w}x{h} JPEGs (median {jpeg_kib:.0f} KiB) -> {args.input_size}-px {args.student} inputs of the "
        f"default method, {step} views per step (B = {args.input_batch} labeled weak, mu*B = {args.mu * args.input_batch} "
        f"unlabeled weak and strong), V = {args.views}, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads in the main process, device {_device_name(args.device)}, {args.precision}\n"
    )
    print(
        f"image store: {images} images decoded at side {side} in {store_s:.1f} s (2 processes), "
        f"{store_bytes / 2**20:.1f} MiB on disk ({store_bytes / images / 1024:.0f} KiB per image)\n"
    )
    print("| inputs, one step after another | images/s |")
    print("|---|---:|")
    print(f"| PIL views one image at a time (the 0.2 path), decoded images, this process | {pil:.0f} |")
    for k in args.workers:
        where = "this process" if k == 0 else f"{k} workers read the rows"
        print(f"| store rows + batched views on {args.device} ({where}) | {rates[k]:.0f} |")
    print(f"| bank view rows, PIL one image at a time | {bank_rows['pil']:.0f} |")
    print(f"| bank view rows, batched from the store (64 per batch) | {bank_rows['batched']:.0f} |")
    print(
        f"\nstudent step ({args.student}, forward + backward + SGD): {student['step']:.1f} images/s with its views "
        f"made from the store rows, {student['model']:.1f} images/s on views made beforehand\n"
    )
    print("| workers | training loop images/s | vs the step alone | waiting for inputs |")
    print("|---:|---:|---:|---:|")
    for k in args.workers:
        rate = loops[k]["images_per_second"]
        print(f"| {k} | {rate:.1f} | {rate / student['step']:.0%} | {loops[k]['data_wait_share']:.1%} |")
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
    goals = {}
    if device.type == "cpu" and 0 in rates:
        goals["inputs of the default method >= 1,000 images/s (CPU, one process)"] = rates[0] >= 1000
    if device.type == "cuda":
        best = max(loops.values(), key=lambda r: r["images_per_second"])["images_per_second"]
        goals["training loop >= 70% of the step alone"] = best >= 0.7 * student["step"]
    goals["evaluation <= 10% of the wall time (defaults, 30 epochs)"] = run["default_eval_share"] <= 0.10
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
        "store": {"side": side, "images": images, "build_s": store_s, "disk_bytes": store_bytes},
        "pil_images_per_second": pil,
        "input_images_per_second": rates,
        "bank_rows_images_per_second": bank_rows,
        "student_images_per_second": student,
        "loop": loops,
        "end_to_end": run,
        "goals": goals,
    }


PARTS = {"bank": bench_bank, "store": bench_store, "input": bench_input}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["bank", "store", "input", "all"], default="all")
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
    stores = parser.add_argument_group("part store")
    stores.add_argument("--store-sizes", type=int, nargs="+", default=[10_000, 100_000], help="images per store")
    stores.add_argument("--store-side", type=int, default=256, help="the images' shorter side (4:3 aspect)")
    stores.add_argument(
        "--store-batch", type=int, default=96, help="images per read (a step of B = 32, mu = 2 reads 96)"
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

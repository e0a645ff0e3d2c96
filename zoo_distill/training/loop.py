"""The training loop shared by every method (distillation and the baselines).

Budget parity is structural: every method gets the same steps, batch size, optimizer and
schedule from one TrainConfig; only its loss differs. Everything random in a step is
drawn from generators seeded by (seed, epoch, step), and the learning rate is a function
of the global step, so resuming from an epoch checkpoint reproduces an uninterrupted run.

A step's inputs are made by DataLoader workers (``training/pipeline.py``) while the model trains
on the previous ones; the main process only moves them to the device and runs forward/backward.
The step's logs stay on the device until the end of the epoch (no host sync per step on a GPU).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from rich.progress import Progress

from zoo_distill.errors import ZooDistillError
from zoo_distill.training.checkpoint import load_checkpoint, non_finite, save_checkpoint
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.pipeline import (
    Inputs,
    StepBatch,
    StepDataset,
    StepPlan,
    resolve_workers,
    sample,
    step_loader,
    step_rng,
    to_device,
    unwrap,
    view_count,
)
from zoo_distill.util import distributed
from zoo_distill.util.digest import json_digest
from zoo_distill.util.interrupts import interrupted

__all__ = [
    "CHECKPOINT",
    "Method",
    "StepBatch",
    "TrainConfig",
    "TrainResult",
    "autocast",
    "cosine_lr",
    "epoch_line",
    "place_modules",
    "predict_logits",
    "sample",
    "step_rng",
    "train",
]

logger = logging.getLogger(__name__)  # epoch lines at INFO; the CLI sends them to stderr (cli/logs.py)

CHECKPOINT = "checkpoint.safetensors"


class Method(Protocol):
    """A training objective: what it trains, the CPU work of a step and its loss.

    ``make_inputs`` runs in DataLoader worker processes (``training/pipeline.py``): it must be
    picklable, hold no model, and draw every random number from the step's generator. It reads
    the step's images from the image store (``data/store.py``); ``loss`` makes their views on the device.
    """

    name: str
    uses_unlabeled: bool
    make_inputs: Callable[[StepBatch], Inputs]

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every trainable module by name (the student first); all are checkpointed."""

    def loss(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        """The step's scalar loss and its named components for the history (``inputs`` on the device)."""


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int | None = None
    eval_seconds: float = 0.0  # of every evaluation of the run, those before a resume included
    throughput: dict[str, float] = field(default_factory=dict)  # of the epochs this call trained


def cosine_lr(base: float, step: int, total: int) -> float:
    """FixMatch's schedule: lr * cos(7 pi k / 16 K), decaying to ~0.2 lr (no restarts)."""
    return base * math.cos(7 * math.pi * step / (16 * max(total, 1)))


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise ZooDistillError(f"--precision must be fp32 or bf16, got {precision!r}")
    return contextlib.nullcontext()


class _LossModule(torch.nn.Module):
    """Holds a method's modules so DistributedDataParallel can wrap them; forward = the method's loss."""

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method
        self.parts = torch.nn.ModuleDict(method.modules())

    def forward(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        return self.method.loss(inputs)


def _mean_over_ranks(logs: dict[str, float]) -> dict[str, float]:
    if distributed.world_size() == 1:
        return logs
    keys = sorted(logs)
    values = torch.tensor([logs[k] for k in keys], dtype=torch.float64)
    torch.distributed.all_reduce(values)
    return {k: float(v) / distributed.world_size() for k, v in zip(keys, values)}


class _EpochLogs:
    """Each step's loss and logs, kept as they come (tensors stay on the device) and turned into
    epoch means at the end with one transfer; the sums are over float64 values, step by step."""

    def __init__(self) -> None:
        self.values: dict[str, list[torch.Tensor | float]] = {}

    def add(self, loss: torch.Tensor, logs: Mapping[str, torch.Tensor | float]) -> None:
        for key, value in {"loss": loss.detach(), **logs}.items():
            self.values.setdefault(key, []).append(value.detach() if isinstance(value, torch.Tensor) else value)

    def floats(self, key: str) -> list[float]:
        values = self.values.get(key, [])
        tensors = [v.float() for v in values if isinstance(v, torch.Tensor)]
        moved = iter(torch.stack(tensors).cpu().tolist() if tensors else [])
        return [next(moved) if isinstance(v, torch.Tensor) else float(v) for v in values]

    def means(self, steps: int) -> dict[str, float]:
        return {key: sum(self.floats(key)) / steps for key in self.values}


def _check_loss(name: str, loss: float, epoch: int, step: int) -> None:
    if not math.isfinite(loss):
        raise ZooDistillError(f"{name}: the loss became {loss} at epoch {epoch + 1}, step {step + 1}; lower --lr")


def epoch_line(row: Mapping[str, Any], epochs: int, images_per_second: float, wait_share: float) -> str:
    """One plain log line for an epoch, as timm's train.py prints them, e.g.
    ``epoch 3/20  loss 0.512 (ce 0.31, feat 0.02)  test_acc 0.812  412 img/s  data wait 3%  8.3 s``."""
    parts = [k for k in row if k.startswith("loss_") and not k.startswith("loss_feat_")]  # not one per source
    loss = f"loss {row['loss']:.4g}" + (f" ({', '.join(f'{k[5:]} {row[k]:.3g}' for k in parts)})" if parts else "")
    fields = [f"epoch {row['epoch']}/{epochs}", loss]
    if "mask" in row:
        fields.append(f"mask {row['mask']:.2f}")
    if "gated" in row:  # --feature-gate agreement: the share of unlabeled feature terms dropped
        fields.append(f"gated {row['gated']:.2f}")
    if "test_accuracy" in row:
        fields.append(f"test_acc {row['test_accuracy']:.4f}")
    fields += [f"{images_per_second:.0f} img/s", f"data wait {wait_share:.0%}", f"{row['seconds']:.1f} s"]
    return "  ".join(fields)


def _plain_lines(progress: Progress | None) -> bool:
    """One epoch line (logged at INFO) where no live progress bar is shown (off, or not a terminal)."""
    shown = progress is not None and not progress.disable and progress.console.is_terminal
    return distributed.is_main() and not shown


def place_modules(modules: Iterable[torch.nn.Module], device: torch.device) -> None:
    """Move ``modules`` to ``device``; on CUDA in channels-last layout (the one cuDNN's convolutions
    are fastest in, matching ``to_device``'s inputs) with cuDNN's autotuner on (fixed input shapes:
    the fastest convolutions are picked once)."""
    cuda = device.type == "cuda"
    for module in modules:
        module.to(device)
        if cuda:
            module.to(memory_format=torch.channels_last)
    if cuda:
        torch.backends.cudnn.benchmark = True


def train(
    method: Method,
    config: TrainConfig,
    n_labeled: int,
    n_unlabeled: int,
    run_dir: Path | None,
    evaluate: Callable[[], dict[str, float]] | None = None,
    signature: Mapping[str, Any] | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``method`` for ``config.epochs``, checkpointing each epoch into ``run_dir``.

    ``evaluate`` runs after the epochs ``config.evaluates`` names (every ``eval_every``-th and the
    last); its result joins that epoch's history row. ``signature`` identifies the run (method,
    data, teachers, config); resuming a checkpoint whose signature differs is refused rather than
    silently mixing two runs.
    """
    device = torch.device(distributed.local_device(config.device))
    cuda = device.type == "cuda"
    modules = method.modules()
    place_modules(modules.values(), device)
    world = distributed.world_size()
    if world > 1 and config.batch_size < world:
        raise ZooDistillError(f"--batch-size {config.batch_size} is smaller than the {world} processes")
    runner: torch.nn.Module = _LossModule(method)
    if world > 1:  # gradients are averaged across processes by DDP; each process takes a slice of the batch
        runner = torch.nn.parallel.DistributedDataParallel(
            runner, device_ids=[device.index] if device.type == "cuda" else None
        )
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, nesterov=True, weight_decay=config.weight_decay
    )
    steps = config.resolved_steps(n_labeled, n_unlabeled)
    total = steps * config.epochs
    digest = json_digest({"config": config.identity(), **dict(signature or {})})
    # Each part's own digest too, so a refused resume can name what changed (the settings, a teacher, ...).
    parts = {
        "training settings": json_digest(config.identity()),
        **{key: json_digest(value) for key, value in dict(signature or {}).items()},
    }
    result = TrainResult()
    start_epoch = 0
    ckpt = run_dir / CHECKPOINT if run_dir is not None else None
    if resume and ckpt is not None and ckpt.exists():
        meta = load_checkpoint(ckpt, modules, optimizer, signature=digest, parts=parts)  # another run's: refused
        start_epoch, result.history, result.resumed_from = meta["epoch"] + 1, meta["history"], meta["epoch"] + 1
        result.seconds = float(meta.get("seconds", 0.0))
        result.eval_seconds = float(meta.get("eval_seconds", 0.0))
    unlabeled_per_step = config.mu * config.batch_size if method.uses_unlabeled and n_unlabeled else 0
    plan = StepPlan(
        config.seed, n_labeled, n_unlabeled, config.batch_size, unlabeled_per_step, distributed.rank(), world
    )
    workers = resolve_workers(config.workers)
    loader = step_loader(
        StepDataset(plan, method.make_inputs), start_epoch, config.epochs, steps, workers, pin_memory=cuda
    )
    batches = iter(loader) if start_epoch < config.epochs else iter(())
    plain = _plain_lines(progress)
    epoch_task = (
        progress.add_task(f"{method.name}", total=config.epochs, completed=start_epoch, info="") if progress else None
    )
    step_task = progress.add_task("  steps", total=steps, info="") if progress else None
    trained = {"images": 0, "seconds": 0.0, "wait": 0.0}
    checkpointed = epoch = start_epoch  # epochs in the checkpoint, and the one training: for an interrupt's line
    try:
        for epoch in range(start_epoch, config.epochs):
            began = time.perf_counter()
            torch.manual_seed(int(np.random.SeedSequence([config.seed, epoch]).generate_state(1)[0]))
            for module in modules.values():
                module.train()
            logs = _EpochLogs()
            images, wait = 0, 0.0
            if progress is not None and step_task is not None:
                progress.reset(step_task, total=steps)
            for step in range(steps):
                waited = time.perf_counter()
                inputs = to_device(unwrap(next(batches)), device, channels_last=cuda)
                wait += time.perf_counter() - waited
                images += view_count(inputs) * world
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(config.lr, epoch * steps + step, total)
                with autocast(device, config.precision):
                    loss, step_logs = runner(inputs)
                if device.type == "cpu":  # free on the CPU; on an accelerator checked at the epoch's end
                    _check_loss(method.name, loss.item(), epoch, step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                logs.add(loss, step_logs)
                if progress is not None:
                    info = f"loss {loss.item():.3f}" if device.type == "cpu" else ""
                    progress.update(step_task, advance=1, info=info)
            if device.type != "cpu":
                for step, value in enumerate(logs.floats("loss")):
                    _check_loss(method.name, value, epoch, step)
            row: dict[str, Any] = {"epoch": epoch + 1, **_mean_over_ranks(logs.means(steps))}
            train_seconds = time.perf_counter() - began
            if evaluate is not None and config.evaluates(epoch):
                evaluated = time.perf_counter()
                for module in modules.values():
                    module.eval()
                row.update(evaluate())
                result.eval_seconds += time.perf_counter() - evaluated
            result.seconds += time.perf_counter() - began
            row["seconds"] = time.perf_counter() - began
            result.history.append(row)
            diverged = non_finite({f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()})
            if diverged:  # e.g. an lr that is finite but far too large: the loss is fine until the next step
                raise ZooDistillError(
                    f"{method.name}: the weights became NaN or inf during epoch {epoch + 1} "
                    f"({', '.join(diverged[:3])}); nothing of this epoch is saved; lower --lr"
                )
            if ckpt is not None and distributed.is_main():
                save_checkpoint(
                    ckpt,
                    modules,
                    optimizer,
                    {
                        "epoch": epoch,
                        "history": result.history,
                        "signature": digest,
                        "parts": parts,
                        "seconds": result.seconds,
                        "eval_seconds": result.eval_seconds,
                    },
                )
                checkpointed = epoch + 1
            distributed.barrier()
            for key, value in (("images", images), ("seconds", train_seconds), ("wait", wait)):
                trained[key] += value
            if plain:
                logger.info(epoch_line(row, config.epochs, images / train_seconds, wait / train_seconds))
            if progress is not None and epoch_task is not None:
                acc = f", test acc {row['test_accuracy']:.3f}" if "test_accuracy" in row else ""
                progress.update(epoch_task, advance=1, info=f"loss {row['loss']:.3f}{acc}")
            if on_epoch_end is not None:
                on_epoch_end(epoch)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (util/interrupts.py): one line, not a traceback
        kept = (
            f"{checkpointed} finished epoch(s) are in {ckpt}: rerun with --resume to continue"
            if checkpointed and ckpt is not None
            else "no epoch was finished: rerun to start again"
        )
        if ckpt is not None and checkpointed == epoch and ckpt.exists():  # stopped right after this epoch's save
            kept = f"the epochs finished so far are in {ckpt}: rerun with --resume to continue"
        raise interrupted(exc, f"in epoch {epoch + 1}/{config.epochs}; {kept}") from None
    finally:
        del batches  # stops the workers now, even when an exception keeps this frame alive
    if trained["seconds"] > 0:
        result.throughput = {
            "workers": workers,
            "images_per_second": trained["images"] / trained["seconds"],
            "data_wait_share": trained["wait"] / trained["seconds"],
        }
    for module in modules.values():
        module.eval()
    return result


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, images: Sequence[torch.Tensor] | torch.Tensor, device: torch.device, batch_size: int = 256
) -> torch.Tensor:
    model.eval()
    outs = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        x = chunk if isinstance(chunk, torch.Tensor) else torch.stack(list(chunk))
        outs.append(model(x.to(device)).float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)

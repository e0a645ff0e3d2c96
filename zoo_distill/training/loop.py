"""The training loop shared by every method (distillation and the baselines).

Budget parity is structural: every method gets the same steps, batch size, optimizer and
schedule from one TrainConfig; only its loss differs. Everything random in a step is
drawn from generators seeded by (seed, epoch, step), and the learning rate is a function
of the global step, so resuming from an epoch checkpoint reproduces an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from rich.progress import Progress

from zoo_distill.errors import ZooDistillError
from zoo_distill.training.checkpoint import load_checkpoint, non_finite, save_checkpoint
from zoo_distill.training.config import TrainConfig
from zoo_distill.util import distributed
from zoo_distill.util.digest import json_digest

CHECKPOINT = "checkpoint.safetensors"


@dataclass
class StepBatch:
    """Indices for one step; methods turn them into tensors (views, augmentations, targets)."""

    labeled: np.ndarray
    unlabeled: np.ndarray
    rng: np.random.Generator  # for any further randomness of this step (augmentations, views)
    epoch: int
    step: int


class Method(Protocol):
    """A training objective: what it trains and its loss on one step."""

    name: str
    uses_unlabeled: bool

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every trainable module by name (the student first); all are checkpointed."""

    def loss(self, batch: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The step's scalar loss and its named components for the history."""


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int | None = None


def step_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, step]))


def sample(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """k indices out of n, without replacement when possible."""
    if n == 0 or k == 0:
        return np.zeros(0, dtype=np.int64)
    return rng.choice(n, size=k, replace=k > n).astype(np.int64)


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

    def forward(self, batch: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.method.loss(batch)


def _mean_over_ranks(logs: dict[str, float]) -> dict[str, float]:
    if distributed.world_size() == 1:
        return logs
    keys = sorted(logs)
    values = torch.tensor([logs[k] for k in keys], dtype=torch.float64)
    torch.distributed.all_reduce(values)
    return {k: float(v) / distributed.world_size() for k, v in zip(keys, values)}


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

    ``signature`` identifies the run (method, data, teachers, config); resuming a checkpoint
    whose signature differs is refused rather than silently mixing two runs.
    """
    device = torch.device(distributed.local_device(config.device))
    modules = method.modules()
    for module in modules.values():
        module.to(device)
    world = distributed.world_size()
    if world > 1 and config.batch_size < world:
        raise ZooDistillError(f"--batch-size {config.batch_size} is smaller than the {world} processes")
    runner: torch.nn.Module = _LossModule(method)
    if world > 1:  # gradients are averaged across processes by DDP; each process takes a slice of the batch
        runner = torch.nn.parallel.DistributedDataParallel(
            runner, device_ids=[device.index] if device.type == "cuda" else None)
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True,
                                weight_decay=config.weight_decay)
    steps = config.resolved_steps(n_labeled, n_unlabeled)
    total = steps * config.epochs
    digest = json_digest({"config": asdict(config), **dict(signature or {})})
    result = TrainResult()
    start_epoch = 0
    ckpt = run_dir / CHECKPOINT if run_dir is not None else None
    if resume and ckpt is not None and ckpt.exists():
        meta = load_checkpoint(ckpt, modules, optimizer, signature=digest)  # refuses another run's, unread
        start_epoch, result.history, result.resumed_from = meta["epoch"] + 1, meta["history"], meta["epoch"] + 1
        result.seconds = float(meta.get("seconds", 0.0))
    unlabeled_per_step = config.mu * config.batch_size if method.uses_unlabeled and n_unlabeled else 0
    epoch_task = progress.add_task(f"{method.name}", total=config.epochs, completed=start_epoch, info="") \
        if progress else None
    step_task = progress.add_task("  steps", total=steps, info="") if progress else None
    for epoch in range(start_epoch, config.epochs):
        began = time.perf_counter()
        torch.manual_seed(int(np.random.SeedSequence([config.seed, epoch]).generate_state(1)[0]))
        for module in modules.values():
            module.train()
        sums: dict[str, float] = {}
        if progress is not None:
            progress.reset(step_task, total=steps)
        for step in range(steps):
            rng = step_rng(config.seed, epoch, step)
            labeled_idx, unlabeled_idx = sample(rng, n_labeled, config.batch_size), sample(rng, n_unlabeled,
                                                                                            unlabeled_per_step)
            if world > 1:  # same global batch on every rank; each takes its slice, with its own augmentations
                rng = np.random.default_rng(np.random.SeedSequence([config.seed, epoch, step, distributed.rank()]))
            batch = StepBatch(distributed.split_batch(labeled_idx), distributed.split_batch(unlabeled_idx),
                              rng, epoch, step)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(config.lr, epoch * steps + step, total)
            with autocast(device, config.precision):
                loss, logs = runner(batch)
            if not torch.isfinite(loss):
                raise ZooDistillError(f"{method.name}: the loss became {loss.item()} at epoch {epoch + 1}, "
                                      f"step {step + 1}; lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            logs = _mean_over_ranks({"loss": float(loss.item()), **logs})
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            if progress is not None:
                progress.update(step_task, advance=1, info=f"loss {logs['loss']:.3f}")
        row: dict[str, Any] = {"epoch": epoch + 1, **{k: v / steps for k, v in sums.items()}}
        if evaluate is not None:
            for module in modules.values():
                module.eval()
            row.update(evaluate())
        result.seconds += time.perf_counter() - began
        row["seconds"] = time.perf_counter() - began
        result.history.append(row)
        diverged = non_finite({f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()})
        if diverged:  # e.g. an lr that is finite but far too large: the loss is fine until the next step
            raise ZooDistillError(f"{method.name}: the weights became NaN or inf during epoch {epoch + 1} "
                                  f"({', '.join(diverged[:3])}); nothing of this epoch is saved; lower --lr")
        if ckpt is not None and distributed.is_main():
            save_checkpoint(ckpt, modules, optimizer, {"epoch": epoch, "history": result.history,
                                                       "signature": digest, "seconds": result.seconds})
        distributed.barrier()
        if progress is not None:
            acc = f", test acc {row['test_accuracy']:.3f}" if "test_accuracy" in row else ""
            progress.update(epoch_task, advance=1, info=f"loss {row['loss']:.3f}{acc}")
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    for module in modules.values():
        module.eval()
    return result


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, images: Sequence[torch.Tensor] | torch.Tensor, device: torch.device,
                   batch_size: int = 256) -> torch.Tensor:
    model.eval()
    outs = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        x = chunk if isinstance(chunk, torch.Tensor) else torch.stack(list(chunk))
        outs.append(model(x.to(device)).float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)

"""Supervised training of a timm classifier on in-memory images (teachers of the offline zoos).

Deterministic on CPU for a given seed: seeded init, seeded shuffling and augmentation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import Progress

__all__ = ["NORM_MEAN", "NORM_STD", "accuracy", "random_shift", "to_tensor", "train_classifier"]

NORM_MEAN = (0.5, 0.5, 0.5)
NORM_STD = (0.5, 0.5, 0.5)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] normalized with NORM_MEAN/NORM_STD."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(NORM_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(NORM_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def random_shift(x: torch.Tensor, generator: torch.Generator, pad: int = 3) -> torch.Tensor:
    """Translate each image by up to ``pad`` pixels (reflect padding + random crop)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = dy.view(n, 1) + torch.arange(h).view(1, h)  # [n, h]
    cols = dx.view(n, 1) + torch.arange(w).view(1, w)  # [n, w]
    idx_n = torch.arange(n).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous()


def train_classifier(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    seed: int = 0,
    progress: Progress | None = None,
    description: str = "train",
) -> list[float]:
    """Train ``model`` in place with AdamW + cosine schedule; returns the mean loss per epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_all = to_tensor(images)
    y_all = torch.as_tensor(labels, dtype=torch.long)
    steps_per_epoch = math.ceil(len(x_all) / batch_size)
    total = epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.15)
    task = progress.add_task(description, total=total, info="") if progress else None
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=generator)
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x = random_shift(x_all[idx], generator)
            loss = F.cross_entropy(model(x), y_all[idx], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if progress is not None and task is not None:
                progress.update(task, advance=1, info=f"loss {loss.item():.3f}")
        history.append(float(np.mean(losses)))
    model.eval()
    return history


@torch.inference_mode()
def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> float:
    model.eval()
    x_all, correct = to_tensor(images), 0
    for start in range(0, len(x_all), batch_size):
        pred = model(x_all[start : start + batch_size]).argmax(1).numpy()
        correct += int((pred == labels[start : start + batch_size]).sum())
    return correct / max(len(labels), 1)

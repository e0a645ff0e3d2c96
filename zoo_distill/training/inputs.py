"""Turning images into student inputs and student inputs into features/logits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from PIL import Image
from timm.data import create_transform

from zoo_distill.training.student import Student

__all__ = ["StudentInputs", "classify", "pooled_features", "predict_batches", "stack", "student_transform"]

Transform = Callable[[Image.Image], torch.Tensor]


def student_transform(student: Student) -> Transform:
    """The student's own deterministic preprocessing (timm eval transform): picklable, so it runs
    in DataLoader workers."""
    return create_transform(**student.data_config, is_training=False)


def stack(transform: Transform, images: Iterable[Image.Image]) -> torch.Tensor:
    """``[B, C, H, W]`` float inputs of ``images`` (CPU)."""
    return torch.stack([transform(img) for img in images])


class StudentInputs:
    """The student's preprocessing on PIL views, moved to ``device`` (for a few images at once;
    training and evaluation prepare theirs in DataLoader workers, ``training/pipeline.py``)."""

    def __init__(self, student: Student, device: torch.device) -> None:
        self.transform = student_transform(student)
        self.device = device

    def __call__(self, images: Iterable[Image.Image]) -> torch.Tensor:
        return stack(self.transform, images).to(self.device, non_blocking=True)


def pooled_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The representation the classifier sees (timm ``pre_logits``), used for distillation."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


def classify(model: torch.nn.Module, features: torch.Tensor) -> torch.Tensor:
    return model.get_classifier()(features)


@torch.inference_mode()
def predict_batches(
    model: torch.nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    to_device: Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]],
) -> torch.Tensor:
    """Logits ``[N, classes]`` (float32, CPU) of ``model`` on batches ``{"x": inputs}`` in order;
    ``to_device`` moves each batch where the model is."""
    model.eval()
    outs = [model(to_device(batch)["x"]).float().cpu() for batch in batches]
    return torch.cat(outs) if outs else torch.zeros(0)

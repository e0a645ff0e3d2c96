"""Turning images into student inputs and student inputs into features/logits."""

from __future__ import annotations

from typing import Iterable

import torch
from PIL import Image
from timm.data import create_transform

from zoo_distill.training.student import Student


class StudentInputs:
    """The student's own deterministic preprocessing (timm eval transform) on PIL views."""

    def __init__(self, student: Student, device: torch.device) -> None:
        self.transform = create_transform(**student.data_config, is_training=False)
        self.device = device

    def __call__(self, images: Iterable[Image.Image]) -> torch.Tensor:
        return torch.stack([self.transform(img) for img in images]).to(self.device, non_blocking=True)


def pooled_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The representation the classifier sees (timm ``pre_logits``), used for distillation."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


def classify(model: torch.nn.Module, features: torch.Tensor) -> torch.Tensor:
    return model.get_classifier()(features)

"""A step's inputs: store rows and view parameters on the CPU, the student's views made on the device.

``make_inputs`` (in a DataLoader worker) reads the step's images from the store as one padded uint8
batch and draws its views' parameters (``data/view_params.py``); ``student_views`` (in the main
process, on the device, inside the method's loss) makes the student's inputs from them in batch
(``data/render.py``). What crosses from the worker is uint8 bytes and small arrays, pinned and copied
without blocking while the previous step runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from zoo_distill.data.render import Consumer, render_all, view_tensors
from zoo_distill.training.student import Student

__all__ = [
    "classify",
    "pooled_features",
    "predict_batches",
    "student_consumer",
    "student_views",
]


def student_consumer(student: Student) -> Consumer:
    """The student's eval preprocessing (input size, centre crop, normalisation) as a view consumer."""
    return Consumer.of(student.data_config)


def student_views(
    inputs: Mapping[str, Any], consumer: Consumer, groups: Sequence[str] = ("w",), magnitude: int = 9
) -> torch.Tensor:
    """The student's inputs ``[K, 3, h, w]``: the view groups ``groups`` of the step, in order, made on the
    device the step's pixels are on (channels-last on CUDA, as the student is placed)."""
    parts = [view_tensors(inputs, group) for group in groups]
    x = render_all(inputs["pixels"], inputs["sizes"], [p for p in parts if p], consumer, magnitude)
    return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


def pooled_features(model: Any, x: torch.Tensor) -> torch.Tensor:
    """The representation the classifier sees (timm ``pre_logits``), used for distillation."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


def classify(model: Any, features: torch.Tensor) -> torch.Tensor:
    """The timm ``model``'s classifier on its pooled ``features``."""
    return model.get_classifier()(features)


@torch.inference_mode()
def predict_batches(
    model: torch.nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    to_device: Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]],
    consumer: Consumer,
) -> torch.Tensor:
    """Logits ``[N, classes]`` (float32, CPU) of ``model`` on store batches in order (their eval views,
    group ``e``); ``to_device`` moves each batch where the model is."""
    model.eval()
    outs = [model(student_views(to_device(batch), consumer, ("e",))).float().cpu() for batch in batches]
    return torch.cat(outs) if outs else torch.zeros(0)

"""Fine-tuning baseline: the student initialisation trained on the labeled set only
(the paper's "transfer from ImageNet initialization")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.store import ImageStore
from zoo_distill.data.store_batches import store_inputs, views_inputs
from zoo_distill.data.view_params import weak_views
from zoo_distill.plugin.types import MethodSetup
from zoo_distill.training.inputs import student_consumer, student_views
from zoo_distill.training.pipeline import Inputs, StepBatch
from zoo_distill.training.student import Student

__all__ = ["FineTune", "FineTuneInputs", "build_finetune"]


@dataclass(frozen=True, eq=False)
class FineTuneInputs:
    """A step's CPU work (in a DataLoader worker): the labeled images' store rows and weak views (group ``w``)."""

    labeled: ImageStore
    labels: torch.Tensor
    policy: ViewPolicy

    def __call__(self, batch: StepBatch) -> Inputs:
        views = weak_views(batch.rng, self.labeled.shapes[batch.labeled, 2:], self.policy)
        rows = store_inputs(self.labeled, batch.labeled)
        return {**rows, **views_inputs("w", views), "y": self.labels[batch.labeled]}


class FineTune:
    """Cross-entropy on augmented labeled images (the same augmentation family as the view bank)."""

    uses_unlabeled = False

    def __init__(
        self,
        student: Student,
        labeled: ImageStore,
        labels: np.ndarray,
        device: torch.device,
        policy: ViewPolicy | None = None,
        name: str = "finetune",
    ) -> None:
        self.name, self.student, self.labeled = name, student, labeled
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.policy = policy or ViewPolicy()
        self.make_inputs = FineTuneInputs(labeled, self.labels, self.policy)
        self.consumer = student_consumer(student)
        self.device = device

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student.model}

    def loss(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = student_views(inputs, self.consumer)
        return F.cross_entropy(self.student.model(x), inputs["y"]), {}


def build_finetune(setup: MethodSetup) -> FineTune:
    """The ``finetune`` baseline's objective (it has no options of its own)."""
    return FineTune(setup.student, setup.labeled, setup.labels, setup.device, setup.policy)

"""Fine-tuning baseline: the student initialisation trained on the labeled set only
(the paper's "transfer from ImageNet initialization")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo_distill.data.pool import ImagePool
from zoo_distill.data.views import ViewPolicy, augment
from zoo_distill.plugin.types import MethodSetup
from zoo_distill.training.inputs import Transform, stack, student_transform
from zoo_distill.training.pipeline import Inputs, StepBatch
from zoo_distill.training.student import Student

__all__ = ["FineTune", "FineTuneInputs", "build_finetune"]


@dataclass(frozen=True, eq=False)
class FineTuneInputs:
    """A step's CPU work (in a DataLoader worker): augmented labeled images as student inputs."""

    labeled: ImagePool
    labels: torch.Tensor
    policy: ViewPolicy
    transform: Transform

    def __call__(self, batch: StepBatch) -> Inputs:
        views = [augment(self.labeled.image(int(i)), batch.rng, self.policy) for i in batch.labeled]
        return {"x": stack(self.transform, views), "y": self.labels[batch.labeled]}

    @property
    def pools(self) -> tuple[ImagePool, ...]:
        return (self.labeled,)


class FineTune:
    """Cross-entropy on augmented labeled images (the same augmentation family as the view bank)."""

    uses_unlabeled = False

    def __init__(
        self,
        student: Student,
        labeled: ImagePool,
        labels: np.ndarray,
        device: torch.device,
        policy: ViewPolicy | None = None,
        name: str = "finetune",
    ) -> None:
        self.name, self.student, self.labeled = name, student, labeled
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.policy = policy or ViewPolicy()
        self.make_inputs = FineTuneInputs(labeled, self.labels, self.policy, student_transform(student))
        self.device = device

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student.model}

    def loss(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return F.cross_entropy(self.student.model(inputs["x"]), inputs["y"]), {}


def build_finetune(setup: MethodSetup) -> FineTune:
    """The ``finetune`` baseline's objective (it has no options of its own)."""
    return FineTune(setup.student, setup.labeled, setup.labels, setup.device, setup.policy)

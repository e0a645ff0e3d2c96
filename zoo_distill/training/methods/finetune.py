"""Fine-tuning baseline: the student initialisation trained on the labeled set only
(the paper's "transfer from ImageNet initialization")."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from zoo_distill.data.pool import ImagePool
from zoo_distill.data.views import ViewPolicy, augment
from zoo_distill.training.inputs import StudentInputs
from zoo_distill.training.loop import StepBatch
from zoo_distill.training.student import Student


class FineTune:
    """Cross-entropy on augmented labeled images (the same augmentation family as the view bank)."""

    uses_unlabeled = False

    def __init__(self, student: Student, labeled: ImagePool, labels: np.ndarray, device: torch.device,
                 policy: ViewPolicy | None = None, name: str = "finetune") -> None:
        self.name, self.student, self.labeled = name, student, labeled
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.policy = policy or ViewPolicy()
        self.inputs = StudentInputs(student, device)
        self.device = device

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student.model}

    def loss(self, batch: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        x = self.inputs(augment(self.labeled.image(int(i)), batch.rng, self.policy) for i in batch.labeled)
        return F.cross_entropy(self.student.model(x), self.labels[batch.labeled].to(self.device)), {}

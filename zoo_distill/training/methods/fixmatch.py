"""FixMatch (Sohn et al., NeurIPS 2020) baseline on labeled + unlabeled images.

Labeled images: cross-entropy on a weak view. Unlabeled images: the prediction on a weak
view becomes a hard pseudo-label when its confidence reaches ``threshold`` (0.95), and the
student is trained to predict it on a strong view (RandAugment + Cutout), weighted by
``lambda_u`` (1.0). As in the reference implementation (microsoft USB,
``semilearn/algorithms/fixmatch``), labeled, weak and strong images go through the model in
one batch, so batch-norm statistics see all three. The unlabeled ratio mu is the shared
``TrainConfig.mu``, so FixMatch and distillation see the same images per step. The strong
views and the consistency term live in ``consistency.py``, shared with ``run --unlabeled-loss
fixmatch``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from zoo_distill.data.pool import ImagePool
from zoo_distill.data.views import ViewPolicy, augment
from zoo_distill.training.config import FixMatchConfig
from zoo_distill.training.inputs import StudentInputs
from zoo_distill.training.loop import StepBatch
from zoo_distill.training.methods.consistency import StrongViews, consistency_loss
from zoo_distill.training.student import Student


class FixMatch:
    uses_unlabeled = True

    def __init__(self, student: Student, labeled: ImagePool, labels: np.ndarray, unlabeled: ImagePool,
                 device: torch.device, policy: ViewPolicy | None = None, config: FixMatchConfig | None = None,
                 name: str = "fixmatch") -> None:
        self.name, self.student = name, student
        self.labeled, self.unlabeled = labeled, unlabeled
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.policy = policy or ViewPolicy()
        self.config = config or FixMatchConfig()
        self.strong = StrongViews(self.policy, self.config)
        self.inputs = StudentInputs(student, device)
        self.device = device

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student.model}

    def loss(self, batch: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rng = batch.rng
        x_l = [augment(self.labeled.image(int(i)), rng, self.policy) for i in batch.labeled]
        raw_u = [self.unlabeled.image(int(i)) for i in batch.unlabeled]
        x_w = [augment(img, rng, self.policy) for img in raw_u]
        x_s = [self.strong.one(img, rng) for img in raw_u]  # RandAugment: torch's generator, seeded per epoch
        logits = self.student.model(self.inputs(x_l + x_w + x_s))
        n_l, n_u = len(x_l), len(raw_u)
        sup = F.cross_entropy(logits[:n_l], self.labels[batch.labeled].to(self.device))
        if n_u == 0:
            return sup, {"loss_sup": float(sup.item())}
        weak, strong = logits[n_l:n_l + n_u], logits[n_l + n_u:]
        unsup, mask = consistency_loss(weak, strong, self.config.threshold)
        logs = {"loss_sup": float(sup.item()), "loss_unsup": float(unsup.item()), "mask": float(mask.mean().item())}
        return sup + self.config.lambda_u * unsup, logs

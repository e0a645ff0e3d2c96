"""FixMatch (Sohn et al., NeurIPS 2020) baseline on labeled + unlabeled images.

Labeled images: cross-entropy on a weak view. Unlabeled images: the prediction on a weak
view becomes a hard pseudo-label when its confidence reaches ``threshold`` (0.95), and the
student is trained to predict it on a strong view (RandAugment + Cutout), weighted by
``lambda_u`` (1.0). As in the reference implementation (microsoft USB,
``semilearn/algorithms/fixmatch``), labeled, weak and strong images go through the model in
one batch, so batch-norm statistics see all three. The unlabeled ratio mu is the shared
``TrainConfig.mu``, so FixMatch and distillation see the same images per step. The strong
views and the consistency loss live in ``consistency.py``, shared with distillation's consistency
term; every random draw of a step, RandAugment's included, comes from the step's
generator, so the views are the same in any DataLoader worker; the pixels of all three are made on
the device from one read of each image (``data/render.py``).
"""

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
from zoo_distill.training.methods.consistency import StrongViews, consistency_loss
from zoo_distill.training.methods.options import FixMatchOptions
from zoo_distill.training.pipeline import Inputs, StepBatch
from zoo_distill.training.student import Student

__all__ = ["FixMatch", "FixMatchInputs", "build_fixmatch"]


@dataclass(frozen=True, eq=False)
class FixMatchInputs:
    """A step's CPU work (in a DataLoader worker): the store rows of the labeled and unlabeled images,
    the weak views of both (group ``w``) and the strong views of the unlabeled ones (group ``s``)."""

    labeled: ImageStore
    unlabeled: ImageStore
    labels: torch.Tensor
    policy: ViewPolicy
    strong: StrongViews

    def __call__(self, batch: StepBatch) -> Inputs:
        rng, n_l, n_u = batch.rng, len(batch.labeled), len(batch.unlabeled)
        pooled = self.labeled + self.unlabeled
        index = np.concatenate([batch.labeled, len(self.labeled) + batch.unlabeled])
        sizes = pooled.shapes[index, 2:]
        weak = weak_views(rng, sizes, self.policy)
        strong = self.strong.draw(rng, sizes[n_l:]).on_images(n_l + np.arange(n_u))
        rows = store_inputs(pooled, index)
        return {**rows, **views_inputs("w", weak), **views_inputs("s", strong), "y": self.labels[batch.labeled],
                "n_unlabeled": n_u}  # fmt: skip


class FixMatch:
    uses_unlabeled = True

    def __init__(
        self,
        student: Student,
        labeled: ImageStore,
        labels: np.ndarray,
        unlabeled: ImageStore,
        device: torch.device,
        policy: ViewPolicy | None = None,
        config: FixMatchOptions | None = None,
        name: str = "fixmatch",
    ) -> None:
        self.name, self.student = name, student
        self.labeled, self.unlabeled = labeled, unlabeled
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.policy = policy or ViewPolicy()
        self.config = config or FixMatchOptions()
        strong = StrongViews(self.policy, self.config)
        self.make_inputs = FixMatchInputs(labeled, unlabeled, self.labels, self.policy, strong)
        self.consumer = student_consumer(student)
        self.device = device

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student.model}

    def loss(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = student_views(inputs, self.consumer, ("w", "s"), self.config.randaugment_magnitude)
        logits = self.student.model(x)
        n_l, n_u = len(inputs["y"]), inputs["n_unlabeled"]
        sup = F.cross_entropy(logits[:n_l], inputs["y"])
        if n_u == 0:
            return sup, {"loss_sup": sup.detach()}
        weak, strong = logits[n_l : n_l + n_u], logits[n_l + n_u :]
        unsup, extra, logs = self.unlabeled_loss(weak, strong)
        logs = {"loss_sup": sup.detach(), "loss_unsup": unsup.detach(), **logs}
        return sup + self.config.lambda_u * unsup + extra, logs

    def unlabeled_loss(
        self, weak: torch.Tensor, strong: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | float, dict[str, torch.Tensor]]:
        """(the consistency term, any further unlabeled term already weighted, logs): FixMatch's fixed
        threshold here; FreeMatch and SoftMatch (``pseudo_label_methods.py``) replace it."""
        unsup, mask = consistency_loss(weak, strong, self.config.threshold)
        return unsup, 0.0, {"mask": mask.mean()}


def build_fixmatch(setup: MethodSetup) -> FixMatch:
    """The ``fixmatch`` baseline's objective from the run's inputs and its ``FixMatchOptions``."""
    return FixMatch(
        setup.student, setup.labeled, setup.labels, setup.unlabeled, setup.device, setup.policy, setup.options
    )

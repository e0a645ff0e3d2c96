"""Cross-entropy on the few labeled images: the supervised term of every objective."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo_distill.training.methods.terms.step import Logs, StudentStep

__all__ = ["CrossEntropy"]


class CrossEntropy:
    """CE(f(x_l), y), logged as ``loss_ce``."""

    def modules(self) -> dict[str, torch.nn.Module]:
        return {}

    def __call__(self, step: StudentStep) -> tuple[torch.Tensor, Logs]:
        ce = F.cross_entropy(step.labeled_logits, step.y)
        return ce, {"loss_ce": ce.detach()}

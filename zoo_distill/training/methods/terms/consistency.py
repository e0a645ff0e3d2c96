"""FixMatch consistency on the unlabeled images, with or without the teachers' probe.

    lambda_u * mean_u 1[max p(x_w) >= threshold] * CE(f(x_s), argmax p(x_w))

p(x_w) is the student's weak-view prediction, or (``probes``, ``unlabeled_loss=fixmatch-teachers``) its
normalised product with a linear probe on the teachers' banked features of the same view
(``teacher_probe.py``): the teachers' knowledge of the target's classes supplies pseudo-labels early and
cancels the student's confident mistakes later. The loss itself is ``consistency.consistency_loss``,
the one the FixMatch baseline trains.
"""

from __future__ import annotations

import torch

from zoo_distill.training.methods.consistency import consistency_loss
from zoo_distill.training.methods.teacher_probe import TeacherProbes
from zoo_distill.training.methods.terms.step import Logs, StudentStep

__all__ = ["ConsistencyTerm"]


class ConsistencyTerm:
    """lambda_u times FixMatch's masked pseudo-label loss; logs ``loss_unsup`` and ``mask``."""

    def __init__(self, threshold: float, lambda_u: float, probes: TeacherProbes | None = None) -> None:
        self.threshold, self.lambda_u, self.probes = threshold, lambda_u, probes

    def modules(self) -> dict[str, torch.nn.Module]:
        return {}

    def __call__(self, step: StudentStep) -> tuple[torch.Tensor, Logs] | None:
        n_b, n_u = step.n_labeled, step.n_unlabeled
        if not n_u:
            return None
        prior = None
        if self.probes is not None:
            prior = self.probes.probabilities({s: t[n_b : n_b + n_u] for s, t in step.targets.items()})
        logits = step.unlabeled_logits
        unsup, mask = consistency_loss(logits[:n_u], logits[n_u:], self.threshold, prior)
        return self.lambda_u * unsup, {"loss_unsup": unsup.detach(), "mask": mask.mean()}

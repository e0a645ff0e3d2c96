"""Entropy minimisation on the unlabeled weak views (Grandvalet & Bengio, NeurIPS 2004).

Low-density separation without pseudo-labels: the student is pushed to be confident on every
unlabeled image, so its decision boundaries move away from them. Off unless a weight is given: the
term then adds nothing, logs nothing and costs nothing (the unlabeled logits are not even computed).
"""

from __future__ import annotations

import torch

from zoo_distill.training.methods.terms.step import Logs, StudentStep

__all__ = ["EntropyMinimisation"]


class EntropyMinimisation:
    """``weight`` · mean over the step's unlabeled weak views of H(softmax(f(x_u))), logged as ``loss_ent``."""

    def __init__(self, weight: float = 0.0) -> None:
        if not weight >= 0:
            raise ValueError(f"the entropy term's weight must be >= 0, got {weight}")
        self.weight = float(weight)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {}

    def __call__(self, step: StudentStep) -> tuple[torch.Tensor, Logs] | None:
        if self.weight == 0 or step.n_unlabeled == 0:
            return None
        log_p = step.weak_logits.float().log_softmax(dim=1)  # in float32: bf16 autocast included
        entropy = -(log_p.exp() * log_p).sum(dim=1).mean()
        return self.weight * entropy, {"loss_ent": entropy.detach()}

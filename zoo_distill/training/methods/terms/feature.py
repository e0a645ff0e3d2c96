"""The feature-distillation term: each source's projected student features against its teacher's.

    lambda * sum_s alpha_s * mean_x (1 - cos(h_s(g(x)), phi_s(x)))

g is the student's pooled feature, h_s a linear head per source into source s's feature space (or its
class subspace, ``feature_space.py``), phi_s the teacher's feature of the same view, read from the bank.
The cosine distance lies in [0, 2] whatever a teacher's feature norm, so alpha alone decides how much
each source counts. With per-class source weights (``--method-opt source_weights=class``,
``ranking/per_class.py``) alpha_s becomes a weight per image, w_s(x) = sum_c q_c(x) A[s, c], with q the
label of a labeled image and the student's (detached) weak-view prediction on an unlabeled one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from zoo_distill.training.methods.terms.step import Logs, StudentStep

__all__ = ["FeatureTerm", "class_table", "cosine_distance", "head_key"]


def head_key(source: str) -> str:
    """ModuleDict keys cannot contain dots."""
    return re.sub(r"[^A-Za-z0-9_]", "_", source)


def cosine_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N] per-image 1 - cos(pred, target), in float32."""
    return 1 - F.cosine_similarity(pred.float(), target.float(), dim=1)


def class_table(class_alpha: Mapping[str, np.ndarray], alpha: Mapping[str, float], n_classes: int) -> torch.Tensor:
    """[classes, sources in alpha's order] from ``{source: [classes]}``, checked: every source of alpha,
    one finite weight >= 0 per class, and each class's weights summing to 1."""
    missing = sorted(set(alpha) - set(class_alpha))
    if missing:
        raise ValueError(f"class_alpha has no weights for {', '.join(missing)}")
    table = np.stack([np.asarray(class_alpha[s], dtype=np.float64) for s in alpha], axis=1)
    if (
        table.shape != (n_classes, len(alpha))
        or not np.all(np.isfinite(table))
        or np.any(table < 0)
        or not np.allclose(table.sum(axis=1), 1.0, atol=1e-6)
    ):
        raise ValueError(
            f"class_alpha must give each of the {n_classes} classes finite weights >= 0 over the "
            f"sources that sum to 1; got a {table.shape[0]} x {table.shape[1]} table"
        )
    return torch.as_tensor(table, dtype=torch.float32)


class FeatureTerm:
    """lambda times the alpha-weighted (or per-image class-weighted) cosine distance of every source.

    ``dims``: each source's target dimension; ``project``: what of a teacher's banked features is the
    target (identity, or its class subspace); ``table``: the per-class weights, or None for alpha alone.
    Logs ``loss_feat_<source>`` (the plain mean distance) and ``loss_feat`` (the weighted sum).
    """

    def __init__(
        self,
        alpha: Mapping[str, float],
        student_dim: int,
        dims: Mapping[str, int],
        lam: float,
        project: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        table: torch.Tensor | None = None,
    ) -> None:
        self.alpha, self.lam, self.project, self.table = dict(alpha), lam, dict(project or {}), table
        self.heads = torch.nn.ModuleDict({head_key(s): torch.nn.Linear(student_dim, dims[s]) for s in alpha})

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"heads": self.heads}

    def image_weights(self, step: StudentStep) -> torch.Tensor:
        """[labeled + unlabeled, sources]: the label's row of the table for labeled images, the student's
        weak-view prediction times the table for the others."""
        assert self.table is not None
        if self.table.device != step.y.device:
            self.table = self.table.to(step.y.device)  # once
        rows = [self.table[step.y]]
        if step.n_unlabeled:
            with torch.autocast(step.y.device.type, enabled=False):  # weights that sum to 1, also under bf16
                rows.append(step.weak_logits.detach().float().softmax(dim=1) @ self.table)
        return torch.cat(rows)

    def __call__(self, step: StudentStep) -> tuple[torch.Tensor, Logs]:
        weights = self.image_weights(step) if self.table is not None else None
        feat = torch.zeros((), device=step.g.device)
        logs: Logs = {}
        for k, (source, alpha) in enumerate(self.alpha.items()):
            target = step.targets[source]
            if source in self.project:
                target = self.project[source](target)
            distance = cosine_distance(self.heads[head_key(source)](step.distilled), target)
            term = distance.mean()
            feat = feat + (alpha * term if weights is None else (weights[:, k] * distance).mean())
            logs[f"loss_feat_{source}"] = term.detach()
        logs["loss_feat"] = feat.detach()
        return self.lam * feat, logs

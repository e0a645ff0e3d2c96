"""DistillNearest / DistillWeighted: cross-entropy on the few labels plus a weighted
feature-distillation loss from every source on labeled and unlabeled images.

    L = CE(f(x_l), y) + lambda * sum_s alpha_s * mean_x L_feat(h_s(g(x)), phi_s(x))

g is the student's pooled feature, h_s a projection head per source (linear by default) into
source s's feature space, phi_s the frozen teacher feature of the *same view* of x (read from
the bank), and alpha the aggregator's weights. L_feat defaults to the cosine distance
1 - cos(a, b), i.e. half the squared L2 distance between L2-normalised vectors: teachers'
feature norms differ by orders of magnitude across architectures and domains, and
normalising makes each source's term lie in [0, 2], so alpha alone decides how much each
source counts.

With ``unlabeled_loss="fixmatch"`` the unlabeled pool also trains FixMatch's consistency term:

    L += lambda_u * mean_u 1[max p(x_w) >= threshold] * CE(f(x_s), argmax p(x_w))

x_w is the weak view, which is the distillation view (the bank's), and x_s a strong view;
labeled, weak and strong images go through the student in one forward pass, as in FixMatch, so
a step costs what a FixMatch step costs. ``lam_schedule`` and ``lam_scale`` (feature_weight.py)
are opt-in guards that lower lambda when the zoo does not fit the target.
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

from zoo_distill.data.pool import ImagePool
from zoo_distill.data.views import augment, make_view
from zoo_distill.training.config import FEATURE_LOSSES, HEADS, DistillConfig, FixMatchConfig, TrainConfig
from zoo_distill.training.inputs import StudentInputs, classify, pooled_features
from zoo_distill.training.loop import StepBatch
from zoo_distill.training.methods.consistency import StrongViews, consistency_loss
from zoo_distill.training.methods.feature_weight import knn_relevance, schedule_factor
from zoo_distill.training.student import Student


def head_key(source: str) -> str:
    """ModuleDict keys cannot contain dots."""
    return re.sub(r"[^A-Za-z0-9_]", "_", source)


def make_head(kind: str, d_in: int, d_out: int) -> torch.nn.Module:
    if kind == "linear":
        return torch.nn.Linear(d_in, d_out)
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(d_in, d_in), torch.nn.GELU(), torch.nn.Linear(d_in, d_out))
    raise ValueError(f"unknown head {kind!r}; known: {', '.join(HEADS)}")


def feature_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "cosine":
        return (1 - F.cosine_similarity(pred.float(), target.float(), dim=1)).mean()
    if kind == "mse":
        return F.mse_loss(pred.float(), target.float())
    raise ValueError(f"unknown feature loss {kind!r}; known: {', '.join(FEATURE_LOSSES)}")


def active_weights(alpha: dict[str, float], threshold: float) -> dict[str, float]:
    """Drop sources below the threshold and renormalise; zero-weight sources cost nothing."""
    kept = {k: v for k, v in alpha.items() if v >= threshold}
    total = sum(kept.values())
    if total <= 0:
        raise ValueError("every source weight is zero (or below the threshold): nothing to distill from")
    return {k: v / total for k, v in kept.items()}


class Distill:
    """The distillation objective over a labeled pool (first) and an unlabeled pool.

    ``fixmatch`` holds the consistency settings (threshold, lambda_u, strong augmentation) used
    when ``config.unlabeled_loss == "fixmatch"``; ``train`` gives the training length that a
    ``config.lam_schedule`` other than constant decays over.
    """

    uses_unlabeled = True

    def __init__(self, student: Student, labeled: ImagePool, labels: np.ndarray, unlabeled: ImagePool,
                 alpha: dict[str, float], targets: dict[str, torch.Tensor] | None, config: DistillConfig,
                 device: torch.device, teachers: dict | None = None, name: str = "distill",
                 fixmatch: FixMatchConfig | None = None, train: TrainConfig | None = None) -> None:
        self.name, self.student, self.config, self.device = name, student, config, device
        self.labeled, self.unlabeled = labeled, unlabeled
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.alpha = alpha
        self.targets = targets or {}
        self.teachers = teachers or {}
        self.inputs = StudentInputs(student, device)
        dims = ({s: t.shape[-1] for s, t in self.targets.items()} if not config.online_teachers
                else {s: t.feature_dim for s, t in self.teachers.items()})
        self.heads = torch.nn.ModuleDict({head_key(s): make_head(config.head, student.feature_dim, dims[s])
                                          for s in alpha})
        if config.online_teachers:
            from timm.data import create_transform

            self.teacher_tf = {s: create_transform(**t.data_config, is_training=False) for s, t in self.teachers.items()}
        self.fixmatch = (fixmatch or FixMatchConfig()) if config.unlabeled_loss == "fixmatch" else None
        self.strong = StrongViews(config.policy, self.fixmatch) if self.fixmatch is not None else None
        self.steps_per_epoch = self.total_steps = 0
        if config.lam_schedule != "constant":
            if train is None:
                raise ValueError(f"lam_schedule {config.lam_schedule!r} needs the training length: pass train=")
            self.steps_per_epoch = train.resolved_steps(len(labeled), len(unlabeled))
            self.total_steps = self.steps_per_epoch * train.epochs
        self.relevance = self._relevance() if config.lam_scale == "knn" else {s: 1.0 for s in alpha}
        self.guarded = config.lam_schedule != "constant" or config.lam_scale != "none"

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student.model, "heads": self.heads}

    def _image(self, pooled_index: int):
        n_l = len(self.labeled)
        return self.labeled.image(pooled_index) if pooled_index < n_l else self.unlabeled.image(pooled_index - n_l)

    def _relevance(self) -> dict[str, float]:
        """r_s per source from its features on the plain labeled images (bank view 0, no new pass)."""
        n_l, labels = len(self.labeled), self.labels.numpy()
        if self.config.online_teachers:
            features = self._online_targets([self.labeled.image(i) for i in range(n_l)])
        else:
            features = {s: bank[0, :n_l] for s, bank in self.targets.items()}
        return {s: knn_relevance(features[s].float().cpu().numpy(), labels) for s in self.alpha}

    def lam_at(self, batch: StepBatch) -> float:
        """lambda at this step: the configured value times the schedule's factor."""
        if not self.total_steps:
            return self.config.lam
        progress = (batch.epoch * self.steps_per_epoch + batch.step) / self.total_steps
        return self.config.lam * schedule_factor(self.config.lam_schedule, min(progress, 1.0))

    def _views_and_targets(self, index: np.ndarray, rng: np.random.Generator):
        """The distillation views of ``index`` and the teachers' features on them."""
        if self.config.online_teachers:
            views = [augment(self._image(i), rng, self.config.policy) for i in index]
            return views, self._online_targets(views)
        v = rng.integers(0, self.config.views, len(index))
        views = [make_view(self._image(i), self.config.policy, self.config.view_seed, int(i), int(k))
                 for i, k in zip(index, v)]
        vt, it = torch.as_tensor(v), torch.as_tensor(index)
        return views, {s: bank[vt, it].to(self.device) for s, bank in self.targets.items()}

    def loss(self, batch: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        n_l, n_b, n_u = len(self.labeled), len(batch.labeled), len(batch.unlabeled)
        index = np.concatenate([batch.labeled, n_l + batch.unlabeled])
        views, targets = self._views_and_targets(index, batch.rng)
        # Drawn after the distillation views, so those are the same pixels as without consistency.
        strong = self.strong.seeded([self.unlabeled.image(int(i)) for i in batch.unlabeled], batch.rng) \
            if self.strong is not None and n_u else []
        g = pooled_features(self.student.model, self.inputs(views + strong))
        ce = F.cross_entropy(classify(self.student.model, g[:n_b]), self.labels[batch.labeled].to(self.device))
        feat = torch.zeros((), device=self.device)  # alpha-weighted, as logged
        guarded = torch.zeros((), device=self.device)  # alpha * relevance-weighted, as trained
        logs = {"loss_ce": float(ce.item())}
        for source, weight in self.alpha.items():
            term = feature_loss(self.config.feature_loss, self.heads[head_key(source)](g[:len(index)]),
                                targets[source])
            feat = feat + weight * term
            guarded = guarded + weight * self.relevance[source] * term
            logs[f"loss_feat_{source}"] = float(term.item())
        logs["loss_feat"] = float(feat.item())
        lam = self.lam_at(batch)
        total = ce + lam * (guarded if self.config.lam_scale != "none" else feat)
        if self.guarded:
            logs["lam_feat"] = lam * sum(w * self.relevance[s] for s, w in self.alpha.items())
        if strong:
            logits = classify(self.student.model, g[n_b:])
            unsup, mask = consistency_loss(logits[:n_u], logits[n_u:], self.fixmatch.threshold)
            total = total + self.fixmatch.lambda_u * unsup
            logs.update(loss_unsup=float(unsup.item()), mask=float(mask.mean().item()))
        return total, logs

    @torch.inference_mode()
    def _online_targets(self, views) -> dict[str, torch.Tensor]:
        out = {}
        for source, teacher in self.teachers.items():
            x = torch.stack([self.teacher_tf[source](img) for img in views]).to(self.device)
            out[source] = teacher.forward(x)[0].float().clone()
        return out

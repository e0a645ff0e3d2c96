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
a step costs what a FixMatch step costs. ``unlabeled_loss="fixmatch-teachers"`` takes the pseudo-label
from p(x_w) times the alpha-weighted prediction of a linear probe on each teacher's features of x_w
(teacher_probe.py): the teachers' knowledge of the target's classes, not only of its features.
``lam_schedule`` and ``lam_scale`` (feature_weight.py) are opt-in guards that lower lambda when the
zoo does not fit the target. ``feature_space="class"`` (feature_space.py) replaces phi_s by its
coordinates in source s's discriminant subspace for the labeled classes, so the student reproduces
what each teacher knows about the target's classes and not the rest of what it sees; with it,
``feature_gate="agreement"`` (feature_gate.py) drops source s's term on an unlabeled image where the
confident student and teacher s's class in that subspace disagree.

With per-class source weights A[s, c] (``run --source-weights class``, ranking/per_class.py) alpha_s
becomes a weight per image, w_s(x) = sum_c q_c(x) A[s, c], with q the label of a labeled image and
the student's (detached) prediction on the weak view of an unlabeled one: each source's term counts
on the images of the classes it knows best.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import create_transform

from zoo_distill.data.pool import ImagePool
from zoo_distill.data.views import augment, make_view
from zoo_distill.training.config import (
    CONSISTENCY_LOSSES,
    FEATURE_LOSSES,
    HEADS,
    DistillConfig,
    FixMatchConfig,
    TrainConfig,
)
from zoo_distill.training.inputs import Transform, classify, pooled_features, stack, student_transform
from zoo_distill.training.methods.consistency import StrongViews, consistency_loss
from zoo_distill.training.methods.feature_gate import agreement_gate
from zoo_distill.training.methods.feature_space import ClassSubspace, fit_class_subspace
from zoo_distill.training.methods.feature_weight import knn_relevance, schedule_factor
from zoo_distill.training.methods.teacher_probe import TeacherProbes
from zoo_distill.training.pipeline import Inputs, StepBatch
from zoo_distill.training.student import Student

__all__ = ["Distill", "DistillInputs", "active_weights", "feature_distance", "feature_loss", "head_key", "make_head"]


def head_key(source: str) -> str:
    """ModuleDict keys cannot contain dots."""
    return re.sub(r"[^A-Za-z0-9_]", "_", source)


def make_head(kind: str, d_in: int, d_out: int) -> torch.nn.Module:
    if kind == "linear":
        return torch.nn.Linear(d_in, d_out)
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(d_in, d_in), torch.nn.GELU(), torch.nn.Linear(d_in, d_out))
    raise ValueError(f"unknown head {kind!r}; known: {', '.join(HEADS)}")


def feature_distance(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N] per-image distance between predicted and teacher features."""
    if kind == "cosine":
        return 1 - F.cosine_similarity(pred.float(), target.float(), dim=1)
    if kind == "mse":
        return (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    raise ValueError(f"unknown feature loss {kind!r}; known: {', '.join(FEATURE_LOSSES)}")


def feature_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean of ``feature_distance``, computed as it always was (the kept results' bits)."""
    if kind == "mse":
        return F.mse_loss(pred.float(), target.float())
    return feature_distance(kind, pred, target).mean()


def active_weights(alpha: dict[str, float], threshold: float) -> dict[str, float]:
    """Drop sources below the threshold and renormalise; zero-weight sources cost nothing."""
    kept = {k: v for k, v in alpha.items() if v >= threshold}
    total = sum(kept.values())
    if total <= 0:
        raise ValueError("every source weight is zero (or below the threshold): nothing to distill from")
    return {k: v / total for k, v in kept.items()}


@dataclass(frozen=True, eq=False)
class DistillInputs:
    """A step's CPU work (in a DataLoader worker): the distillation views of the labeled and unlabeled
    images as student inputs, the teachers' features on them read from the bank (or, with online
    teachers, the views in each teacher's preprocessing), and the strong views when consistency is on.

    The views are drawn from the step's generator in the order they always were, so they are the
    same pixels in any process, and the same the published tables were trained on.
    """

    labeled: ImagePool
    unlabeled: ImagePool
    labels: torch.Tensor
    config: DistillConfig
    transform: Transform
    targets: Mapping[str, torch.Tensor] = field(default_factory=dict)  # source -> bank, read as bank[view, index]
    teacher_transforms: Mapping[str, Transform] = field(default_factory=dict)  # online teachers only
    strong: StrongViews | None = None

    @property
    def pools(self) -> tuple[ImagePool, ...]:
        return self.labeled, self.unlabeled

    def image(self, pooled_index: int):
        n_l = len(self.labeled)
        return self.labeled.image(pooled_index) if pooled_index < n_l else self.unlabeled.image(pooled_index - n_l)

    def __call__(self, batch: StepBatch) -> Inputs:
        index = np.concatenate([batch.labeled, len(self.labeled) + batch.unlabeled])
        inputs: Inputs = {"y": self.labels[batch.labeled], "epoch": batch.epoch, "step": batch.step}
        if self.config.online_teachers:
            views = [augment(self.image(int(i)), batch.rng, self.config.policy) for i in index]
            inputs.update({f"teacher:{s}": stack(tf, views) for s, tf in self.teacher_transforms.items()})
        else:
            v = batch.rng.integers(0, self.config.views, len(index))
            views = [make_view(self.image(int(i)), self.config.policy, self.config.view_seed, int(i), int(k))
                     for i, k in zip(index, v)]
            vt, it = torch.as_tensor(v), torch.as_tensor(index)
            inputs.update({f"target:{s}": bank[vt, it] for s, bank in self.targets.items()})
        # Drawn after the distillation views, so those are the same pixels as without consistency.
        strong = self.strong.seeded([self.unlabeled.image(int(i)) for i in batch.unlabeled], batch.rng) \
            if self.strong is not None and len(batch.unlabeled) else []
        inputs.update(x=stack(self.transform, views + strong), n_unlabeled=len(batch.unlabeled))
        return inputs


def _class_table(class_alpha: Mapping[str, np.ndarray], alpha: Mapping[str, float], n_classes: int) -> torch.Tensor:
    """[classes, sources in alpha's order] from ``{source: [classes]}``, checked: every source of alpha,
    one finite weight >= 0 per class, and each class's weights summing to 1."""
    missing = sorted(set(alpha) - set(class_alpha))
    if missing:
        raise ValueError(f"class_alpha has no weights for {', '.join(missing)}")
    table = np.stack([np.asarray(class_alpha[s], dtype=np.float64) for s in alpha], axis=1)
    if table.shape != (n_classes, len(alpha)) or not np.all(np.isfinite(table)) or np.any(table < 0) \
            or not np.allclose(table.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"class_alpha must give each of the {n_classes} classes finite weights >= 0 over the "
                         f"sources that sum to 1; got a {table.shape[0]} x {table.shape[1]} table")
    return torch.as_tensor(table, dtype=torch.float32)


class Distill:
    """The distillation objective over a labeled pool (first) and an unlabeled pool.

    ``fixmatch`` holds the consistency settings (threshold, lambda_u, strong augmentation) used
    when ``config.unlabeled_loss`` is a consistency loss; ``train`` gives the training length that a
    ``config.lam_schedule`` other than constant decays over; ``class_alpha`` ({source: [classes]},
    each class summing to 1 over the sources of ``alpha``) weighs every image's feature terms by its
    class instead of by alpha alone.
    """

    uses_unlabeled = True

    def __init__(self, student: Student, labeled: ImagePool, labels: np.ndarray, unlabeled: ImagePool,
                 alpha: dict[str, float], targets: dict[str, torch.Tensor] | None, config: DistillConfig,
                 device: torch.device, teachers: dict | None = None, name: str = "distill",
                 fixmatch: FixMatchConfig | None = None, train: TrainConfig | None = None,
                 class_alpha: Mapping[str, np.ndarray] | None = None) -> None:
        self.name, self.student, self.config, self.device = name, student, config, device
        self.labeled, self.unlabeled = labeled, unlabeled
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.alpha = alpha
        self.targets = targets or {}
        self.teachers = teachers or {}
        self.class_alpha: torch.Tensor | None = None  # [classes, sources in alpha's order]
        if class_alpha is not None:
            self.class_alpha = _class_table(class_alpha, alpha, int(student.model.num_classes))
        dims = ({s: t.shape[-1] for s, t in self.targets.items()} if not config.online_teachers
                else {s: t.feature_dim for s, t in self.teachers.items()})
        self.teacher_tf = {s: create_transform(**t.data_config, is_training=False) for s, t in self.teachers.items()} \
            if config.online_teachers else {}
        # every view of the labeled images, read once for the subspaces and the probes (with online
        # teachers, one pass through each teacher)
        wanted = config.feature_space == "class" or config.unlabeled_loss == "fixmatch-teachers"
        labeled_features = self._labeled_features(every_view=True) if wanted else {}
        self.subspaces = self._subspaces(labeled_features) if config.feature_space == "class" else {}
        dims.update({s: subspace.dim for s, subspace in self.subspaces.items()})
        self.heads = torch.nn.ModuleDict({head_key(s): make_head(config.head, student.feature_dim, dims[s])
                                          for s in alpha})
        consistency = fixmatch or FixMatchConfig()
        self.fixmatch = consistency if config.unlabeled_loss in CONSISTENCY_LOSSES else None
        self.gate_threshold = consistency.threshold  # --threshold, also without a consistency loss
        self.make_inputs = DistillInputs(
            labeled, unlabeled, self.labels, config, student_transform(student),
            targets={} if config.online_teachers else {s: self.targets[s] for s in alpha},
            teacher_transforms=self.teacher_tf,
            strong=StrongViews(config.policy, self.fixmatch) if self.fixmatch is not None else None)
        self.steps_per_epoch = self.total_steps = 0
        if config.lam_schedule != "constant":
            if train is None:
                raise ValueError(f"lam_schedule {config.lam_schedule!r} needs the training length: pass train=")
            self.steps_per_epoch = train.resolved_steps(len(labeled), len(unlabeled))
            self.total_steps = self.steps_per_epoch * train.epochs
        self.relevance = self._relevance() if config.lam_scale == "knn" else {s: 1.0 for s in alpha}
        self.guarded = config.lam_schedule != "constant" or config.lam_scale != "none"
        self.probes = self._probes(labeled_features) if config.unlabeled_loss == "fixmatch-teachers" else None

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student.model, "heads": self.heads}

    def _relevance(self) -> dict[str, float]:
        """r_s per source from its features on the plain labeled images (bank view 0, no new pass)."""
        features, labels = self._labeled_features(every_view=False), self.labels.numpy()
        return {s: knn_relevance(features[s][0].float().cpu().numpy(), labels) for s in self.alpha}

    def _labeled_features(self, every_view: bool) -> dict[str, torch.Tensor]:
        """[views, labeled, D] per source: the bank's views (all, or view 0), or one online pass."""
        n_l = len(self.labeled)
        if self.config.online_teachers:
            features = self._online_features([self.labeled.image(i) for i in range(n_l)])
            return {s: f[None].cpu() for s, f in features.items()}
        return {s: bank[:, :n_l] if every_view else bank[:1, :n_l] for s, bank in self.targets.items()}

    def _probes(self, features: dict[str, torch.Tensor]) -> TeacherProbes:
        """A probe per source on its features of every banked view of the labeled images (no new pass)."""
        return TeacherProbes.fit(features, self.labels.numpy(),
                                 int(self.student.model.num_classes), self.alpha,
                                 joint=self.config.teacher_probe.startswith("joint"),
                                 equal_blocks=self.config.teacher_probe == "joint-equal")

    def _subspaces(self, features: dict[str, torch.Tensor]) -> dict[str, ClassSubspace]:
        """Each source's discriminant subspace, from every banked view of the labeled images."""
        labels, subspaces = self.labels.numpy(), {}
        for source in self.alpha:
            f = features[source].float().cpu().numpy()
            subspaces[source] = fit_class_subspace(f.reshape(-1, f.shape[-1]), np.tile(labels, f.shape[0]), source)
        return subspaces

    def image_weights(self, y: torch.Tensor, weak_logits: torch.Tensor | None) -> torch.Tensor | None:
        """[labeled + unlabeled, sources] per-image source weights (class mode), else None: the
        label's row of A for labeled images, the student's weak-view prediction times A for the others."""
        if self.class_alpha is None:
            return None
        if self.class_alpha.device != y.device:
            self.class_alpha = self.class_alpha.to(y.device)  # once
        table = self.class_alpha
        rows = [table[y]]
        if weak_logits is not None and len(weak_logits):
            with torch.autocast(y.device.type, enabled=False):  # weights that sum to 1, also under bf16
                rows.append(weak_logits.detach().float().softmax(dim=1) @ table)
        return torch.cat(rows)

    def lam_at(self, epoch: int, step: int) -> float:
        """lambda at this step: the configured value times the schedule's factor."""
        if not self.total_steps:
            return self.config.lam
        progress = (epoch * self.steps_per_epoch + step) / self.total_steps
        return self.config.lam * schedule_factor(self.config.lam_schedule, min(progress, 1.0))

    def loss(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        n_b, n_u = len(inputs["y"]), inputs["n_unlabeled"]
        targets = self._online_targets(inputs) if self.config.online_teachers else \
            {s: inputs[f"target:{s}"] for s in self.alpha}
        g = pooled_features(self.student.model, inputs["x"])
        ce = F.cross_entropy(classify(self.student.model, g[:n_b]), inputs["y"])
        gating = self.config.feature_gate != "none"
        logits = classify(self.student.model, g[n_b:]) if n_u and (self.fixmatch is not None or gating
                                                                    or self.class_alpha is not None) else None
        weights = self.image_weights(inputs["y"], logits[:n_u] if logits is not None else None)
        feat = torch.zeros((), device=g.device)  # alpha-weighted, as logged
        guarded = torch.zeros((), device=g.device)  # alpha * relevance-weighted, as trained
        logs: dict[str, torch.Tensor | float] = {"loss_ce": ce.detach()}
        wanted = {s: self.subspaces[s](t) for s, t in targets.items()} if self.subspaces else targets
        gates = self._gates(logits[:n_u], wanted, n_b) if gating and logits is not None else None
        for k, (source, weight) in enumerate(self.alpha.items()):
            pred = self.heads[head_key(source)](g[:n_b + n_u])
            if weights is None and gates is None:  # one alpha per source: the objective as it always was
                term = feature_loss(self.config.feature_loss, pred, wanted[source])
                feat = feat + weight * term
                guarded = guarded + weight * self.relevance[source] * term
            else:  # a weight per image: from its class, times the gate
                distance = feature_distance(self.config.feature_loss, pred, wanted[source])
                per_image = weights[:, k] if weights is not None else weight
                if gates is not None:
                    per_image = per_image * gates[k]
                term, weighted = distance.mean(), (per_image * distance).mean()
                feat = feat + weighted
                guarded = guarded + self.relevance[source] * weighted
            logs[f"loss_feat_{source}"] = term.detach()
        logs["loss_feat"] = feat.detach()
        if gates is not None:  # the share of unlabeled images whose term a teacher lost, over the sources
            logs["gated"] = 1.0 - gates[:, n_b:].mean()
        lam = self.lam_at(inputs["epoch"], inputs["step"])
        total = ce + lam * (guarded if self.config.lam_scale != "none" else feat)
        if self.guarded:
            logs["lam_feat"] = lam * sum(w * self.relevance[s] for s, w in self.alpha.items())
        if self.fixmatch is not None and logits is not None:
            prior = self.probes.probabilities({s: t[n_b:n_b + n_u] for s, t in targets.items()}) \
                if self.probes is not None else None
            unsup, mask = consistency_loss(logits[:n_u], logits[n_u:], self.fixmatch.threshold, prior)
            total = total + self.fixmatch.lambda_u * unsup
            logs.update(loss_unsup=unsup.detach(), mask=mask.mean())
        return total, logs

    def _gates(self, weak_logits: torch.Tensor, wanted: Mapping[str, torch.Tensor], n_b: int) -> torch.Tensor:
        """[sources in alpha's order, labeled + unlabeled]: 1 where a source's feature term applies (every
        labeled image; an unlabeled one unless the confident student names another class than its LDA)."""
        n_u = len(weak_logits)
        teacher_classes = torch.stack([self.subspaces[s].predict(wanted[s][n_b:n_b + n_u].detach())
                                       for s in self.alpha])
        unlabeled = agreement_gate(weak_logits, teacher_classes, self.gate_threshold)
        return torch.cat([unlabeled.new_ones(len(self.alpha), n_b), unlabeled], dim=1)

    @torch.inference_mode()
    def _online_targets(self, inputs: Inputs) -> dict[str, torch.Tensor]:
        """Each teacher's features on the step's views (``teacher:<source>``, on the device)."""
        return {source: teacher.forward(inputs[f"teacher:{source}"])[0].float().clone()
                for source, teacher in self.teachers.items()}

    @torch.inference_mode()
    def _online_features(self, images, chunk: int = 256) -> dict[str, torch.Tensor]:
        """Each teacher's features on ``images`` (for the relevance of its sources and the probes), in
        chunks, so a large labeled set does not go through a teacher in one batch."""
        parts = [self._online_targets({f"teacher:{s}": stack(tf, images[i:i + chunk]).to(self.device)
                                       for s, tf in self.teacher_tf.items()})
                 for i in range(0, len(images), chunk)]
        return {s: torch.cat([p[s] for p in parts]) for s in self.teacher_tf}

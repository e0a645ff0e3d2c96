"""DistillNearest / DistillWeighted: cross-entropy on the few labels plus a weighted feature-distillation
term from every source on labeled and unlabeled images, plus (by default) consistency on the unlabeled.

    L = CE(f(x_l), y) + lambda * sum_s alpha_s * mean_x (1 - cos(h_s(g(x)), phi_s(x)))
        [+ lambda_u * FixMatch consistency, its pseudo-labels weighed by the teachers' probe]

Each part is one term (``terms/``); ``Distill`` computes the student's outputs once per step and sums
the terms. x_w, the weak view of FixMatch, is the distillation view (the bank's); labeled, weak and
strong images go through the student in one forward pass, so a step costs what a FixMatch step costs.
``build_distill`` makes the objective from the run's inputs (``MethodSetup``) and ``DistillOptions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.pool import ImagePool
from zoo_distill.data.views import make_view
from zoo_distill.plugin.types import MethodSetup
from zoo_distill.training.inputs import Transform, stack, student_transform
from zoo_distill.training.methods.consistency import StrongViews
from zoo_distill.training.methods.feature_space import MIN_CLASSES, ClassSubspace, fit_class_subspace
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.training.methods.teacher_probe import TeacherProbes
from zoo_distill.training.methods.terms.consistency import ConsistencyTerm
from zoo_distill.training.methods.terms.cross_entropy import CrossEntropy
from zoo_distill.training.methods.terms.feature import FeatureTerm, class_table
from zoo_distill.training.methods.terms.step import StudentStep, Term, sum_terms
from zoo_distill.training.pipeline import Inputs, StepBatch
from zoo_distill.training.student import Student

__all__ = ["Distill", "DistillInputs", "build_distill", "distill_objective", "distill_terms", "feature_space_for"]


@dataclass(frozen=True, eq=False)
class DistillInputs:
    """A step's CPU work (in a DataLoader worker): the distillation views of the labeled and unlabeled
    images as student inputs, the teachers' features on them read from the bank, and the strong views
    when consistency is on. Every view comes from the step's generator: the same pixels in any process."""

    labeled: ImagePool
    unlabeled: ImagePool
    labels: torch.Tensor
    views: int
    view_seed: int
    policy: ViewPolicy
    transform: Transform
    targets: Mapping[str, torch.Tensor]  # source -> bank, read as bank[view, index]
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
        v = batch.rng.integers(0, self.views, len(index))
        views = [make_view(self.image(int(i)), self.policy, self.view_seed, int(i), int(k)) for i, k in zip(index, v)]
        vt, it = torch.as_tensor(v), torch.as_tensor(index)
        inputs.update({f"target:{s}": bank[vt, it] for s, bank in self.targets.items()})
        # Drawn after the distillation views, so those are the same pixels as without consistency.
        strong = (
            self.strong.seeded([self.unlabeled.image(int(i)) for i in batch.unlabeled], batch.rng)
            if self.strong is not None and len(batch.unlabeled)
            else []
        )
        inputs.update(x=stack(self.transform, views + strong), n_unlabeled=len(batch.unlabeled))
        return inputs


class Distill:
    """The distillation objective: the student's outputs once per step, then the sum of ``terms``."""

    uses_unlabeled = True

    def __init__(
        self,
        student: Student,
        terms: Sequence[Term],
        make_inputs: DistillInputs,
        sources: Sequence[str],
        name: str = "distill",
    ) -> None:
        self.name, self.student, self.terms, self.make_inputs = name, student, list(terms), make_inputs
        self.sources = list(sources)
        self.options: DistillOptions | None = None

    def modules(self) -> dict[str, torch.nn.Module]:
        parts: dict[str, torch.nn.Module] = {"student": self.student.model}
        for term in self.terms:
            parts.update(term.modules())
        return parts

    def loss(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        step = StudentStep(self.student.model, inputs, {s: inputs[f"target:{s}"] for s in self.sources})
        return sum_terms(self.terms, step)


def _subspaces(
    features: Mapping[str, torch.Tensor], labels: np.ndarray, alpha: Mapping[str, float]
) -> dict[str, ClassSubspace]:
    """Each source's discriminant subspace, from every banked view of the labeled images."""
    subspaces = {}
    for source in alpha:
        f = features[source].float().cpu().numpy()
        subspaces[source] = fit_class_subspace(f.reshape(-1, f.shape[-1]), np.tile(labels, f.shape[0]), source)
    return subspaces


def distill_terms(setup: MethodSetup, options: DistillOptions) -> list[Term]:
    """CE, the feature term and (with a consistency ``unlabeled_loss``) the consistency term, in that order."""
    student, alpha, labels = setup.student, setup.alpha, np.asarray(setup.labels)
    n_l, n_classes = len(setup.labeled), int(student.model.num_classes)
    labeled_features = {s: bank[:, :n_l] for s, bank in setup.bank.items()}  # every view of the labeled images
    subspaces = _subspaces(labeled_features, labels, alpha) if options.feature_space == "class" else {}
    dims = {s: subspaces[s].dim if s in subspaces else setup.bank[s].shape[-1] for s in alpha}
    table = class_table(setup.class_alpha, alpha, n_classes) if setup.class_alpha is not None else None
    terms: list[Term] = [CrossEntropy(), FeatureTerm(alpha, student.feature_dim, dims, options.lam, subspaces, table)]
    if options.unlabeled_loss != "none":
        probes = (
            TeacherProbes.fit(labeled_features, labels, n_classes, alpha, joint=options.teacher_probe == "joint")
            if options.unlabeled_loss == "fixmatch-teachers"
            else None
        )
        terms.append(ConsistencyTerm(options.threshold, options.lambda_u, probes))
    return terms


def feature_space_for(options: DistillOptions, labels: np.ndarray) -> tuple[DistillOptions, str | None]:
    """``feature_space="class"`` needs labeled images of 3 classes or more; with fewer the run distills the
    full features and says so."""
    present = len(np.unique(labels))
    if options.feature_space != "class" or present >= MIN_CLASSES:
        return options, None
    note = (
        f"--method-opt feature_space=class needs labeled images of at least {MIN_CLASSES} classes and this "
        f"target has {present}: distilling the teachers' full features (feature_space=full)"
    )
    return replace(options, feature_space="full"), note


def build_distill(setup: MethodSetup) -> Distill:
    """The ``distill`` method's objective (the heads are initialised from torch's global generator)."""
    options, note = feature_space_for(setup.options, np.asarray(setup.labels))
    if note:
        setup.notes.append(note)
    terms = distill_terms(setup, options)
    consistency = options.unlabeled_loss != "none"
    make_inputs = DistillInputs(
        setup.labeled,
        setup.unlabeled,
        torch.as_tensor(setup.labels, dtype=torch.long),
        options.views,
        options.view_seed,
        setup.policy,
        student_transform(setup.student),
        {s: setup.bank[s] for s in setup.alpha},
        StrongViews(setup.policy, options) if consistency else None,
    )
    name = (setup.label or "distill") + ("" if options.unlabeled_loss == "none" else f"+{options.unlabeled_loss}")
    objective = Distill(setup.student, terms, make_inputs, list(setup.alpha), name=name)
    objective.options = options  # what it trains, recorded in the run's spec
    return objective


def distill_objective(
    student: Student,
    labeled: ImagePool,
    labels: np.ndarray,
    unlabeled: ImagePool,
    alpha: dict[str, float],
    bank: Mapping[str, torch.Tensor],
    device: torch.device,
    options: DistillOptions | None = None,
    class_alpha: Mapping[str, np.ndarray] | None = None,
    policy: ViewPolicy | None = None,
) -> Distill:
    """The ``distill`` objective from its parts, for code that trains it outside a run (benchmarks, tests)."""
    setup = MethodSetup(
        student,
        labeled,
        np.asarray(labels),
        unlabeled,
        device,
        None,
        policy or ViewPolicy(),
        options or DistillOptions(),
        alpha=dict(alpha),
        bank=bank,
        class_alpha=class_alpha,
    )
    return build_distill(setup)

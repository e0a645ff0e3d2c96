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
from zoo_distill.data.store import ImageStore
from zoo_distill.data.store_batches import store_inputs, views_inputs
from zoo_distill.data.view_params import SeededViews
from zoo_distill.plugin.types import MethodSetup
from zoo_distill.training.inputs import student_consumer, student_views
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
    """A step's CPU work (in a DataLoader worker): the store rows of the labeled and unlabeled images, their
    distillation views (group ``w``: the bank's view parameters, so the student sees exactly the views the
    teachers' features were computed on), the teachers' features on them read from the bank, and the
    strong views (group ``s``) when consistency is on. Every draw comes from the step's generator."""

    store: ImageStore  # the labeled images, then the unlabeled ones
    n_labeled: int
    labels: torch.Tensor
    views: int
    seeded: SeededViews
    targets: Mapping[str, torch.Tensor]  # source -> bank, read as bank[view, index]
    strong: StrongViews | None = None

    def __call__(self, batch: StepBatch) -> Inputs:
        index = np.concatenate([batch.labeled, self.n_labeled + batch.unlabeled])
        inputs: Inputs = {"y": self.labels[batch.labeled], "epoch": batch.epoch, "step": batch.step}
        v = batch.rng.integers(0, self.views, len(index))
        vt, it = torch.as_tensor(v), torch.as_tensor(index)
        inputs.update({f"target:{s}": bank[vt, it] for s, bank in self.targets.items()})
        inputs.update(store_inputs(self.store, index), **views_inputs("w", self.seeded.of(index, v)))
        n_l, n_u = len(batch.labeled), len(batch.unlabeled)
        if self.strong is not None and n_u:  # drawn after the distillation views: those do not depend on it
            strong = self.strong.draw(batch.rng, self.store.shapes[index[n_l:], 2:])
            inputs.update(views_inputs("s", strong.on_images(n_l + np.arange(n_u))))
        inputs["n_unlabeled"] = n_u
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
        self.consumer = student_consumer(student)
        self.magnitude = make_inputs.strong.magnitude if make_inputs.strong is not None else 9

    def modules(self) -> dict[str, torch.nn.Module]:
        parts: dict[str, torch.nn.Module] = {"student": self.student.model}
        for term in self.terms:
            parts.update(term.modules())
        return parts

    def loss(self, inputs: Inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        x = student_views(inputs, self.consumer, ("w", "s"), self.magnitude)
        targets = {s: inputs[f"target:{s}"] for s in self.sources}
        step = StudentStep(self.student.model, {**inputs, "x": x}, targets)
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
    store = setup.labeled + setup.unlabeled
    make_inputs = DistillInputs(
        store,
        len(setup.labeled),
        torch.as_tensor(setup.labels, dtype=torch.long),
        options.views,
        SeededViews(setup.policy, options.view_seed, options.views, store.shapes[:, 2:]),
        {s: setup.bank[s] for s in setup.alpha},
        StrongViews(setup.policy, options) if consistency else None,
    )
    name = (setup.label or "distill") + ("" if options.unlabeled_loss == "none" else f"+{options.unlabeled_loss}")
    objective = Distill(setup.student, terms, make_inputs, list(setup.alpha), name=name)
    objective.options = options  # what it trains, recorded in the run's spec
    return objective


def distill_objective(
    student: Student,
    labeled: ImageStore,
    labels: np.ndarray,
    unlabeled: ImageStore,
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

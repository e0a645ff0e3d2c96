"""What every term of an objective shares in one step: the student's outputs, computed once.

The batch ``x`` (made on the device from the step's store rows) holds the labeled views, then the
unlabeled (weak) views, then their strong views when consistency is on (``DistillInputs``). The
pooled features go through the student once; the classifier's logits of each part are computed when
a term first asks for them, so a term that does not need them costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import torch

from zoo_distill.training.inputs import classify, pooled_features
from zoo_distill.training.pipeline import Inputs

__all__ = ["Logs", "StudentStep", "Term", "sum_terms"]

Logs = dict[str, torch.Tensor | float]


class StudentStep:
    """One step's student outputs: pooled features ``g`` of the whole batch and, on demand, the logits
    of the labeled images and of the unlabeled weak + strong views."""

    def __init__(self, model: torch.nn.Module, inputs: Inputs, targets: Mapping[str, torch.Tensor]) -> None:
        self.model, self.inputs = model, inputs
        self.y: torch.Tensor = inputs["y"]
        self.n_labeled, self.n_unlabeled = len(self.y), int(inputs.get("n_unlabeled", 0))
        self.targets = targets  # {source: teacher features of the labeled + unlabeled views}
        self.g = pooled_features(model, inputs["x"])
        self._labeled: torch.Tensor | None = None
        self._unlabeled: torch.Tensor | None = None

    @property
    def labeled_logits(self) -> torch.Tensor:
        if self._labeled is None:
            self._labeled = classify(self.model, self.g[: self.n_labeled])
        return self._labeled

    @property
    def unlabeled_logits(self) -> torch.Tensor:
        """[weak views; strong views] of the unlabeled images (empty when the step has none)."""
        if self._unlabeled is None:
            self._unlabeled = classify(self.model, self.g[self.n_labeled :])
        return self._unlabeled

    @property
    def weak_logits(self) -> torch.Tensor:
        return self.unlabeled_logits[: self.n_unlabeled]

    @property
    def distilled(self) -> torch.Tensor:
        """The pooled features of the images the teachers saw (labeled + weak views)."""
        return self.g[: self.n_labeled + self.n_unlabeled]


class Term(Protocol):
    """One part of the objective: its weighted loss on a step (None: nothing to add on this step)."""

    def modules(self) -> dict[str, torch.nn.Module]:
        """The term's own trainable modules (e.g. projection heads); checkpointed with the student."""

    def __call__(self, step: StudentStep) -> tuple[torch.Tensor, Logs] | None:
        """The term's contribution to the loss, already weighted, and what it logs."""


def sum_terms(terms: Sequence[Term], step: StudentStep) -> tuple[torch.Tensor, Logs]:
    """The objective: the sum of the terms in their order, with every term's logs."""
    total: torch.Tensor | None = None
    logs: Logs = {}
    for term in terms:
        out = term(step)
        if out is None:
            continue
        loss, term_logs = out
        total = loss if total is None else total + loss
        logs.update(term_logs)
    if total is None:
        raise ValueError("the objective has no term that applies to this step")
    return total, logs

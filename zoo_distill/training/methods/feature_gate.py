"""Where a teacher's feature term applies: every image, or only where the teacher does not contradict
a confident student.

With ``--feature-gate agreement`` an unlabeled image drops source s's feature term when the student
is confident about it (its weak-view softmax reaches the consistency threshold) and teacher s, read
as LDA's classifier in its class subspace (feature_space.py), puts the image in another class. Early
in training the student is confident about little, so the teachers lead as before; once consistency
training has taught the student more than a teacher of another domain knows (digits on textured
backgrounds), the feature term stops pulling the student towards that teacher's mistakes, image by
image. Labeled images always keep the term: their label, not the student, says which class they are.
No teacher runs and nothing is fitted: the centroids come with the subspace.
"""

from __future__ import annotations

import torch

__all__ = ["agreement_gate"]


@torch.no_grad()
def agreement_gate(student_logits: torch.Tensor, teacher_classes: torch.Tensor, threshold: float) -> torch.Tensor:
    """1.0 where the teacher's feature term applies, 0.0 where the student's weak-view prediction is
    confident (max softmax >= ``threshold``) and names another class than ``teacher_classes`` ([N], or
    [sources, N] for every teacher at once: the student's softmax is computed once)."""
    with torch.autocast(student_logits.device.type, enabled=False):
        confidence, student_classes = torch.softmax(student_logits.detach().float(), dim=1).max(dim=1)
    contradicted = (confidence >= threshold) & (student_classes != teacher_classes)
    return (~contradicted).float()

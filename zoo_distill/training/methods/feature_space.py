"""Which part of each teacher's features the student is asked to reproduce.

``full`` is the paper's feature term: every dimension of the teacher's feature. A teacher of
another domain also sees what does not matter for the target's classes (a digits teacher reads
the textured backgrounds of digits on textures as strokes), and the full term makes the student
spend its few features on that as well. ``class`` (the default) keeps only what the teacher knows
about the target's classes: its features' coordinates in their discriminant subspace (linear
discriminant analysis with Ledoit-Wolf shrinkage, scikit-learn), fitted on every banked view of
the labeled images. That is at most classes - 1 coordinates per teacher, scaled so the spread
within a class is 1 along each, so a direction along which the labeled classes do not differ
costs the student nothing.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from zoo_distill.errors import DataError

__all__ = ["ClassSubspace", "fit_class_subspace", "ridged_basis"]

MIN_CLASSES = 3  # two classes give one coordinate, whose cosine with another is only its sign
RIDGE = 1e-3  # added to the within-class scatter of standardised features when LDA's own solver fails


class ClassSubspace:
    """(x - mean) @ basis: a teacher's [N, D] features as [N, k] discriminant coordinates."""

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor) -> None:
        self.mean, self.basis = mean, basis

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        if self.basis.device != features.device:  # once: on the first batch that lives there
            self.mean, self.basis = self.mean.to(features.device), self.basis.to(features.device)
        with torch.autocast(features.device.type, enabled=False):  # float32 targets, also under bf16
            return (features.float() - self.mean) @ self.basis


def ridged_basis(features: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """[D, k] discriminant directions whose within-class scatter (of standardised features) gets a
    ridge of ``RIDGE``: for labeled features with (almost) no spread within a class, such as a
    teacher whose features are its one-hot predictions, where LDA's own solver fails."""
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = (features - mean) / scale
    _, index = np.unique(labels, return_inverse=True)
    means = np.stack([z[index == c].mean(axis=0) for c in range(index.max() + 1)])
    residual = z - means[index]
    within = residual.T @ residual / len(z) + RIDGE * np.eye(z.shape[1])
    priors = np.bincount(index) / len(index)
    centred = means - priors @ means
    between = (centred * priors[:, None]).T @ centred
    values, vectors = scipy.linalg.eigh(between, within)
    return vectors[:, np.argsort(values)[::-1][:k]] / scale[:, None]


def fit_class_subspace(features: np.ndarray, labels: np.ndarray, source: str = "teacher") -> ClassSubspace:
    """The discriminant subspace of [N, D] ``features`` for their ``labels`` (every view of every
    labeled image, so N is views x labeled). Deterministic: LDA's eigen solver has no randomness."""
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) < MIN_CLASSES:
        raise DataError(
            f"--method-opt feature_space=class needs labeled images of at least {MIN_CLASSES} "
            f"classes (source {source!r} has {len(present)}): label more classes, or use --method-opt "
            "feature_space=full"
        )
    k = min(len(present) - 1, features.shape[1])
    try:
        basis = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(features, labels).scalings_[:, :k]
    except np.linalg.LinAlgError:  # no spread within the classes: shrinkage cannot make the scatter invertible
        basis = ridged_basis(features, labels, k)
    if not np.all(np.isfinite(basis)):
        raise DataError(
            f"--method-opt feature_space=class: the features of source {source!r} on the labeled images "
            "give no finite discriminant subspace (constant features?); use --method-opt "
            "feature_space=full"
        )
    mean = features.mean(axis=0)
    return ClassSubspace(torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(basis, dtype=torch.float32))

"""A linear probe on each teacher's features of the labeled images: the target as the teachers see it.

``unlabeled_loss=fixmatch-teachers`` (the distill method's default) multiplies the student's weak-view
prediction by these probes' prediction on the same view (read from the feature bank, so no teacher runs during
training) before FixMatch's confidence threshold. Early in training, when the student is unsure,
a teacher that knows the target supplies pseudo-labels FixMatch would still be waiting for; once
the student is confident, a teacher that disagrees with it cancels the pseudo-label instead of
confirming the student's mistake. The probe is a multinomial logistic regression (scikit-learn,
L-BFGS: deterministic) on standardised features of every banked view of the labeled images.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from zoo_distill.errors import DataError

__all__ = ["LinearProbe", "TeacherProbes", "fit_probe"]

PROBE_C = 1.0  # scikit-learn's default regularisation, on standardised features (as benchmarks/headroom.py)


class LinearProbe:
    """softmax(W ((x - mean) / scale) + b) over every class of the task (a class without labeled
    images gets probability 0)."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.mean, self.scale, self.weight, self.bias = mean, scale, weight, bias

    def to(self, device: torch.device) -> LinearProbe:
        if self.weight.device == device:
            return self
        return LinearProbe(*(t.to(device) for t in (self.mean, self.scale, self.weight, self.bias)))

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """[N, classes] from [N, D] features, in float32 (also under bf16 autocast)."""
        with torch.autocast(features.device.type, enabled=False):
            x = (features.float() - self.mean) / self.scale
            return (x @ self.weight.T + self.bias).softmax(dim=1)


def fit_probe(
    features: np.ndarray, labels: np.ndarray, n_classes: int, feature_weights: np.ndarray | None = None
) -> LinearProbe:
    """A probe on [N, D] features and their labels (at least two classes present). ``feature_weights``
    (> 0, one per feature) multiply the standardised features: under the L2 penalty, a feature weighed
    w costs 1 / w^2 as much to use."""
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) < 2:
        raise DataError(
            f"a teacher probe needs labeled images of at least two classes, got {len(present)}: "
            "label two classes or more, or train without the probes (--method-opt unlabeled_loss=fixmatch)"
        )
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-12] = 1.0
    if feature_weights is not None:
        scale = scale / np.asarray(feature_weights, dtype=np.float64)
    clf = LogisticRegression(C=PROBE_C, max_iter=2000).fit((features - mean) / scale, labels)
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # two classes: p(second) = sigmoid(w x + b) = softmax([0, w x + b])
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    weight = np.zeros((n_classes, features.shape[1]))
    bias = np.full(n_classes, -1e4)  # classes with no labeled image: never predicted
    weight[clf.classes_], bias[clf.classes_] = coef, intercept
    return LinearProbe(*(torch.as_tensor(a, dtype=torch.float32) for a in (mean, scale, weight, bias)))


class TeacherProbes:
    """One probe per source, their predictions mixed with the aggregator's weights alpha; or one
    ``joint`` probe on every source's features side by side, each block weighed by sqrt(alpha_s)."""

    def __init__(
        self, probes: Mapping[str, LinearProbe], alpha: Mapping[str, float], joint: LinearProbe | None = None
    ) -> None:
        self.probes, self.alpha, self.joint = dict(probes), dict(alpha), joint

    @classmethod
    def fit(
        cls,
        features: Mapping[str, torch.Tensor],
        labels: np.ndarray,
        n_classes: int,
        alpha: Mapping[str, float],
        joint: bool = False,
    ) -> TeacherProbes:
        """``features[source]``: [views, labeled, D] (every banked view of each labeled image)."""
        labels = np.asarray(labels)
        if joint:
            blocks = [features[s].float().cpu().numpy() for s in alpha]
            views = blocks[0].shape[0]
            x = np.concatenate([b.reshape(-1, b.shape[-1]) for b in blocks], axis=1)
            weights = np.concatenate([np.full(b.shape[-1], np.sqrt(alpha[s])) for s, b in zip(alpha, blocks)])
            return cls({}, alpha, fit_probe(x, np.tile(labels, views), n_classes, weights))
        probes = {}
        for source in alpha:
            f = features[source].float().cpu().numpy()
            views = f.shape[0]
            probes[source] = fit_probe(f.reshape(-1, f.shape[-1]), np.tile(labels, views), n_classes)
        return cls(probes, alpha)

    def probabilities(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """[N, classes]: sum over sources of alpha_s * probe_s(features[source]), or the joint probe's."""
        if self.joint is not None:
            x = torch.cat([features[s].float() for s in self.alpha], dim=1)
            self.joint = self.joint.to(x.device)
            return self.joint.probabilities(x)
        mixed = None
        for source, weight in self.alpha.items():
            probe = self.probes[source] = self.probes[source].to(features[source].device)
            p = weight * probe.probabilities(features[source])
            mixed = p if mixed is None else mixed + p
        assert mixed is not None, "no sources"
        return mixed

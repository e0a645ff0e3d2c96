"""Cross-validated linear-probe accuracy of the target labels on the source's features.

A linear probe is the standard direct test of how linearly separable a frozen representation
makes a task; Borup et al., "Distilling from Similar Tasks for Transfer Learning on a Budget"
(ICCV 2023), compare transferability scores against exactly this kind of probe accuracy.

What is fit, and why: a one-vs-rest least-squares **ridge classifier** (targets +-1,
alpha = 1, with intercept: scikit-learn's ``RidgeClassifier(alpha=1.0)``) on the features'
top ``PCA_DIMS`` = 128 principal components (capped at min(N - 1, D)), divided by one global
scale, the root mean per-feature variance of the original features. PCA and scale are unsupervised
and fit once on all labeled samples.

* Ridge, not logistic regression: an lbfgs logistic probe takes several seconds for N = 5000,
  C = 50 even on PCA-64 features, against a budget of 1 s on two CPU cores; the ridge probe is
  a closed-form linear classifier costing a few 128 x 128 solves.
* PCA: exact and cheap from the D x D (or N x N) Gram matrix. With few labels (N <= 129) it
  keeps every direction the data span, so the probe equals ridge on the raw features (ridge is
  rotation invariant); with many labels it drops only low-variance directions.
* One global scale instead of per-feature standardisation: standardising PCA scores fit on all
  samples inside each training fold blows up the directions spanned mostly by the held-out
  samples, which drives the few-label accuracy to ~0; a single scale keeps the probe rotation
  invariant and makes the score independent of the feature norm.

Folds: ``StratifiedKFold(n_splits, shuffle=True, random_state=0)`` with n_splits = min(5,
smallest class count) but at least 2. A class with a single sample is still scored (it simply
cannot be predicted when it is held out); if every class is a singleton, plain ``KFold`` is used.
The score is the mean of the per-fold accuracies, like ``cross_val_score``.
"""

from __future__ import annotations

import warnings

import numpy as np

from zoo_distill.ranking.metrics._common import finite_score, guarded, pca_scale_free, prepare_inputs

__all__ = ["MAX_SPLITS", "PCA_DIMS", "RIDGE_ALPHA", "fold_accuracy", "folds", "linear", "probe_features"]

PCA_DIMS = 128
RIDGE_ALPHA = 1.0
MAX_SPLITS = 5


def folds(labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) index pairs used by :func:`linear`; see the module docstring."""
    from sklearn.model_selection import KFold, StratifiedKFold  # imported when a metric runs, not when listed

    counts = np.bincount(labels)
    counts = counts[counts > 0]
    n_splits = max(2, min(MAX_SPLITS, int(counts.min())))
    n_splits = min(n_splits, labels.shape[0])
    if counts.max() >= n_splits:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=0)
    else:
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only 1 member"
        return list(splitter.split(np.zeros((labels.shape[0], 1)), labels))


def probe_features(features: np.ndarray) -> np.ndarray:
    """The probe's inputs: top principal components divided by the root mean feature variance."""
    z, total_variance = pca_scale_free(features, PCA_DIMS)
    scale = float(np.sqrt(total_variance / features.shape[1]))
    return z / scale if scale > 0 else z


def fold_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of ``RidgeClassifier(alpha=RIDGE_ALPHA)`` fit on one training fold."""
    from sklearn.linear_model import RidgeClassifier

    classes = np.unique(y_train)
    if classes.size == 1:  # nothing to separate: the probe can only predict that class
        return float(np.mean(y_test == classes[0]))
    probe = RidgeClassifier(alpha=RIDGE_ALPHA, solver="cholesky").fit(x_train, y_train)
    return float(np.mean(probe.predict(x_test) == y_test))


@guarded("linear probe")
def linear(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """Mean cross-validated accuracy in [0, 1] of a ridge linear probe on PCA-128 features."""
    f, y, _ = prepare_inputs(features, labels, source_logits)
    z = probe_features(f)
    accuracies = [fold_accuracy(z[tr], y[tr], z[te], y[te]) for tr, te in folds(y)]
    return finite_score(np.mean(accuracies), "linear probe")

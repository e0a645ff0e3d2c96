"""Shared input checks and numerical helpers for the built-in similarity metrics.

The metrics score how well a source model's representation of the *target* data fits the
target labels, which is how Borup et al. ("Distilling from Similar Tasks for Transfer Learning
on a Budget", ICCV 2023) pick and weight teachers. Every metric starts with
:func:`prepare_inputs` so that all of them reject the same bad inputs with the same message,
and ends with :func:`finite_score` so that a NaN never reaches the ranking.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import numpy as np

__all__ = [
    "MetricError",
    "finite_score",
    "guarded",
    "leep_from_probabilities",
    "leep_per_sample",
    "one_hot",
    "pca_project",
    "pca_scale_free",
    "power_of_two_scaled",
    "prepare_inputs",
    "prepare_logit_inputs",
    "require_logits",
    "softmax",
    "top_eigenpairs",
]


class MetricError(ValueError):
    """Raised for inputs a metric cannot score (missing logits, one class, NaN features, ...)."""


_F = TypeVar("_F", bound=Callable[..., float])


def guarded(metric: str) -> Callable[[_F], _F]:
    """Turn numerical failures (singular systems, overflow, division by zero) into MetricError.

    Such failures only happen on degenerate or extreme-valued inputs; the caller should learn
    which metric could not score them and why, not see a bare LinAlgError. Floating-point
    warnings are silenced inside: a non-finite result is caught by :func:`finite_score`.
    """

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                with np.errstate(all="ignore"):
                    return fn(*args, **kwargs)
            except MetricError:
                raise
            except (np.linalg.LinAlgError, ArithmeticError) as exc:
                raise MetricError(
                    f"{metric} could not score these inputs (degenerate or extreme values): {type(exc).__name__}: {exc}"
                ) from exc

        return wrapper  # type: ignore[return-value]  # takes and returns what fn does: callers keep fn's type

    return decorate


def power_of_two_scaled(x: np.ndarray, inplace: bool = False) -> tuple[np.ndarray, int]:
    """``(x * 2**-e, e)`` with max |x * 2**-e| in [0.5, 1); exact, so scale-invariant results are unchanged.

    Squaring features of magnitude 1e160 overflows and of 1e-160 underflows; metrics that do not
    depend on the overall feature scale rescale first so that Gram matrices stay representable.
    ``inplace=True`` rescales ``x`` itself (only for arrays the caller owns).
    """
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0 or not np.isfinite(peak):
        return x, 0
    exponent = int(np.frexp(peak)[1])
    if exponent == 0:
        return x, 0
    if abs(exponent) > 1000:  # 2.0 ** -exponent itself would not be a normal number
        return np.ldexp(x, -exponent), exponent
    factor = 2.0**-exponent  # multiplying by a power of two is exact (and much faster than ldexp)
    if inplace:
        x *= factor
        return x, exponent
    return x * factor, exponent


def _check_finite(array: np.ndarray, what: str) -> None:
    """Raise MetricError naming ``what`` and whether it holds NaN or inf."""
    if np.isfinite(array).all():
        return
    n_nan = int(np.isnan(array).sum())
    n_inf = int(np.isinf(array).sum())
    kinds = [f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else ""]
    raise MetricError(
        f"{what} contain non-finite values ({', '.join(k for k in kinds if k)}); every entry must be a finite number"
    )


def prepare_inputs(
    features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and normalise a metric's inputs.

    Returns ``(features float64 [N, D], labels int64 [N] in 0..C-1, logits float64 [N, K] or None)``.
    Labels are remapped with ``np.unique`` even when the caller already did it, so a metric never
    depends on which integers name the classes. Raises :class:`MetricError` for mismatched
    shapes, non-finite values or fewer than two classes (no metric can separate one class).
    """
    feats = np.asarray(features)
    if feats.ndim != 2:
        raise MetricError(f"features must be a 2-D array [N, D]; got shape {feats.shape}")
    if not (np.issubdtype(feats.dtype, np.number) or feats.dtype == bool):
        raise MetricError(f"features must be numeric; got dtype {feats.dtype}")
    feats = np.ascontiguousarray(feats, dtype=np.float64)
    y = np.asarray(labels)
    if y.ndim != 1:
        raise MetricError(f"labels must be a 1-D array [N]; got shape {y.shape}")
    if y.shape[0] != feats.shape[0]:
        raise MetricError(f"features have {feats.shape[0]} rows but labels have {y.shape[0]} entries")
    if feats.shape[1] == 0:
        raise MetricError("features have zero dimensions")
    _check_finite(feats, "features")
    if np.issubdtype(y.dtype, np.floating):
        _check_finite(y, "labels")
    logits = None
    if source_logits is not None:
        logits = np.asarray(source_logits)
        if logits.ndim != 2:
            raise MetricError(f"source logits must be a 2-D array [N, K]; got shape {logits.shape}")
        if logits.shape[0] != feats.shape[0]:
            raise MetricError(f"source logits have {logits.shape[0]} rows but features have {feats.shape[0]}")
        if logits.shape[1] == 0:
            raise MetricError("source logits have zero source classes")
        try:
            logits = np.ascontiguousarray(logits, dtype=np.float64)
        except (TypeError, ValueError):
            raise MetricError(f"source logits must be numeric; got dtype {logits.dtype}") from None
        _check_finite(logits, "source logits")
    try:
        classes, remapped = np.unique(y, return_inverse=True)
    except TypeError:
        raise MetricError(f"labels must be of one comparable type; got dtype {y.dtype}") from None
    if classes.size < 2:
        raise MetricError(f"need at least 2 target classes to score a source; got {classes.size}")
    return feats, remapped.reshape(-1).astype(np.int64), logits


def require_logits(logits: np.ndarray | None, metric: str) -> np.ndarray:
    """Logit-based metrics cannot fall back to features: say so instead of guessing."""
    if logits is None:
        raise MetricError(f"{metric} needs the source model's logits; this source has no classifier head")
    return logits


def prepare_logit_inputs(
    labels: np.ndarray, source_logits: np.ndarray | None, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(labels, logits)`` for a metric that ignores the features.

    The features are deliberately not checked: a metric that never reads them should not fail
    because of them. Returns ``(labels int64 in 0..C-1, logits float64 [N, K])``.
    """
    logits = np.asarray(require_logits(source_logits, metric))
    n = logits.shape[0] if logits.ndim >= 1 else 0
    if logits.ndim != 2:
        raise MetricError(f"source logits must be a 2-D array [N, K]; got shape {logits.shape}")
    _, y, checked = prepare_inputs(np.zeros((n, 1)), labels, logits)
    assert checked is not None
    return y, checked


def finite_score(value: float | np.floating, metric: str) -> float:
    """Return ``value`` as a float, or raise MetricError: a NaN score would silently poison a ranking."""
    value = float(value)
    if not np.isfinite(value):
        raise MetricError(f"{metric} produced a non-finite score ({value}); the inputs are degenerate")
    return value


def one_hot(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Float64 one-hot matrix [N, C] of remapped labels."""
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row max so that large logits do not overflow."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def leep_from_probabilities(theta: np.ndarray, labels: np.ndarray, eps: float = 1e-20) -> float:
    """LEEP's log expected empirical prediction for dummy-label probabilities ``theta`` [N, K].

    Shared by LEEP (theta = source softmax) and N-LEEP (theta = GMM posteriors). Columns with
    P(z) = 0 are masked (their conditional is set to 0) instead of dividing by zero; ``eps``
    keeps the log finite should a row's expected prediction underflow to 0.
    """
    return float(np.mean(leep_per_sample(theta, labels, eps)))


def leep_per_sample(theta: np.ndarray, labels: np.ndarray, eps: float = 1e-20) -> np.ndarray:
    """[N] log of each sample's expected empirical prediction of its own label: LEEP is their mean
    (and the mean over one class's samples is that class's share, ``ranking.per_class``)."""
    n = theta.shape[0]
    joint = one_hot(labels).T @ theta / n  # P(y, z) [C, K]
    marginal = joint.sum(axis=0)  # P(z)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    eep = np.einsum("nk,nk->n", theta, conditional[labels])  # sum_z P(y_i|z) theta_iz
    return np.log(eep + eps)


def top_eigenpairs(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues (descending) and eigenvectors [m, k] of a symmetric matrix.

    scipy's ``eigh(subset_by_index=...)`` (LAPACK ``syevr``: one tridiagonal reduction, then
    only the wanted eigenvectors) instead of a full decomposition: PCA keeps at most 128 of 2048
    directions. ``gram`` is overwritten.
    """
    from scipy.linalg import eigh  # scipy is imported only when a metric runs, not when it is listed

    m = gram.shape[0]
    k = min(max(int(k), 1), m)
    vals, vecs = eigh(gram, subset_by_index=[m - k, m - 1], overwrite_a=True, check_finite=False)
    return vals[::-1], vecs[:, ::-1]


def _pca(features: np.ndarray, n_components: float, max_components: int | None) -> tuple[np.ndarray, int, float]:
    """Scores in units of 2**exponent (see :func:`pca_project`), the exponent, and the total variance in those units."""
    x, exponent = power_of_two_scaled(features - features.mean(axis=0), inplace=True)
    n, d = x.shape
    limit = max(1, min(n - 1, d))
    if max_components is not None:
        limit = max(1, min(limit, int(max_components)))
    use_cov = n >= d
    gram = x.T @ x if use_cov else x @ x.T
    trace = float(np.trace(gram))  # trace of the Gram matrix / N = total variance
    fraction = isinstance(n_components, float) and 0.0 < n_components < 1.0
    evals, evecs = top_eigenpairs(gram, limit if fraction else min(int(n_components), limit))
    evals = np.clip(evals, 0.0, None)
    if fraction:  # the fewest leading components whose variance reaches the fraction of the total
        k = 1 if trace <= 0 else int(np.searchsorted(np.cumsum(evals) / trace, n_components - 1e-12) + 1)
        k = min(k, limit)
        evals, evecs = evals[:k], evecs[:, :k]
    z = x @ evecs if use_cov else evecs * np.sqrt(evals)
    flip = np.sign(z[np.abs(z).argmax(axis=0), np.arange(z.shape[1])])
    flip[flip == 0] = 1.0
    return z * flip, exponent, trace / n


def pca_project(features: np.ndarray, n_components: float, max_components: int | None = None) -> np.ndarray:
    """Project centered features onto their top principal components (deterministic, exact).

    ``n_components`` is a count, or a fraction in (0, 1) of the variance to keep. The count is
    capped at ``min(N - 1, D)`` (centered data has rank <= N - 1) and at ``max_components``.
    The components come from the smaller of the two Gram matrices (D x D or N x N) through
    :func:`top_eigenpairs`, much faster than an SVD or a full ``eigh`` when only a few are kept,
    and with no randomness to seed (unlike a randomized PCA). Component signs are fixed (largest
    |score| positive) so the output does not depend on LAPACK's sign choice. The work is done on
    features rescaled by an exact power of two, so huge or tiny magnitudes do not overflow.
    """
    z, exponent, _ = _pca(features, n_components, max_components)
    return np.ldexp(z, exponent)


def pca_scale_free(
    features: np.ndarray, n_components: float, max_components: int | None = None
) -> tuple[np.ndarray, float]:
    """:func:`pca_project` scores divided by an exact power of two, and the total variance in the same units.

    For metrics that do not depend on the overall feature scale: the scores have magnitude ~1
    whatever the features' magnitude, so nothing downstream overflows.
    """
    z, _, total = _pca(features, n_components, max_components)
    return z, total

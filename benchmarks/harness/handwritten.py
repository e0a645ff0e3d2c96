"""The hand-written numerics the metrics used before scipy / scikit-learn replaced them.

Kept only for ``bench_rank.py``, which times each of them against its library version inside
the metric that uses it (N = 5000, D = 2048): the project keeps its own code only where it is
at least 2x faster than the library. Nothing in ``zoo_distill`` imports this module.

* ``Tridiagonal`` / ``pca``: PCA through one LAPACK ``sytrd`` reduction of the Gram matrix
  (replaced by ``scipy.linalg.eigh(subset_by_index=...)``);
* ``logme``: LogME's fixed point with tridiagonal solves (replaced by a full ``eigh``);
* ``nearest_neighbours``: float32-screened leave-one-out neighbours, re-scored in float64
  (replaced by ``NearestNeighbors.kneighbors()``);
* ``ridge_fold_accuracy``: the closed-form ridge probe (replaced by ``RidgeClassifier``).

Measured once with ``bench_rank.py --skip-rank`` (2 shared x86_64 cores, medians of 3, library vs
own seconds): knn 3.88 vs 2.59 (1.50x), linear 1.19 vs 1.06 (1.12x), gbc 0.91 vs 1.22 (0.75x),
logme 1.66 vs 1.24 (1.34x), identical scores to 1e-15. No hand-written part was 2x faster, so
the library versions are the ones in ``zoo_distill``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from zoo_distill.ranking.metrics._common import (
    MetricError,
    finite_score,
    guarded,
    one_hot,
    power_of_two_scaled,
    prepare_inputs,
)


class Tridiagonal:
    """A symmetric matrix reduced once to tridiagonal form, ``A = Q T Q^T`` (LAPACK ``dsytrd``).

    Several metrics need the spectrum of a Gram matrix. A full ``eigh`` of a 2048 x 2048 matrix
    (~1 s on two cores) is dominated by forming all eigenvectors; the reduction alone is a few
    times cheaper, after which eigenvalues, a few eigenvectors, or solves with ``T + t I`` cost
    O(m) to O(m k). Everything stays exact (no randomisation).
    """

    def __init__(self, matrix: np.ndarray, overwrite: bool = False) -> None:
        """Reduce the symmetric ``matrix``; ``overwrite=True`` lets LAPACK reuse its memory."""
        m = matrix.shape[0]
        self.size = m
        if m == 1:
            self.d, self.e = np.array(matrix[0], dtype=np.float64), np.zeros(0)
            self._packed = self._tau = None
            return
        lwork = max(int(lapack.dsytrd_lwork(m, lower=1)[0]), 1)
        # A C-ordered symmetric matrix is its own Fortran-ordered transpose: no copy needed.
        a = matrix.T if matrix.flags.c_contiguous and matrix.dtype == np.float64 else matrix
        packed, d, e, tau, info = lapack.dsytrd(a, lower=1, lwork=lwork, overwrite_a=int(overwrite))
        if info != 0:
            raise np.linalg.LinAlgError(f"dsytrd failed (info={info})")
        # Lower storage: Q = diag(1, Q'), Q' the product of the QR-style reflectors stored below
        # the first subdiagonal, so Q and Q^T act on rows 1.. through dormqr.
        self.d, self.e = d, e
        self._packed = np.asfortranarray(packed[1:, : m - 1])
        self._tau = tau

    def _apply(self, rhs: np.ndarray, trans: str) -> np.ndarray:
        out = np.array(rhs, dtype=np.float64, order="F", copy=True)
        if out.ndim == 1:
            return self._apply(out[:, None], trans)[:, 0]
        if self._packed is None or out.shape[1] == 0:
            return out
        lwork = max(1, out.shape[1] * 64, self.size)
        sub, _, info = lapack.dormqr("L", trans, self._packed, self._tau, np.asfortranarray(out[1:]), lwork)
        if info != 0:
            raise np.linalg.LinAlgError(f"dormqr failed (info={info})")
        out[1:] = sub
        return out

    def qt(self, rhs: np.ndarray) -> np.ndarray:
        """``Q^T rhs``: coordinates of ``rhs`` in the tridiagonal basis."""
        return self._apply(rhs, "T")

    def q(self, rhs: np.ndarray) -> np.ndarray:
        """``Q rhs``: back to the original basis."""
        return self._apply(rhs, "N")

    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues, ascending."""
        if self.e.size == 0:
            return self.d.copy()
        return scipy.linalg.eigvalsh_tridiagonal(self.d, self.e, lapack_driver="sterf")

    def top_eigenpairs(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k largest eigenvalues (descending) and their eigenvectors [m, k] of the original matrix."""
        m = self.size
        k = min(max(int(k), 1), m)
        if self.e.size == 0:
            return self.d.copy(), np.ones((1, 1))
        vals, vecs = scipy.linalg.eigh_tridiagonal(self.d, self.e, select="i", select_range=(m - k, m - 1))
        return vals[::-1], self.q(vecs[:, ::-1])

    def solve_shifted(self, shift: float, rhs: np.ndarray) -> np.ndarray:
        """Solve ``(T + shift I) z = rhs`` in the tridiagonal basis (LU with partial pivoting, O(m))."""
        if self.e.size == 0:
            return rhs / (self.d + shift)
        _, _, _, z, info = lapack.dgtsv(self.e, self.d + shift, self.e, rhs.reshape(rhs.shape[0], -1))
        if info != 0:
            raise np.linalg.LinAlgError(f"singular shifted tridiagonal system (info={info})")
        return z.reshape(rhs.shape)

    def matvec(self, z: np.ndarray) -> np.ndarray:
        """``T z``."""
        out = self.d * z
        out[:-1] += self.e * z[1:]
        out[1:] += self.e * z[:-1]
        return out


def pca(features: np.ndarray, n_components: float, max_components: int | None) -> tuple[np.ndarray, int, float]:
    """Scores in units of 2**exponent (see :func:`pca_project`), the exponent, and the total variance in those units."""
    x, exponent = power_of_two_scaled(features - features.mean(axis=0), inplace=True)
    n, d = x.shape
    limit = max(1, min(n - 1, d))
    if max_components is not None:
        limit = max(1, min(limit, int(max_components)))
    use_cov = n >= d
    tri = Tridiagonal(x.T @ x if use_cov else x @ x.T, overwrite=True)
    total = float(np.sum(tri.d)) / n  # trace of the Gram matrix / N = total variance
    if isinstance(n_components, float) and 0.0 < n_components < 1.0:
        spectrum = np.clip(tri.eigenvalues()[::-1], 0.0, None)
        kept = spectrum.sum()
        k = 1 if kept <= 0 else int(np.searchsorted(np.cumsum(spectrum) / kept, n_components - 1e-12) + 1)
    else:
        k = int(n_components)
    k = min(max(k, 1), limit)
    evals, evecs = tri.top_eigenpairs(k)
    evals = np.clip(evals, 0.0, None)
    z = x @ evecs if use_cov else evecs * np.sqrt(evals)
    flip = np.sign(z[np.abs(z).argmax(axis=0), np.arange(z.shape[1])])
    flip[flip == 0] = 1.0
    return z * flip, exponent, total


_MAX_STEPS, _TOL, _EPS = 11, 1e-3, 1e-5  # as in zoo_distill.ranking.metrics.logme
_RIDGE_ALPHA = 1.0


@guarded("LogME")
def logme(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """LogME with the Gram matrix reduced to tridiagonal form and O(m) solves per fixed-point step."""
    f, y, _ = prepare_inputs(features, labels, source_logits)
    n, dim = f.shape
    targets = one_hot(y)  # [N, C]
    wide = n <= dim  # the reference's two branches: SVD of F vs eigendecomposition of F^T F
    if wide:
        gram, rhs = f @ f.T, targets  # projections x = U^T y
    else:
        gram, rhs = f.T @ f, f.T @ targets  # b = F^T y; x_k = v_k^T b / s_k
    if not np.isfinite(gram).all():
        raise MetricError("LogME: the features are too large in magnitude (their Gram matrix overflows)")
    tri = Tridiagonal(gram, overwrite=True)
    proj = tri.qt(rhs)
    sigma = np.clip(tri.eigenvalues(), 0.0, None)
    if not wide:
        sigma = sigma[np.sqrt(sigma) > 1e-10]  # the reference's rank cut for N > D

    evidences = []
    for c in range(targets.shape[1]):
        yy = float(targets[:, c].sum())  # ||y_c||^2 for a 0/1 column
        b = proj[:, c]
        alpha, beta = 1.0, 1.0
        for _ in range(_MAX_STEPS):
            t = alpha / beta
            gamma = float((sigma / (sigma + t)).sum())
            z = tri.solve_shifted(t, b)  # Q^T (G + tI)^{-1} b
            tz = tri.matvec(z)
            if wide:
                m2 = float(z @ tz)  # sum sigma x^2 / (t + sigma)^2
                res2 = t * t * float(z @ z) + max(yy - float(b @ b), 0.0)
            else:
                m2 = float(z @ z)  # ||m||^2 with m = (G + tI)^{-1} F^T y
                res2 = yy - 2.0 * float(z @ b) + float(z @ tz)  # ||y - F m||^2
            res2 = max(res2, 0.0)
            alpha = gamma / (m2 + _EPS)
            beta = (n - gamma) / (res2 + _EPS)
            if abs(alpha / beta - t) / t <= _TOL:
                break
        evidence = (
            dim / 2.0 * np.log(alpha)
            + n / 2.0 * np.log(beta)
            - 0.5 * np.sum(np.log(alpha + beta * sigma))
            - beta / 2.0 * res2
            - alpha / 2.0 * m2
            - n / 2.0 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return finite_score(np.mean(evidences), "LogME")


_BLOCK_ELEMENTS = 1 << 23  # similarities held at once (float32: 32 MiB)
_PAIR_CHUNK = 4096


def _exact_dots(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.empty(rows.shape[0])
    for s in range(0, rows.shape[0], _PAIR_CHUNK):
        r, c = rows[s : s + _PAIR_CHUNK], cols[s : s + _PAIR_CHUNK]
        out[s : s + _PAIR_CHUNK] = np.einsum("ij,ij->i", x[r], x[c])
    return out


def nearest_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """Indices [N, k] of each row's k most similar other rows (by float64 dot product, ties: lower index)."""
    n, d = x.shape
    x32 = x.astype(np.float32)
    unit_eps = 2.0**-24
    norms = np.linalg.norm(x, axis=1)
    scale = float(norms.max()) ** 2 if n else 1.0
    margin = 2.0 * 1.01 * (d + 3) * unit_eps * scale + 1e-12 * scale
    block = max(1, min(n, _BLOCK_ELEMENTS // max(n, 1)))
    out = np.empty((n, k), dtype=np.int64)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        idx = np.arange(r1 - r0)
        sim = x32[r0:r1] @ x32.T
        sim[idx, r0 + idx] = -np.inf
        kth = -np.partition(-sim, k - 1, axis=1)[:, k - 1]
        rows, cols = np.nonzero(sim >= (kth - margin)[:, None])
        if rows.shape[0] > 32 * (r1 - r0) * k:  # degenerate data (many near-duplicates): plain float64
            exact64 = x[r0:r1] @ x.T
            exact64[idx, r0 + idx] = -np.inf
            rows, cols = np.nonzero(np.isfinite(exact64))
            exact = exact64[rows, cols]
        else:
            exact = _exact_dots(x, r0 + rows, cols)
        order = np.lexsort((cols, -exact, rows))  # by row, then similarity desc, then index
        rows, cols = rows[order], cols[order]
        starts = np.searchsorted(rows, idx)
        take = starts[:, None] + np.arange(k)[None, :]
        out[r0:r1] = cols[take]
    return out


def ridge_fold_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    classes = np.unique(y_train)
    if classes.size == 1:  # nothing to separate: the probe can only predict that class
        return float(np.mean(y_test == classes[0]))
    targets = np.where(y_train[:, None] == classes[None, :], 1.0, -1.0)
    x_mean = x_train.mean(axis=0)
    t_mean = targets.mean(axis=0)
    xc = x_train - x_mean
    gram = xc.T @ xc
    gram.flat[:: gram.shape[0] + 1] += _RIDGE_ALPHA
    weights = np.linalg.solve(gram, xc.T @ (targets - t_mean))
    scores = (x_test - x_mean) @ weights + t_mean
    if classes.size == 2:  # scikit-learn fits one column and predicts classes[1] iff its score > 0
        pred = np.where(scores[:, 1] > 0, classes[1], classes[0])
    else:
        pred = classes[scores.argmax(axis=1)]
    return float(np.mean(pred == y_test))

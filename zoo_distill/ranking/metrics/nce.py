"""NCE: negative conditional entropy of the target labels given the source's hard predictions.

Tran, Nguyen, Hassner. "Transferability and Hardness of Supervised Classification Tasks",
ICCV 2019. One of the source-similarity scores considered by Borup et al., "Distilling from
Similar Tasks for Transfer Learning on a Budget", ICCV 2023.

The source head labels each target sample with its argmax class z; with the empirical joint
P(y, z) of (target label, source label) counts,

    NCE = -H(Y | Z) = sum_{y, z} P(y, z) log P(y | z),

which is 0 when every source class maps to a single target class and -log C when the source
predictions carry no information about C balanced target classes. Empty cells contribute 0
(the limit of p log p), so no epsilon is needed.
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import finite_score, guarded, prepare_logit_inputs

__all__ = ["nce"]


@guarded("NCE")
def nce(features: np.ndarray | None, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """NCE score in [-log C, 0]; higher means the source's predictions determine the target label."""
    y, logits = prepare_logit_inputs(labels, source_logits, "NCE")
    z = logits.argmax(axis=1)
    _, z = np.unique(z, return_inverse=True)  # only the source classes that occur
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z.reshape(-1)), 1.0)
    joint /= y.shape[0]
    marginal = joint.sum(axis=0, keepdims=True)  # P(z) > 0 for every kept column
    nz = joint > 0
    value = float(np.sum(joint[nz] * np.log((joint / marginal)[nz])))
    return finite_score(value, "NCE")

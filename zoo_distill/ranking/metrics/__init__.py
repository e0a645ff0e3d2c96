"""Built-in task-similarity (transferability) metrics, higher is better for all of them.

Borup, Phoo, Hariharan. "Distilling from Similar Tasks for Transfer Learning on a Budget",
ICCV 2023, rank and weight a zoo of source models by how well each one's representation of the
few labeled target images fits the target labels. Each module here implements one such score as a
plain function; this catalog describes them. A metric's module (numpy, scipy, scikit-learn) is
imported the first time the metric runs, so listing metrics (``zoo-distill plugins``/``metrics``)
costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

from zoo_distill.plugin.types import FEATURES, LOGITS, Metric

__all__ = ["BUILTIN_METRICS", "MetricError", "prepare_inputs"]


class _LazyFunction:
    """A metric function that imports its module on first call."""

    def __init__(self, module: str, function: str) -> None:
        self.module, self.function = f"{__name__}.{module}", function
        self._fn: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        if self._fn is None:
            self._fn = getattr(importlib.import_module(self.module), self.function)
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<metric function {self.module}.{self.function}>"


#: The metrics registered by ``zoo_distill.builtin.metrics``, in display order.
BUILTIN_METRICS: list[Metric] = [
    Metric(
        name="logme",
        fn=_LazyFunction("logme", "logme"),
        needs=(FEATURES,),
        reference="You, Liu, Wang, Long. LogME: Practical Assessment of Pre-trained Models for Transfer Learning. "
        "ICML 2021",
        description="log marginal evidence of a Bayesian linear model from features to one-hot labels",
    ),
    Metric(
        name="leep",
        fn=_LazyFunction("leep", "leep"),
        needs=(LOGITS,),
        reference="Nguyen, Hassner, Seeger, Archambeau. LEEP: A New Measure to Evaluate Transferability of "
        "Learned Representations. ICML 2020",
        description="log-likelihood of target labels under the source head's softmax re-mapped to target classes",
    ),
    Metric(
        name="nce",
        fn=_LazyFunction("nce", "nce"),
        needs=(LOGITS,),
        reference="Tran, Nguyen, Hassner. Transferability and Hardness of Supervised Classification Tasks. ICCV 2019",
        description="negative conditional entropy of target labels given the source head's argmax labels",
    ),
    Metric(
        name="nleep",
        fn=_LazyFunction("nleep", "nleep"),
        needs=(FEATURES,),
        reference="Li et al. Ranking Neural Checkpoints. CVPR 2021",
        description="LEEP with Gaussian-mixture posteriors on PCA-reduced features instead of a source head",
    ),
    Metric(
        name="hscore",
        fn=_LazyFunction("hscore", "hscore"),
        needs=(FEATURES,),
        reference="Ibrahim, Ponomareva, Mazumder. Newer is not always better: Rethinking transferability metrics, "
        "their peculiarities, stability and performance. ECML-PKDD 2022 (shrinkage H-score of Bao et al. 2019)",
        description="between-class over Ledoit-Wolf-shrunk total feature covariance (regularised H-score)",
    ),
    Metric(
        name="gbc",
        fn=_LazyFunction("gbc", "gbc"),
        needs=(FEATURES,),
        reference="Pándy, Agostinelli, Uijlings, Ferrari, Mensink. Transferability Estimation using Bhattacharyya "
        "Class Separability. CVPR 2022",
        description="minus the summed Bhattacharyya overlap between per-class diagonal Gaussians on PCA-64 features",
    ),
    Metric(
        name="knn",
        fn=_LazyFunction("knn", "knn"),
        needs=(FEATURES,),
        reference="leave-one-out k-nearest-neighbour accuracy (k=1, cosine) on the labeled target set",
        description="leave-one-out 1-nearest-neighbour accuracy on L2-normalised features",
    ),
    Metric(
        name="linear",
        fn=_LazyFunction("linear", "linear"),
        needs=(FEATURES,),
        reference="cross-validated linear-probe accuracy (ridge classifier on PCA-128 features)",
        description="stratified k-fold accuracy of a ridge-classifier linear probe",
    ),
    Metric(
        name="sfda",
        fn=_LazyFunction("sfda", "sfda"),
        needs=(FEATURES,),
        reference="Shao, Zhao, Ge, Zhang, Yang, Wang, Shan, Luo. Not All Models Are Equal: Predicting Model "
        "Transferability in a Self-challenging Fisher Space. ECCV 2022",
        description="held-out log posterior of the true class under Ledoit-Wolf-shrunk LDA after the self-challenging "
        "mix towards other classes (SFDA)",
    ),
    Metric(
        name="ncti",
        fn=_LazyFunction("ncti", "ncti"),
        needs=(FEATURES,),
        reference="Wang, Luo, Zheng, Huang, Baktashmotlagh. How Far Pre-trained Models Are from Neural Collapse on "
        "the Target Dataset Informs their Transferability. ICCV 2023",
        description="neural-collapse distance on PCA-64 features: between/total variance + Fisher (simplex-ETF) spread "
        "+ held-out nearest-center posterior, each in [0, 1] per source",
    ),
    Metric(
        name="etran",
        fn=_LazyFunction("etran", "etran"),
        needs=(FEATURES,),
        reference="Gholami, Akbari, Wang, Kamranian, Zhang. ETran: Energy-Based Transferability Estimation. ICCV 2023",
        description="0.85 x held-out shrinkage-LDA posterior of the true class + 0.15 x logistic of the scale-free "
        "feature energy (ETran for classification)",
    ),
]


def __getattr__(name: str) -> Any:
    """``MetricError`` and ``prepare_inputs`` live in ``_common`` (numpy); load it when asked."""
    if name in ("MetricError", "prepare_inputs"):
        return getattr(importlib.import_module(f"{__name__}._common"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

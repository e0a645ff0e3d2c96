"""The built-in methods' options: one frozen dataclass per method, validated when it is made.

No torch import, so the CLI's ``--help`` and ``--method-opt`` checks stay light. Every field is a
``--method-opt KEY=VALUE`` of its method (docs/distillation.md lists them with the figures behind
their defaults); messages name the option that way.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo_distill.plugin.types import TeacherOptions, method_option
from zoo_distill.util.checks import check_choice, check_float, check_int

__all__ = [
    "FEATURE_SPACES",
    "TEACHER_PROBES",
    "UNLABELED_LOSSES",
    "DistillOptions",
    "FineTuneOptions",
    "FixMatchOptions",
    "FreeMatchOptions",
    "SoftMatchOptions",
]

# What the unlabeled pool trains besides the feature term: nothing, FixMatch consistency, or FixMatch
# whose pseudo-labels also weigh a linear probe on the teachers' banked features (teacher_probe.py).
UNLABELED_LOSSES = ("none", "fixmatch", "fixmatch-teachers")
# fixmatch-teachers' probe: one on every source's features side by side (block s scaled by sqrt(alpha_s)),
# or one per source mixed with alpha
TEACHER_PROBES = ("joint", "mixture")
FEATURE_SPACES = ("full", "class")  # every feature dimension, or the teacher's discriminant subspace


@dataclass(frozen=True)
class FineTuneOptions:
    """Fine-tuning has no options of its own: the budget (TrainConfig) is all it needs."""


@dataclass(frozen=True)
class FixMatchOptions:
    """FixMatch's consistency settings (reference values of Sohn et al. 2020 and microsoft USB)."""

    threshold: float = 0.95  # confidence a weak view's prediction needs to become a pseudo-label
    lambda_u: float = 1.0  # weight of the consistency term
    randaugment_ops: int = 2
    randaugment_magnitude: int = 10
    cutout: float = 0.5  # largest cutout side, as a fraction of the image side

    def __post_init__(self) -> None:
        check_float(method_option("threshold"), self.threshold, 0, 1)
        check_float(method_option("lambda_u"), self.lambda_u, 0, 1e6)
        check_int(method_option("randaugment_ops"), self.randaugment_ops, 0, 14)
        check_int(method_option("randaugment_magnitude"), self.randaugment_magnitude, 0, 30)
        check_float(method_option("cutout"), self.cutout, 0, 1)


@dataclass(frozen=True)
class FreeMatchOptions(FixMatchOptions):
    """FreeMatch (Wang et al., ICLR 2023): FixMatch's views and lambda_u, with a self-adaptive threshold in
    place of ``threshold`` (which it ignores) and a class-fairness term; USB's reference values."""

    ema: float = 0.999  # momentum of the threshold's EMAs
    lambda_f: float = 0.01  # weight of the fairness term (USB's ent_loss_ratio)

    def __post_init__(self) -> None:
        FixMatchOptions.__post_init__(self)
        check_float(method_option("ema"), self.ema, 0, 1, high_open=True)
        check_float(method_option("lambda_f"), self.lambda_f, 0, 1e6)


@dataclass(frozen=True)
class SoftMatchOptions(FixMatchOptions):
    """SoftMatch (Chen et al., ICLR 2023): FixMatch's views and lambda_u, every pseudo-label weighed by a
    truncated Gaussian of its confidence (``threshold`` is ignored), after distribution alignment."""

    ema: float = 0.999  # momentum of the confidence statistics and of the alignment's mean prediction
    n_sigma: float = 2.0  # how many standard deviations below the mean confidence a weight reaches e^-2

    def __post_init__(self) -> None:
        FixMatchOptions.__post_init__(self)
        check_float(method_option("ema"), self.ema, 0, 1, high_open=True)
        check_float(method_option("n_sigma"), self.n_sigma, 0, 100, low_open=True)


@dataclass(frozen=True)
class DistillOptions(TeacherOptions, FixMatchOptions):
    """DistillNearest / DistillWeighted: the bank and weights (TeacherOptions), the consistency settings
    (FixMatchOptions, used when ``unlabeled_loss`` is a consistency loss) and the distillation's own."""

    # lambda: the cosine term is <= 2 per source; with 1.0 CE dominates and the student barely moves
    lam: float = 10.0
    # Consistency whose pseudo-labels also weigh the teachers' probes is the default: on the zoobench of
    # seed 1 it beat "fixmatch" by 2.0 points at 5 labels and 0.5 at 20 (docs/results.md); "none" with
    # feature_space="full" is the paper's pure distillation.
    unlabeled_loss: str = "fixmatch-teachers"
    # "joint" beat "mixture" by 0.3 points at 5 labels and 0.1 at 20 on the zoobench of seed 1.
    teacher_probe: str = "joint"
    # "class" (each teacher's coordinates that tell the labeled classes apart) beat "full" (the paper's
    # term) by 0.2 points at 5 labels and 0.5 at 20; fewer than 3 labeled classes distill "full".
    feature_space: str = "class"

    def __post_init__(self) -> None:
        TeacherOptions.__post_init__(self)
        FixMatchOptions.__post_init__(self)
        check_float(method_option("lam"), self.lam, 0, 1e6)
        check_choice(method_option("unlabeled_loss"), self.unlabeled_loss, UNLABELED_LOSSES)
        check_choice(method_option("teacher_probe"), self.teacher_probe, TEACHER_PROBES)
        check_choice(method_option("feature_space"), self.feature_space, FEATURE_SPACES)

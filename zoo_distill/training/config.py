"""The training settings of every method, validated when they are made.

Plain dataclasses with no torch import, so the CLI can show their defaults at once and the
Python API and the CLI reject a bad setting the same way, before any work starts (and before
an output folder is created). Messages name the CLI option, the name users see.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.errors import ConfigError
from zoo_distill.util.checks import MAX_BATCH_SIZE, check_choice, check_float, check_int
from zoo_distill.util.workers import MAX_WORKERS

__all__ = ["ADDED_LATER", "CONSISTENCY_LOSSES", "EVALUATIONS_PER_RUN", "FEATURE_GATES", "FEATURE_LOSSES",
           "FEATURE_SPACES", "HEADS", "LAMBDA_SCALES", "LAMBDA_SCHEDULES", "PRECISIONS", "RUNTIME_ONLY",
           "SOURCE_WEIGHTINGS", "TEACHER_PROBES", "UNLABELED_LOSSES", "DistillConfig",
           "FixMatchConfig", "TrainConfig", "check_device"]

FEATURE_LOSSES = ("cosine", "mse")
HEADS = ("linear", "mlp")
# What the unlabeled pool trains besides the feature term: nothing, FixMatch consistency, or FixMatch
# whose pseudo-labels also weigh a linear probe on the teachers' banked features (teacher_probe.py).
UNLABELED_LOSSES = ("none", "fixmatch", "fixmatch-teachers")
CONSISTENCY_LOSSES = ("fixmatch", "fixmatch-teachers")
# fixmatch-teachers' probe: one per source, mixed with alpha; or one on every source's features together,
# each source's block weighed by sqrt(alpha) ("joint") or all alike ("joint-equal": alpha only picks them)
TEACHER_PROBES = ("mixture", "joint", "joint-equal")
LAMBDA_SCHEDULES = ("constant", "linear", "cosine")  # lambda over training: kept, or decayed to 0
LAMBDA_SCALES = ("none", "knn")  # per-source factor on lambda: 1, or kNN accuracy above chance
FEATURE_SPACES = ("full", "class")  # every feature dimension, or the teacher's discriminant subspace (feature_space.py)
# the feature term on every image, or not where a confident student and the teacher's LDA class disagree
FEATURE_GATES = ("none", "agreement")
#: one alpha per source; one per source and class (ranking/per_class.py); or one per source, the mean over
#: the classes of the per-class weights (each class's own teachers share the whole task)
SOURCE_WEIGHTINGS = ("task", "class", "class-mean")
PRECISIONS = ("fp32", "bf16")
_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps")
_MAX_EPOCHS = 100_000
_MAX_STEPS = 10_000_000
EVALUATIONS_PER_RUN = 4  # by default; plus the last epoch when the epochs do not divide evenly
RUNTIME_ONLY = ("workers", "eval_every")  # TrainConfig fields that do not change the trained weights
# DistillConfig fields added after results were kept: left out of a signature at these values, which
# train exactly what was trained before the field existed, so those kept runs and checkpoints stay valid.
ADDED_LATER = {"source_weights": "task", "teacher_probe": "mixture", "feature_space": "full", "feature_gate": "none"}


def check_device(value: str, option: str = "--device") -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``; whether it exists is checked when it is used."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise ConfigError(f"{option} must be cpu, cuda, cuda:N or mps, got {value!r}")
    return value


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings, identical for every method compared on a target."""

    epochs: int = 30
    batch_size: int = 32  # labeled images per step
    mu: int = 2  # unlabeled images per step = mu * batch_size (methods that use them)
    steps_per_epoch: int | None = None  # default: ceil((labeled + unlabeled) / batch_size)
    lr: float = 0.03  # FixMatch reference value; lr 0.1 diverged on the synthetic targets
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"  # or "bf16" (autocast)
    # How the run is carried out, not what it computes: neither changes the trained weights, so a
    # run may be resumed with other values (they are left out of its checkpoint's signature).
    workers: int | None = None  # DataLoader processes preparing inputs; None: from the CPUs available
    eval_every: int | None = None  # test-split evaluation every N epochs and after the last; None: ~4 per run

    def __post_init__(self) -> None:
        check_int("--epochs", self.epochs, 1, _MAX_EPOCHS)
        check_int("--batch-size", self.batch_size, 1, MAX_BATCH_SIZE)
        check_int("--mu", self.mu, 0, MAX_BATCH_SIZE // max(int(self.batch_size), 1))
        if self.steps_per_epoch is not None:
            check_int("--steps-per-epoch", self.steps_per_epoch, 1, _MAX_STEPS)
        check_float("--lr", self.lr, 0, 10, low_open=True)
        check_float("momentum", self.momentum, 0, 1, high_open=True)
        check_float("--weight-decay", self.weight_decay, 0, 1)
        check_int("--seed", self.seed, 0, 2**63 - 1)
        check_device(self.device)
        check_choice("--precision", self.precision, PRECISIONS)
        if self.workers is not None:
            check_int("--workers", self.workers, 0, MAX_WORKERS)
        if self.eval_every is not None:
            check_int("--eval-every", self.eval_every, 1, _MAX_EPOCHS)

    def resolved_steps(self, n_labeled: int, n_unlabeled: int) -> int:
        if self.steps_per_epoch:
            return self.steps_per_epoch
        return max(1, math.ceil((n_labeled + n_unlabeled) / self.batch_size))

    def resolved_eval_every(self) -> int:
        """``eval_every``, or by default a quarter of the epochs: about four evaluations per run."""
        return self.eval_every or max(1, math.ceil(self.epochs / EVALUATIONS_PER_RUN))

    def evaluates(self, epoch: int) -> bool:
        """Whether the test split is evaluated after ``epoch`` (0-based): every ``eval_every``-th and the last."""
        return (epoch + 1) % self.resolved_eval_every() == 0 or epoch + 1 == self.epochs

    def identity(self) -> dict[str, Any]:
        """The settings the trained weights depend on (``asdict`` less ``RUNTIME_ONLY``)."""
        return {k: v for k, v in asdict(self).items() if k not in RUNTIME_ONLY}


@dataclass(frozen=True)
class DistillConfig:
    """The distillation method's own settings (defaults documented in docs/distillation.md)."""

    lam: float = 10.0  # lambda: the cosine term is <= 2 per source; with 1.0 CE dominates and the student barely moves
    views: int = 8  # V: augmented views per image in the teacher-target bank
    view_seed: int = 0  # the bank's seed: fixed across training seeds so the bank is reused
    feature_loss: str = "cosine"
    head: str = "linear"
    weight_threshold: float = 1e-3  # sources with alpha below this are dropped (cost nothing)
    online_teachers: bool = False  # run teachers every step on fresh views instead of the bank
    policy: ViewPolicy = field(default_factory=ViewPolicy)
    # Consistency on the unlabeled pool (settings from RunSpec.fixmatch) whose pseudo-labels also weigh
    # the teachers' probes is the default: on the zoobench of seed 1 it beat consistency with the
    # student's pseudo-labels alone ("fixmatch") by 2.0 points at 5 labels and 0.5 at 20, by a rule
    # written before the runs (docs/results.md); "none" (with feature_space="full") is the paper's pure
    # distillation. The guards on lambda stay opt-in.
    unlabeled_loss: str = "fixmatch-teachers"
    lam_schedule: str = "constant"
    lam_scale: str = "none"
    # "class": the aggregator weighs the sources once per class, on how well each knows that
    # class, so a task whose classes come from two domains learns each half from its own teacher.
    source_weights: str = "task"
    # With fixmatch-teachers: "joint" (the default; on the zoobench of seed 1 it beat "mixture" by 0.3 points
    # at 5 labels and 0.1 at 20, by a rule written before the runs), one probe on every source's
    # standardised features side by side (block s scaled by sqrt(alpha_s)), which can use one teacher for
    # some classes and another for the rest; "mixture", a probe per source mixed with alpha.
    teacher_probe: str = "joint"
    # "class" (the default): each teacher's term compares only the coordinates that tell the target's
    # labeled classes apart (feature_space.py), not everything the teacher sees in the image. On the
    # zoobench of seed 1 it beat "full" (the paper's term) by 0.2 points at 5 labels and 0.5 at 20, by
    # a rule written before the runs (docs/results.md). A task with fewer than 3 labeled classes
    # distills the full features (runs/run.py says so).
    feature_space: str = "class"
    # "agreement": an unlabeled image drops a teacher's feature term where the student is confident
    # and the teacher's class (LDA in its class subspace) is another one (feature_gate.py). Needs
    # feature_space="class".
    feature_gate: str = "none"

    def __post_init__(self) -> None:
        check_float("--lambda", self.lam, 0, 1e6)
        check_int("--views", self.views, 1, 1024)
        check_int("view_seed", self.view_seed, 0, 2**63 - 1)
        check_choice("--feature-loss", self.feature_loss, FEATURE_LOSSES)
        check_choice("--head", self.head, HEADS)
        check_float("weight_threshold", self.weight_threshold, 0, 1, high_open=True)
        check_choice("--unlabeled-loss", self.unlabeled_loss, UNLABELED_LOSSES)
        check_choice("--lambda-schedule", self.lam_schedule, LAMBDA_SCHEDULES)
        check_choice("--lambda-scale", self.lam_scale, LAMBDA_SCALES)
        check_choice("--source-weights", self.source_weights, SOURCE_WEIGHTINGS)
        check_choice("--teacher-probe", self.teacher_probe, TEACHER_PROBES)
        check_choice("--feature-space", self.feature_space, FEATURE_SPACES)
        check_choice("--feature-gate", self.feature_gate, FEATURE_GATES)
        if self.feature_gate != "none" and self.feature_space != "class":
            raise ConfigError(f"--feature-gate {self.feature_gate} reads each teacher's class from its class "
                              f"subspace: use it with --feature-space class, not {self.feature_space!r}")

    def identity(self) -> dict[str, Any]:
        """The settings the trained weights depend on, as signatures record them (``asdict`` less the
        ``ADDED_LATER`` fields at their neutral value)."""
        return {k: v for k, v in asdict(self).items() if ADDED_LATER.get(k, object()) != v}


@dataclass(frozen=True)
class FixMatchConfig:
    """FixMatch's settings (reference values of Sohn et al. 2020 and microsoft USB)."""

    threshold: float = 0.95
    lambda_u: float = 1.0
    randaugment_ops: int = 2
    randaugment_magnitude: int = 10
    cutout: float = 0.5  # largest cutout side, as a fraction of the image side

    def __post_init__(self) -> None:
        check_float("--threshold", self.threshold, 0, 1)
        check_float("--lambda-u", self.lambda_u, 0, 1e6)
        check_int("randaugment_ops", self.randaugment_ops, 0, 14)
        check_int("randaugment_magnitude", self.randaugment_magnitude, 0, 30)
        check_float("cutout", self.cutout, 0, 1)

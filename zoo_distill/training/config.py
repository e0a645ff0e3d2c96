"""The training budget every method shares, validated when it is made (each method's own options:
``training/methods/options.py`` and a plugin's ``Method.options``).

Plain dataclasses with no torch import, so the CLI can show their defaults at once and the
Python API and the CLI reject a bad setting the same way, before any work starts (and before
an output folder is created). Messages name the CLI option, the name users see.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from zoo_distill.util.checks import MAX_BATCH_SIZE, check_choice, check_float, check_int
from zoo_distill.util.device import check_device
from zoo_distill.util.workers import MAX_WORKERS

__all__ = ["EVALUATIONS_PER_RUN", "PRECISIONS", "RUNTIME_ONLY", "TrainConfig"]

PRECISIONS = ("fp32", "bf16")
_MAX_EPOCHS = 100_000
_MAX_STEPS = 10_000_000
EVALUATIONS_PER_RUN = 4  # by default; plus the last epoch when the epochs do not divide evenly
RUNTIME_ONLY = ("workers", "eval_every")  # TrainConfig fields that do not change the trained weights


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

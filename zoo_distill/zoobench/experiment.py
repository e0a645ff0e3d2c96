"""One comparison on a zoobench target: the same student, data and budget for every method.

Methods are named the way the tables show them: ``finetune``, ``fixmatch``, ``nearest``
(DistillNearest), ``weighted`` (DistillWeighted), ``uniform`` and ``single:<source>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from ..cache import FeatureCache
from ..data import TargetData, load_target
from ..distill import DistillConfig
from ..plugins import PluginRegistry
from ..runs import RunSpec, run
from ..trainer import TrainConfig
from ..zoo import Zoo
from .build import ZoobenchBuild

BASELINES = ("finetune", "fixmatch")
DISTILL_AGGREGATORS = ("nearest", "weighted", "uniform")
LABELS = {"finetune": "fine-tune", "fixmatch": "FixMatch", "nearest": "DistillNearest",
          "weighted": "DistillWeighted", "uniform": "uniform",
          "best-single": "best single (oracle)"}


@dataclass(frozen=True)
class Budget:
    """Training settings shared by every method in a comparison (the student's cost is equal)."""

    epochs: int = 20
    batch_size: int = 32
    mu: int = 2
    lr: float = 0.03
    metric: str = "knn"
    aggregator_options: dict[str, Any] = field(default_factory=dict)
    distill: DistillConfig = field(default_factory=DistillConfig)


def load_split(build: ZoobenchBuild, target: str, key: str) -> TargetData:
    splits = build.targets[target]
    return load_target(labeled=Path(splits.train[key]), unlabeled=Path(splits.unlabeled), test=Path(splits.test))


def method_spec(method: str, build: ZoobenchBuild, student_arch: str, seed: int, budget: Budget) -> RunSpec:
    """The RunSpec of one method; the student always starts from the generic start."""
    train = TrainConfig(epochs=budget.epochs, batch_size=budget.batch_size, mu=budget.mu, lr=budget.lr, seed=seed)
    spec = RunSpec(student=student_arch, student_init=str(build.generic[student_arch]), train=train,
                   metric=budget.metric, distill=budget.distill)
    if method in BASELINES:
        return replace(spec, method=method)
    if method.startswith("single:"):
        return replace(spec, method="distill", aggregator="nearest", sources=[method.split(":", 1)[1]])
    if method in DISTILL_AGGREGATORS:
        options = budget.aggregator_options if method == "weighted" else {}
        return replace(spec, method="distill", aggregator=method, aggregator_options=dict(options))
    raise ValueError(f"unknown method {method!r}")


def run_method(method: str, data: TargetData, build: ZoobenchBuild, zoo: Zoo, registry: PluginRegistry,
               cache: FeatureCache, out: Path, student_arch: str, seed: int, budget: Budget,
               progress: Progress | None = None) -> dict[str, Any]:
    """Train one method and return its metrics.json content."""
    spec = method_spec(method, build, student_arch, seed, budget)
    return run(spec, data, zoo, registry, cache, out, progress=progress).metrics

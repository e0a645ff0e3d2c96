"""What a run is: the method, its sources and student, and every training setting.

A plain dataclass (no torch import) validated when it is made, so a bad setting fails before
any ranking, extraction or output folder; saved as ``run.json`` in the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from zoo_distill.errors import ConfigError
from zoo_distill.ranking.defaults import default_metric
from zoo_distill.training.config import DistillConfig, FixMatchConfig, TrainConfig
from zoo_distill.util.checks import check_choice, check_int

__all__ = ["METHODS", "RunSpec", "spec_from_settings"]

METHODS = ("distill", "finetune", "fixmatch")


@dataclass
class RunSpec:
    """Everything a run depends on; saved as ``run.json`` in the run directory."""

    method: str = "distill"
    aggregator: str = "weighted"
    aggregator_options: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None  # None: the aggregator's default (ranking.defaults.default_metric)
    sources: list[str] = field(default_factory=list)
    student: str = "resnet18"
    student_init: str = "pretrained"
    input_size: int | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    fixmatch: FixMatchConfig = field(default_factory=FixMatchConfig)

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        if self.metric is None and isinstance(self.aggregator, str):
            self.metric = default_metric(self.aggregator)
        for option, value in (("--aggregator", self.aggregator), ("--metric", self.metric),
                              ("--student", self.student), ("--student-init", self.student_init)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{option} must be a non-empty name, got {value!r}")
        if self.input_size is not None:
            check_int("--input-size", self.input_size, 8, 4096)
        if not all(isinstance(s, str) and s for s in self.sources):
            raise ConfigError(f"--source must name zoo entries, got {self.sources!r}")


def _field_owner() -> dict[str, str]:
    """Which part of a RunSpec each flat setting name belongs to ('' = the RunSpec itself)."""
    owners: dict[str, str] = {}
    parts = {"": RunSpec, "train": TrainConfig, "distill": DistillConfig, "fixmatch": FixMatchConfig}
    for part, cls in parts.items():
        for f in fields(cls):
            if part == "" and (f.name in parts or f.name in ("method", "aggregator_options")):
                continue
            owners.setdefault(f.name, part)  # RunSpec, then train, distill, fixmatch: first owner wins
    return owners


def spec_from_settings(method: str = "distill", **settings: Any) -> RunSpec:
    """A validated RunSpec from flat settings, the names the Python API and the CLI use
    (``epochs=``, ``lr=``, ``lam=``, ``threshold=``, ``aggregator=``, ...); unset ones keep their defaults.

    ``temperature`` and ``top_k`` are shorthands for the aggregator options of the same name."""
    owners = _field_owner()
    grouped: dict[str, dict[str, Any]] = {"": {}, "train": {}, "distill": {}, "fixmatch": {}}
    options = dict(settings.pop("aggregator_options", None) or {})
    for key in ("temperature", "top_k"):
        if settings.get(key) is not None:
            options[key] = settings.pop(key)
        settings.pop(key, None)
    unknown = sorted(k for k in settings if k not in owners)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(owners))}")
    for key, value in settings.items():
        if value is not None:
            grouped[owners[key]][key] = value
    top = grouped[""]
    if "sources" in top:
        top["sources"] = list(top["sources"])
    return RunSpec(method=method, aggregator_options=options, **top, train=TrainConfig(**grouped["train"]),
                   distill=DistillConfig(**grouped["distill"]), fixmatch=FixMatchConfig(**grouped["fixmatch"]))

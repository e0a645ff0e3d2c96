"""What a run is: the method and its options, its sources and student, and every training setting.

A plain dataclass (no torch import) validated when it is made, so a bad setting fails before
any ranking, extraction or output folder; saved as ``run.json`` in the run directory. The method
is a name the plugins registered (``register_methods``) and its options a plain dict, made into the
method's options dataclass (and so validated) by :func:`resolve_method`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.errors import ConfigError
from zoo_distill.plugin.manager import PluginRegistry, get_registry
from zoo_distill.plugin.types import Method
from zoo_distill.ranking.defaults import default_metric
from zoo_distill.training.config import TrainConfig
from zoo_distill.util.checks import check_int
from zoo_distill.util.device import pick_device

__all__ = ["RunSpec", "resolve_method", "spec_from_settings"]


@dataclass
class RunSpec:
    """Everything a run depends on; saved as ``run.json`` in the run directory."""

    method: str = "distill"
    method_options: dict[str, Any] = field(default_factory=dict)  # the method's options dataclass, as a dict
    aggregator: str = "weighted"
    aggregator_options: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None  # None: the aggregator's default (ranking.defaults.default_metric)
    sources: list[str] = field(default_factory=list)
    student: str = "resnet18"
    student_init: str = "pretrained"
    input_size: int | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    policy: ViewPolicy = field(default_factory=ViewPolicy)  # the augmentation every method's views come from

    def __post_init__(self) -> None:
        if self.metric is None and isinstance(self.aggregator, str):
            self.metric = default_metric(self.aggregator)
        for option, value in (
            ("--method", self.method),
            ("--aggregator", self.aggregator),
            ("--metric", self.metric),
            ("--student", self.student),
            ("--student-init", self.student_init),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{option} must be a non-empty name, got {value!r}")
        if not isinstance(self.method_options, dict):
            raise ConfigError(f"--method-opt must give KEY=VALUE pairs, got {self.method_options!r}")
        if self.input_size is not None:
            check_int("--input-size", self.input_size, 8, 4096)
        if not all(isinstance(s, str) and s for s in self.sources):
            raise ConfigError(f"--source must name zoo entries, got {self.sources!r}")

    @property
    def resolved_metric(self) -> str:
        """``metric`` once ``__post_init__`` has filled in the aggregator's default (``None`` only before)."""
        assert self.metric is not None
        return self.metric


def resolve_method(spec: RunSpec, registry: PluginRegistry | None = None) -> tuple[Method, Any]:
    """The registered method of ``spec`` and its options dataclass, made (and so validated) from
    ``spec.method_options``; an unknown method or option fails naming it."""
    method = (registry or get_registry()).method(spec.method)
    return method, method.make_options(spec.method_options)


_TOP = {f.name for f in fields(RunSpec)} - {"method", "method_options", "aggregator_options", "train", "policy"}
_TRAIN = {f.name for f in fields(TrainConfig)}


def spec_from_settings(method: str = "distill", registry: PluginRegistry | None = None, **settings: Any) -> RunSpec:
    """A validated RunSpec from flat settings, the names the Python API and the CLI use (``epochs=``,
    ``lr=``, ``aggregator=``, and the method's options by name: ``lam=``, ``threshold=``, ...); unset
    ones keep their defaults. ``method_options`` and ``aggregator_options`` may also be given as dicts;
    ``temperature`` and ``top_k`` are shorthands for the aggregator options of the same name. The spec
    holds every option of the method, defaults included, so its signature changes with a default."""
    registered = (registry or get_registry()).method(method)
    option_names = set(registered.option_names())
    options = dict(settings.pop("method_options", None) or {})
    aggregator_options = dict(settings.pop("aggregator_options", None) or {})
    for key in ("temperature", "top_k"):
        if settings.get(key) is not None:
            aggregator_options[key] = settings[key]
        settings.pop(key, None)
    top: dict[str, Any] = {}
    train: dict[str, Any] = {}
    unknown = []
    for key, value in settings.items():
        part = top if key in _TOP else train if key in _TRAIN else options if key in option_names else None
        if part is None:
            unknown.append(key)
        elif value is not None:
            part[key] = value
    if unknown:
        known = sorted(_TOP | _TRAIN | option_names)
        raise ConfigError(
            f"unknown setting(s) {', '.join(sorted(unknown))} for method {method!r}; known: {', '.join(known)}"
        )
    if "sources" in top:
        top["sources"] = list(top["sources"])
    train["device"] = pick_device(train.get("device"))  # auto (the default): CUDA when there is one
    made = registered.make_options(options)
    return RunSpec(
        method=method,
        method_options=asdict(made),
        aggregator_options=aggregator_options,
        **top,
        train=TrainConfig(**train),
    )

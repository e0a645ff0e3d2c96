"""The plain-data contracts that plugins implement and the core consumes.

Everything that crosses a plugin boundary is one of these small dataclasses or
a numpy/torch array, so a plugin never needs to know the core's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

#: What a metric may ask the core to provide.
FEATURES = "features"
LOGITS = "logits"


@dataclass(frozen=True)
class Metric:
    """A task-similarity (transferability) metric; higher always means a better source.

    ``fn(features, labels, source_logits)`` receives float64 features ``[N, D]``,
    integer labels ``[N]`` already remapped to ``0..C-1``, and the source model's
    logits ``[N, K]`` (or ``None`` when the source has no classifier head).
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]
    needs: tuple[str, ...] = (FEATURES,)
    reference: str = ""
    description: str = ""

    def score(self, features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
        return float(self.fn(features, labels, source_logits))


@dataclass(frozen=True)
class Aggregator:
    """Turns per-source similarity scores into source weights alpha that sum to 1.

    ``fn(scores, **options)`` gets ``{source_name: score}`` (finite scores only, in rank
    order of the zoo) and returns ``{source_name: weight}``, non-negative, summing to 1.
    ``options`` are the aggregator's tunables (e.g. ``temperature``) with their defaults.
    """

    name: str
    fn: Callable[..., dict[str, float]]
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def weights(self, scores: Mapping[str, float], **options: Any) -> dict[str, float]:
        unknown = set(options) - set(self.options)
        if unknown:
            raise ValueError(
                f"aggregator {self.name!r} has no option(s) {sorted(unknown)}; known: {sorted(self.options)}"
            )
        return self.fn(scores, **{**self.options, **options})


@dataclass(frozen=True)
class ZooEntry:
    """One source model of the zoo, as written in a zoo file or contributed by a plugin."""

    name: str
    provider: str
    options: Mapping[str, Any] = field(default_factory=dict)
    domain: str | None = None
    description: str | None = None
    license: str | None = None
    origin: str = "<unknown>"  # the zoo file or plugin that defined it, for error messages
    base_dir: str | None = None  # relative paths in ``options`` resolve against this folder


class EntryFieldError(ValueError):
    """Raised by a provider's ``validate`` to say which field of a zoo entry is wrong and why."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field_name = field_name
        super().__init__(message)


@runtime_checkable
class Teacher(Protocol):
    """A frozen source model: preprocessing, feature dim, source classes, and a forward pass."""

    name: str
    data_config: Mapping[str, Any]  # timm data config: input_size, mean, std, interpolation, crop_pct
    feature_dim: int
    num_source_classes: int  # 0 when the source has no classifier head

    @property
    def digest(self) -> str:
        """A stable hash of the weights, used to key cached features."""

    def forward(self, images: Any) -> tuple[Any, Any | None]:
        """Return ``(features [B, D], source_logits [B, C] or None)`` for a preprocessed batch."""


@dataclass(frozen=True)
class TeacherIdentity:
    """What keys a teacher's cached features, known without building the model."""

    digest: str
    data_config: Mapping[str, Any]


@dataclass(frozen=True)
class SourceProvider:
    """A kind of zoo entry (``timm``, ``hf-hub``, ``local``, ...) and how to build its Teacher.

    ``required`` / ``optional`` name the provider-specific fields of a zoo entry, so the
    zoo loader can validate an entry before anything is downloaded. ``is_available``
    answers (cheaply, without loading weights) whether the entry can be built right now,
    returning ``None`` if so or a human-readable reason if not. ``identify`` (optional) returns
    the TeacherIdentity cheaply (no model construction), so cached features are reused without
    loading the teacher at all; it must equal the built teacher's ``digest``/``data_config``.
    """

    name: str
    load: Callable[[ZooEntry], Teacher]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    is_available: Callable[[ZooEntry], str | None] | None = None
    validate: Callable[[ZooEntry], None] | None = None  # raises EntryFieldError
    identify: Callable[[ZooEntry], TeacherIdentity] | None = None
    description: str = ""

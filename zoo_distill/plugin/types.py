"""The plain-data contracts that plugins implement and the core consumes.

Everything that crosses a plugin boundary is one of these small dataclasses or
a numpy/torch array, so a plugin never needs to know the core's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from zoo_distill.errors import ConfigError
from zoo_distill.plugin.returns import check_score, check_weights
from zoo_distill.util.checks import check_choice, check_float, check_int

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Aggregator",
    "EntryFieldError",
    "FEATURES",
    "HubFiles",
    "LOGITS",
    "LocalFile",
    "Method",
    "MethodSetup",
    "Metric",
    "SourceProvider",
    "Teacher",
    "TeacherIdentity",
    "TeacherOptions",
    "ZooEntry",
    "method_option",
]


#: What a metric may ask the core to provide.
FEATURES = "features"
LOGITS = "logits"


@dataclass(frozen=True)
class Metric:
    """A task-similarity (transferability) metric; higher always means a better source.

    ``fn(features, labels, source_logits)`` receives float64 features ``[N, D]``,
    integer labels ``[N]`` already remapped to ``0..C-1``, and the source model's
    logits ``[N, K]`` (or ``None`` when the source has no classifier head). ``score`` returns
    what ``fn`` returns as a finite float, or raises ``PluginOutputError`` (``plugin.returns``).
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]
    needs: tuple[str, ...] = (FEATURES,)
    reference: str = ""
    description: str = ""

    def score(self, features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
        return check_score(self.fn(features, labels, source_logits))


@dataclass(frozen=True)
class Aggregator:
    """Turns per-source similarity scores into source weights alpha that sum to 1.

    ``fn(scores, **options)`` gets ``{source_name: score}`` (finite scores only, in rank
    order of the zoo) and returns ``{source_name: weight}``, non-negative, summing to 1.
    ``options`` are the aggregator's tunables (e.g. ``temperature``) with their defaults.
    ``check_options`` (optional) gets the options merged with those defaults and raises (a
    ``ConfigError`` naming the option) when a value is unusable; it runs before any ranking, so a
    bad value fails at once rather than after every teacher was scored. ``weights`` checks what
    ``fn`` returns (``plugin.returns.check_weights``): a mapping over exactly the scored sources (a
    missing one weighs 0), finite, >= 0, summing to 1; ``PluginOutputError`` otherwise.
    """

    name: str
    fn: Callable[..., dict[str, float]]
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    check_options: Callable[[Mapping[str, Any]], None] | None = None

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with ``options``, checked: unknown names (ValueError) and values."""
        unknown = set(options) - set(self.options)
        if unknown:
            raise ValueError(
                f"aggregator {self.name!r} has no option(s) {sorted(unknown)}; known: {sorted(self.options)}"
            )
        merged = {**self.options, **options}
        if self.check_options is not None:
            self.check_options(merged)
        return merged

    def weights(self, scores: Mapping[str, float], **options: Any) -> dict[str, float]:
        return check_weights(self.fn(scores, **self.validate_options(options)), list(scores))


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
    """A frozen source model: everything the core (ranking, feature extraction, distillation) uses of it.

    The core touches nothing else, so any class with these members works; it need not be a timm
    model (``zoo_distill.zoo.teacher.TimmTeacher`` is the built-in one). The core calls ``to`` before
    ``forward`` (maybe more than once), and ``forward`` under ``torch.inference_mode()`` on batches
    made with ``data_config``.
    """

    name: str  # the zoo entry's name
    #: timm data config (``input_size`` [C, H, W], ``mean``, ``std``, ``interpolation``, ``crop_pct``,
    #: ``crop_mode``): passed to ``timm.data.create_transform``, stored as JSON in the feature cache.
    data_config: Mapping[str, Any]
    feature_dim: int  # D of ``forward``'s features
    num_source_classes: int  # C of ``forward``'s logits; 0 when the source has no classifier head

    @property
    def digest(self) -> str:
        """A stable hash of the weights, used to key cached features."""

    def to(self, device: Any) -> Teacher:
        """Move the model to ``device`` (a ``torch.device``) and return the teacher itself."""

    def forward(self, images: Any) -> tuple[Any, Any | None]:
        """``(features [B, D], source_logits [B, C] or None)``: torch tensors on the input's device,
        for a preprocessed float batch ``images`` [B, C, H, W]."""


@dataclass(frozen=True)
class TeacherIdentity:
    """What keys a teacher's cached features, known without building the model."""

    digest: str
    data_config: Mapping[str, Any]


@dataclass(frozen=True)
class HubFiles:
    """Files of a Hugging Face Hub repo that an entry loads: ``zoo pull`` downloads them into the Hub
    cache and ``zoo ls`` tells whether they are there (and the size of ``weights``)."""

    repo_id: str
    revision: str | None  # None: the default branch
    files: tuple[str, ...]
    weights: str = "model.safetensors"  # which of ``files`` holds the weights

    def __post_init__(self) -> None:
        if self.weights not in self.files:
            raise ValueError(f"HubFiles: weights {self.weights!r} is not one of files {self.files}")


@dataclass(frozen=True)
class LocalFile:
    """The weights file on this machine that an entry loads: nothing to download."""

    path: Path


@dataclass(frozen=True)
class SourceProvider:
    """A kind of zoo entry (``timm``, ``hf-hub``, ``local``, ...) and how to build its Teacher.

    ``required`` / ``optional`` name the provider-specific fields of a zoo entry, so the
    zoo loader can validate an entry before anything is downloaded. ``is_available``
    answers (cheaply, without loading weights) whether the entry can be built right now,
    returning ``None`` if so or a human-readable reason if not. ``identify`` (optional) returns
    the TeacherIdentity cheaply (no model construction), so cached features are reused without
    loading the teacher at all; it must equal the built teacher's ``digest``/``data_config``.
    ``files`` (optional) says where an entry's weights live (no network, no model), so that
    ``zoo ls`` can show whether they are on this machine and ``zoo pull`` can prefetch them:
    a :class:`HubFiles`, a :class:`LocalFile`, or None when the provider cannot say for this entry.
    It raises ``ProviderUnavailable`` when the entry's weights cannot be had at all.
    """

    name: str
    load: Callable[[ZooEntry], Teacher]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    is_available: Callable[[ZooEntry], str | None] | None = None
    validate: Callable[[ZooEntry], None] | None = None  # raises EntryFieldError
    identify: Callable[[ZooEntry], TeacherIdentity] | None = None
    description: str = ""
    files: Callable[[ZooEntry], HubFiles | LocalFile | None] | None = None
    #: True: the teachers read the target's class names (a zero-shot head over the target's classes): each
    #: entry gets ``options["target_classes"]`` = ``[{"name": folder, "prompt": text}, ...]`` in label order
    #: before ``identify`` / ``load`` (``zoo_distill.zoo.target_classes``), and the digest must depend on them.
    class_names: bool = False


def method_option(key: str) -> str:
    """How an error names a method's option: as the user sets it, ``--method-opt KEY``."""
    return f"--method-opt {key}"


@dataclass(frozen=True)
class TeacherOptions:
    """The settings the core reads of a method that uses teachers (``Method.uses_teachers``): how the
    teacher bank is made and how the aggregator's weights alpha are kept. A teacher-using method's
    options dataclass derives from this one and adds its own fields."""

    views: int = 8  # V: augmented views per image in the teacher-target bank
    view_seed: int = 0  # the bank's seed: fixed across training seeds so the bank is reused
    weight_threshold: float = 1e-3  # sources with alpha below this are dropped (cost nothing)
    # "class": the aggregator weighs the sources once per class, on how well each knows that class, so a
    # task whose classes come from two domains learns each half from its own teacher (docs/results.md).
    source_weights: str = "task"

    def __post_init__(self) -> None:
        check_int(method_option("views"), self.views, 1, 1024)
        check_int(method_option("view_seed"), self.view_seed, 0, 2**63 - 1)
        check_float(method_option("weight_threshold"), self.weight_threshold, 0, 1, high_open=True)
        check_choice(method_option("source_weights"), self.source_weights, ("task", "class"))


@dataclass
class MethodSetup:
    """The run's plain inputs a method's factory builds its training objective from.

    Built by ``runs/run.py``: the student (``training.student.Student``), the labeled and unlabeled
    ``ImageStore``s (``data/store.py``) with the labels, the device, the shared ``TrainConfig``, the view policy (the
    augmentation every method draws its views from) and the method's validated ``options``. For a
    method with ``uses_teachers``: the aggregator's weights ``alpha``, the teacher bank ``bank``
    (``{source: [views, labeled + unlabeled, D]}``) and, with ``source_weights="class"``, ``class_alpha``
    (``{source: [classes]}``). ``notes`` collects what the run tells the user.
    """

    student: Any
    labeled: Any
    labels: np.ndarray
    unlabeled: Any
    device: Any
    train: Any
    policy: Any
    options: Any
    alpha: dict[str, float] = field(default_factory=dict)
    bank: Mapping[str, Any] = field(default_factory=dict)
    class_alpha: Mapping[str, np.ndarray] | None = None
    label: str = ""  # how the run names the method in logs and plots, e.g. ``distill[weighted]``
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Method:
    """A training method: its name, its options dataclass and the factory of its objective.

    ``options`` is a dataclass whose fields all have defaults and whose ``__post_init__`` raises a
    ``ConfigError`` naming ``--method-opt KEY`` for a bad value; it must import without torch (the
    CLI's ``--help`` reads it). ``build(setup)`` returns the training objective ``training/loop.py``
    trains (``name``, ``uses_unlabeled``, ``make_inputs``, ``modules()``, ``loss(inputs)``).
    ``uses_teachers``: the run ranks the zoo, builds the teacher bank and passes alpha (the options then
    derive from :class:`TeacherOptions`); ``uses_unlabeled``: the unlabeled images are trained on.
    """

    name: str
    options: type
    build: Callable[[MethodSetup], Any]
    uses_teachers: bool = False
    uses_unlabeled: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not (is_dataclass(self.options) and isinstance(self.options, type)):
            raise TypeError(f"method {self.name!r}: options must be a dataclass type, got {self.options!r}")
        required = [f.name for f in fields(self.options) if f.default is MISSING and f.default_factory is MISSING]
        if required:
            raise TypeError(f"method {self.name!r}: every option needs a default; {', '.join(required)} has none")
        if self.uses_teachers and not issubclass(self.options, TeacherOptions):
            raise TypeError(f"method {self.name!r} uses teachers: its options must derive from TeacherOptions")

    def option_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.options))

    def make_options(self, values: Mapping[str, Any] | None = None) -> Any:
        """The options dataclass made from ``values`` (the rest at their defaults), validated as it is made."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.option_names()))
        if unknown:
            raise ConfigError(
                f"method {self.name!r} has no option {', '.join(map(method_option, unknown))}; "
                f"known: {', '.join(self.option_names()) or '(none)'}"
            )
        return self.options(**values)

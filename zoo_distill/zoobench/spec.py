"""What the offline zoo ("zoobench") is made of: sources, targets and the sizes of each preset.

Everything a build produces is a pure function of these settings (and the package version), so
the settings double as the reuse stamp: an artefact is rebuilt only when what it depends on changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class TargetSpec:
    """A target task: a class subset of a synthetic (or real) domain, and which sources should help."""

    name: str
    domain: str
    classes: tuple[int, ...]
    kind: str  # "near" (one source covers it) or "several" (needs more than one source)
    helped_by: tuple[str, ...]
    description: str


SOURCE_DOMAINS: tuple[str, ...] = ("digits", "latin", "greek", "symbols", "shapes", "textures")

TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("handwritten-digits", "sklearn_digits", tuple(range(10)), "near", ("digits",),
               "real handwritten digit scans (scikit-learn), close to the printed-digits source"),
    TargetSpec("lowercase", "lowercase", tuple(range(10)), "near", ("latin",),
               "lowercase Latin letters, close to the uppercase Latin source"),
    TargetSpec("greek-lowercase", "greek_lowercase", tuple(range(10)), "near", ("greek",),
               "lowercase Greek letters, close to the uppercase Greek source"),
    TargetSpec("cyrillic", "cyrillic", tuple(range(10)), "several", ("latin", "greek", "symbols"),
               "a script no source covers; strokes shared with Latin, Greek and symbols"),
    TargetSpec("shapes-on-textures", "shapes_on_textures", tuple(range(10)), "several", ("shapes", "textures"),
               "shapes drawn over textured backgrounds: needs the shapes and the textures sources"),
    TargetSpec("digits-on-textures", "digits_on_textures", tuple(range(10)), "several", ("digits", "textures"),
               "printed digits over textured backgrounds: needs the digits and the textures sources"),
)


def target_spec(name: str) -> TargetSpec:
    for t in TARGETS:
        if t.name == name:
            return t
    raise KeyError(f"unknown zoobench target {name!r}; known: {', '.join(t.name for t in TARGETS)}")


@dataclass(frozen=True)
class ZoobenchSettings:
    """Sizes of a zoobench build. ``full()`` is the benchmark; ``mini()`` is the README demo."""

    seed: int = 0
    student_arch: str = "test_resnet"   # 0.37M params: the small model we want to end with
    teacher_arch: str = "resnet10t"     # 4.9M params: the zoo's (larger) source models
    sources: tuple[str, ...] = SOURCE_DOMAINS
    targets: tuple[str, ...] = tuple(t.name for t in TARGETS)
    # The generic ("ImageNet-like") start: every source domain's classes at once, few images each.
    generic_per_class: int = 40
    generic_epochs: int = 8
    # Each teacher: fine-tuned from the generic start on its own domain.
    source_per_class: int = 150
    source_epochs: int = 8
    lr: float = 1e-2
    batch_size: int = 64
    # Each target: few labels per class (one draw per shot and split seed), unlabeled and test pools.
    shots: tuple[int, ...] = (5, 20)
    split_seeds: int = 3
    unlabeled_per_class: int = 40
    test_per_class: int = 50

    @classmethod
    def full(cls, **overrides: Any) -> ZoobenchSettings:
        return replace(cls(), **overrides)

    @classmethod
    def mini(cls, **overrides: Any) -> ZoobenchSettings:
        """The README demo: the same six sources with less data and one split."""
        base = cls(generic_per_class=20, generic_epochs=6, source_per_class=60, source_epochs=6, shots=(5,),
                   split_seeds=1, targets=("shapes-on-textures",), unlabeled_per_class=40, test_per_class=40)
        return replace(base, **overrides)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS = {"full": ZoobenchSettings.full, "mini": ZoobenchSettings.mini}


@dataclass
class TargetSplits:
    """Where one target's splits were written: labeled draws keyed by (shot, split seed)."""

    name: str
    root: str
    unlabeled: str
    test: str
    train: dict[str, str] = field(default_factory=dict)  # "5shot-s0" -> folder

    @staticmethod
    def key(shot: int, split_seed: int) -> str:
        return f"{shot}shot-s{split_seed}"

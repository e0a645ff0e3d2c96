"""What the offline zoo ("zoobench") is made of: sources, targets and the sizes of each preset.

Everything a build produces is a pure function of these settings (and the package version), so
the settings double as the reuse stamp: an artefact is rebuilt only when what it depends on changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = [
    "PRESETS",
    "SOURCE_DOMAINS",
    "TARGETS",
    "TargetSpec",
    "TargetSplits",
    "ZoobenchSettings",
    "complementary",
    "complementary_targets",
    "target_spec",
]


@dataclass(frozen=True)
class TargetSpec:
    """A target task: a class subset of a synthetic (or real) domain, and which sources should help.

    A "complementary" target mixes classes of several source domains (``parts``: ``(domain,
    class indices)`` pairs, in label order), so no single teacher covers the whole task; its
    ``domain`` only names the mixture and its ``classes`` are empty.
    """

    name: str
    domain: str
    classes: tuple[int, ...]
    kind: str  # "near" (one source covers it), "several" (needs more than one), "complementary" (parts)
    helped_by: tuple[str, ...]
    description: str
    parts: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def __post_init__(self) -> None:
        domains = [domain for domain, _ in self.parts]
        mixture = len(set(domains)) == len(domains) >= 2 and all(c for _, c in self.parts) and not self.classes
        if (self.kind == "complementary") != bool(self.parts) or (self.parts and not mixture):
            raise ValueError(
                f"target {self.name}: a complementary target (and only one) has parts: two or "
                f"more distinct domains, each with classes, and no 'classes' of its own"
            )

    @property
    def class_parts(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``(domain, class indices)`` pairs the target's classes come from, in label order."""
        return self.parts or ((self.domain, self.classes),)


def complementary(
    name: str, parts: tuple[tuple[str, tuple[int, ...]], ...], description: str, helped_by: tuple[str, ...] = ()
) -> TargetSpec:
    """A target whose classes come from several domains, each part covered by its own teacher (by
    default the source of the part's own domain)."""
    domains = tuple(domain for domain, _ in parts)
    return TargetSpec(name, "+".join(domains), (), "complementary", helped_by or domains, description, parts)


SOURCE_DOMAINS: tuple[str, ...] = ("digits", "latin", "greek", "symbols", "shapes", "textures")

TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec(
        "handwritten-digits",
        "sklearn_digits",
        tuple(range(10)),
        "near",
        ("digits",),
        "real handwritten digit scans (scikit-learn), close to the printed-digits source",
    ),
    TargetSpec(
        "lowercase",
        "lowercase",
        tuple(range(10)),
        "near",
        ("latin",),
        "lowercase Latin letters, close to the uppercase Latin source",
    ),
    TargetSpec(
        "greek-lowercase",
        "greek_lowercase",
        tuple(range(10)),
        "near",
        ("greek",),
        "lowercase Greek letters, close to the uppercase Greek source",
    ),
    TargetSpec(
        "cyrillic",
        "cyrillic",
        tuple(range(10)),
        "several",
        ("latin", "greek", "symbols"),
        "a script no source covers; strokes shared with Latin, Greek and symbols",
    ),
    TargetSpec(
        "shapes-on-textures",
        "shapes_on_textures",
        tuple(range(10)),
        "several",
        ("shapes", "textures"),
        "shapes drawn over textured backgrounds: needs the shapes and the textures sources",
    ),
    TargetSpec(
        "digits-on-textures",
        "digits_on_textures",
        tuple(range(10)),
        "several",
        ("digits", "textures"),
        "printed digits over textured backgrounds: needs the digits and the textures sources",
    ),
    # Complementary: half the classes from one source domain, half from another, each class drawn as
    # that source renders it. The classes avoid look-alikes in the other sources (no 0/O, 1/I, 5/S,
    # 8/B; no Greek letter shaped like a Latin one, no Σ/∑ or Δ/triangle; no circle/ring/cross/arrow/
    # triangle next to glyphs and symbols), so each half is covered by exactly one teacher.
    complementary(
        "digits-and-greek",
        (("digits", (3, 4, 6, 7, 9)), ("greek", (2, 15, 20, 22, 23))),  # 3 4 6 7 9 | Γ Π Φ Ψ Ω
        "five printed digits and five uppercase Greek letters: the digits and the greek "
        "teachers each cover half of the classes",
    ),
    complementary(
        "shapes-and-latin",
        (("shapes", (1, 3, 5, 8, 10)), ("latin", (5, 6, 9, 20, 22))),
        # square star hexagon pentagon heart | F G J U W
        "five shapes and five uppercase Latin letters: the shapes and the latin teachers each "
        "cover half of the classes",
    ),
    # The two glyph targets above turned out to be covered by one glyph teacher alone (its features
    # separate all ten classes). Here the halves are far apart: no glyph teacher knows textures and
    # the textures teacher knows no glyphs.
    complementary(
        "digits-and-textures",
        (("digits", (3, 4, 6, 7, 9)), ("textures", (0, 3, 4, 6, 10))),
        # 3 4 6 7 9 | horizontal stripes, checkerboard, dots, waves, clouds
        "five printed digits and five textures: the digits and the textures teachers each "
        "cover half of the classes, and no teacher knows both kinds of image",
    ),
    # The three above are easy for the generic start (it has seen their classes, shallowly). Here
    # both halves are target domains the generic start never saw, and each has its own expert: on
    # the zoo of seed 1 the shapes teacher was the best single source on shapes-on-textures and the
    # worst on digits-on-textures, the digits teacher the best on digits-on-textures.
    complementary(
        "textured-shapes-and-digits",
        (("shapes_on_textures", (1, 3, 5, 8, 10)), ("digits_on_textures", (3, 4, 6, 7, 9))),
        # square star hexagon pentagon heart | 3 4 6 7 9, all over muted textures
        "five shapes and five printed digits, all over textured backgrounds: the shapes and the "
        "digits teachers each know one half, and the generic start neither",
        helped_by=("shapes", "digits"),
    ),
)
# Append only: a target's position in TARGETS seeds its images (build.py), so inserting one would
# change the bytes of every target after it and invalidate their kept benchmark runs.


def target_spec(name: str) -> TargetSpec:
    for t in TARGETS:
        if t.name == name:
            return t
    raise KeyError(f"unknown zoobench target {name!r}; known: {', '.join(t.name for t in TARGETS)}")


def complementary_targets(names: Iterable[str]) -> list[str]:
    """Those of ``names`` whose classes come from several source domains, in the order given."""
    return [name for name in names if target_spec(name).kind == "complementary"]


@dataclass(frozen=True)
class ZoobenchSettings:
    """Sizes of a zoobench build. ``full()`` is the benchmark; ``mini()`` is the README demo."""

    seed: int = 0
    student_arch: str = "test_resnet"  # 0.37M params: the small model we want to end with
    teacher_arch: str = "resnet10t"  # 4.9M params: the zoo's (larger) source models
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
        base = cls(
            generic_per_class=20,
            generic_epochs=6,
            source_per_class=60,
            source_epochs=6,
            shots=(5,),
            split_seeds=1,
            targets=("shapes-on-textures",),
            unlabeled_per_class=40,
            test_per_class=40,
        )
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

"""A small offline example: a target task and a zoo of teachers trained here, in about a minute.

It exists so that ``rank`` can be tried (and tested) on a fresh machine with no model hub:
teachers are timm models trained by ``training.train_classifier`` on the project's own
synthetic domains, saved as safetensors, and listed in a zoo file with provider ``local``.
The target is a task of its own close to some sources and far from others, so the
ranking has a right answer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import timm
import yaml
from rich.progress import Progress
from safetensors.torch import save_file

from zoo_distill._version import __version__
from zoo_distill.synthetic import generate, write_image_folder, write_unlabeled
from zoo_distill.synthetic.classifier import NORM_MEAN, NORM_STD, accuracy, train_classifier

__all__ = ["ExampleBuild", "ExampleSettings", "PRETRAINED_CFG", "build_example", "build_target", "train_teacher"]

PRETRAINED_CFG = {
    "input_size": [3, 32, 32],
    "mean": list(NORM_MEAN),
    "std": list(NORM_STD),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
}


@dataclass(frozen=True)
class ExampleSettings:
    """Sizes of the example; the defaults take about a minute on 2 CPU cores."""

    seed: int = 0
    arch: str = "resnet10t"
    target_domain: str = "shapes_on_textures"
    source_domains: tuple[str, ...] = ("shapes", "textures", "digits", "latin")
    source_per_class: int = 100
    source_epochs: int = 10
    source_lr: float = 1e-2
    source_classes: int = 8
    target_classes: int = 6
    train_per_class: int = 10
    unlabeled_per_class: int = 20
    test_per_class: int = 20
    batch_size: int = 64


@dataclass
class ExampleBuild:
    root: Path
    target: Path
    zoo: Path
    teacher_accuracy: dict[str, float] = field(default_factory=dict)
    reused: bool = False


def _stamp(settings: ExampleSettings) -> dict:
    """What a build depends on, JSON-normalised so it compares equal to what was written."""
    return json.loads(json.dumps({"version": __version__, "settings": asdict(settings)}))


def build_target(root: Path, s: ExampleSettings) -> Path:
    """Target task: disjoint seeded draws for train (few labels), unlabeled and test."""
    classes = list(range(s.target_classes))
    target = root / "target"
    for split, per_class, offset in (("train", s.train_per_class, 1), ("test", s.test_per_class, 2)):
        images, labels, names = generate(s.target_domain, per_class, s.seed * 1000 + offset, classes=classes)
        write_image_folder(target, split, images, labels, names)
    images, _, _ = generate(s.target_domain, s.unlabeled_per_class, s.seed * 1000 + 3, classes=classes)
    write_unlabeled(target, images)
    return target


def train_teacher(domain: str, s: ExampleSettings, out_dir: Path, progress: Progress | None) -> tuple[dict, float]:
    """Train one source model on its own domain and save it as safetensors; returns (zoo entry, held-out acc)."""
    import torch

    images, labels, names = generate(domain, s.source_per_class, s.seed * 1000 + 10 + len(domain))
    keep = labels < s.source_classes
    images, labels = images[keep], labels[keep]
    names = names[: s.source_classes]
    torch.manual_seed(s.seed)
    model = timm.create_model(s.arch, num_classes=len(names))
    train_classifier(
        model,
        images,
        labels,
        epochs=s.source_epochs,
        batch_size=s.batch_size,
        lr=s.source_lr,
        seed=s.seed,
        progress=progress,
        description=f"teacher {domain}",
    )
    held_x, held_y, _ = generate(domain, 10, s.seed * 1000 + 99, classes=list(range(len(names))))
    acc = accuracy(model, held_x, held_y)
    weights = out_dir / f"{domain}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    entry = {
        "name": f"{domain}-net",
        "provider": "local",
        "weights": f"teachers/{weights.name}",
        "arch": s.arch,
        "num_classes": len(names),
        "pretrained_cfg": PRETRAINED_CFG,
        "domain": domain,
        "description": f"{s.arch} trained on the synthetic '{domain}' domain "
        f"({len(names)} classes, held-out accuracy {acc:.2f})",
    }
    return entry, acc


def build_example(
    root: Path, settings: ExampleSettings | None = None, progress: Progress | None = None, force: bool = False
) -> ExampleBuild:
    """Build (or reuse, when built with the same settings and version) the example under ``root``."""
    s = settings or ExampleSettings()
    root = Path(root)
    stamp_file = root / "example.json"
    zoo_file = root / "zoo.yaml"
    if not force and stamp_file.exists() and zoo_file.exists():
        stamp = json.loads(stamp_file.read_text())
        if stamp.get("build") == _stamp(s):
            return ExampleBuild(root, root / "target", zoo_file, stamp.get("teacher_accuracy", {}), reused=True)
    root.mkdir(parents=True, exist_ok=True)
    target = build_target(root, s)
    teachers_dir = root / "teachers"
    teachers_dir.mkdir(exist_ok=True)
    entries, accs = [], {}
    for domain in s.source_domains:
        entry, acc = train_teacher(domain, s, teachers_dir, progress)
        entries.append(entry)
        accs[entry["name"]] = acc
    zoo_file.write_text(
        "# Generated by `zoo-distill example`: teachers trained on synthetic domains.\n"
        + yaml.safe_dump({"version": 1, "sources": entries}, sort_keys=False)
    )
    stamp_file.write_text(json.dumps({"build": _stamp(s), "teacher_accuracy": accs}, indent=2))
    return ExampleBuild(root, target, zoo_file, accs)

"""Build (or reuse) the offline zoo: a generic start, one teacher per source domain, the targets.

Each artefact is written to a temporary name and moved into place, then stamped with the settings
it depends on; a later build reuses every artefact whose stamp still matches, so an interrupted
build resumes where it stopped and a changed setting rebuilds only what depends on it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import yaml
from rich.progress import Progress
from safetensors.torch import save_file

from zoo_distill._version import __version__
from zoo_distill.synthetic import DOMAINS, generate, pool_indices, write_image_folder, write_unlabeled
from zoo_distill.synthetic.classifier import NORM_MEAN, NORM_STD, accuracy, train_classifier
from zoo_distill.training.student import create_student, init_weights_file
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.util.digest import json_digest
from zoo_distill.zoo.weights import file_digest
from zoo_distill.zoobench.spec import TARGETS, TargetSplits, ZoobenchSettings, target_spec

__all__ = [
    "PRETRAINED_CFG",
    "ZoobenchBuild",
    "build_generic",
    "build_target",
    "build_teacher",
    "build_zoobench",
    "generic_data",
    "target_depends",
    "weights_digest",
]

PRETRAINED_CFG = {
    "input_size": [3, 32, 32],
    "mean": list(NORM_MEAN),
    "std": list(NORM_STD),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
}

# Independent sample streams per purpose, so no two splits ever share a generated image.
GENERIC, TEACHER_TRAIN, TEACHER_HELD_OUT, TARGET_TEST, TARGET_UNLABELED, TARGET_POOLS = 11, 12, 13, 21, 22, 23


def _stream(settings: ZoobenchSettings, purpose: int, *extra: int) -> int:
    value = settings.seed * 1_000_000 + purpose * 10_000
    for i, e in enumerate(extra):
        value += e * (100 ** (len(extra) - 1 - i))
    return value


@dataclass
class ZoobenchBuild:
    """Where the built zoo lives and what was (re)built."""

    root: Path
    zoo: Path
    generic: dict[str, Path]
    targets: dict[str, TargetSplits]
    teacher_accuracy: dict[str, float] = field(default_factory=dict)
    generic_accuracy: dict[str, float] = field(default_factory=dict)
    built: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def weights_digest(build: ZoobenchBuild) -> str:
    """sha256 over every trained weight file of the build: each generic start and each teacher the
    zoo file lists. Training is not bit-reproducible across CPUs, so two builds of the same settings
    can differ; results kept on one build must not be reused on another (``run_signature``)."""
    files = [init_weights_file(Path(folder)) for _, folder in sorted(build.generic.items())]  # what students load
    sources = yaml.safe_load(Path(build.zoo).read_text())["sources"]
    files += [build.root / entry["weights"] for entry in sorted(sources, key=lambda e: e["name"])]
    return json_digest({Path(f).relative_to(build.root).as_posix(): file_digest(Path(f)) for f in files})


def _stamp(parts: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps({"version": __version__, **parts}))


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _fresh(stamp_file: Path, stamp: dict[str, Any]) -> dict[str, Any] | None:
    """The stored stamp (with its results) if it matches ``stamp``, else None."""
    stored = _read_stamp(stamp_file)
    return stored if stored is not None and stored.get("depends") == stamp else None


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def generic_data(s: ZoobenchSettings, per_class: int, purpose: int) -> tuple[np.ndarray, np.ndarray]:
    """Every source domain's classes in one label space (domain after domain)."""
    xs, ys, offset = [], [], 0
    for i, domain in enumerate(s.sources):
        x, y, names = generate(domain, per_class, _stream(s, purpose, i))
        xs.append(x)
        ys.append(y + offset)
        offset += len(names)
    return np.concatenate(xs), np.concatenate(ys)


def build_generic(root: Path, arch: str, s: ZoobenchSettings, progress: Progress | None, report: ZoobenchBuild) -> Path:
    """The "ImageNet-like" start for ``arch``: trained on a shallow mixture of all source domains."""
    folder = root / "generic" / arch
    depends = _stamp(
        {
            "arch": arch,
            "seed": s.seed,
            "sources": list(s.sources),
            "per_class": s.generic_per_class,
            "epochs": s.generic_epochs,
            "lr": s.lr,
            "batch_size": s.batch_size,
        }
    )
    stored = _fresh(folder / "stamp.json", depends)
    if stored is not None:
        report.reused.append(f"generic/{arch}")
        report.generic_accuracy[arch] = stored["held_out_accuracy"]
        return folder
    x, y = generic_data(s, s.generic_per_class, GENERIC)
    num_classes = int(y.max()) + 1
    torch.manual_seed(s.seed)
    model = timm.create_model(arch, num_classes=num_classes)
    train_classifier(
        model,
        x,
        y,
        epochs=s.generic_epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        seed=s.seed,
        progress=progress,
        description=f"generic start {arch}",
    )
    held_x, held_y = generic_data(s, 5, TEACHER_HELD_OUT + 100)
    acc = accuracy(model, held_x, held_y)
    folder.mkdir(parents=True, exist_ok=True)
    _save_weights(model, folder / "model.safetensors")
    atomic_write_json(
        folder / "config.json",
        {
            "architecture": arch,
            "num_classes": num_classes,
            "pretrained_cfg": PRETRAINED_CFG,
            "zoo_distill": {"role": "generic start", "sources": list(s.sources)},
        },
    )
    atomic_write_json(folder / "stamp.json", {"depends": depends, "held_out_accuracy": acc})
    report.built.append(f"generic/{arch}")
    report.generic_accuracy[arch] = acc
    return folder


def build_teacher(
    root: Path, domain: str, generic: Path, s: ZoobenchSettings, progress: Progress | None, report: ZoobenchBuild
) -> dict[str, Any]:
    """One source model: the teacher architecture fine-tuned from its generic start on ``domain``."""
    index = s.sources.index(domain)
    names = DOMAINS[domain].class_names
    weights = root / "teachers" / f"{domain}.safetensors"
    stamp_file = root / "teachers" / f"{domain}.json"
    depends = _stamp(
        {
            "domain": domain,
            "arch": s.teacher_arch,
            "generic": _read_stamp(generic / "stamp.json"),
            "per_class": s.source_per_class,
            "epochs": s.source_epochs,
            "lr": s.lr,
            "batch_size": s.batch_size,
            "seed": s.seed,
        }
    )
    stored = _fresh(stamp_file, depends) if weights.exists() else None
    if stored is not None:
        acc = stored["held_out_accuracy"]
        report.reused.append(f"teachers/{domain}")
    else:
        x, y, _ = generate(domain, s.source_per_class, _stream(s, TEACHER_TRAIN, index))
        torch.manual_seed(s.seed + index)
        model = create_student(s.teacher_arch, len(names), str(generic)).model
        train_classifier(
            model,
            x,
            y,
            epochs=s.source_epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            seed=s.seed + index,
            progress=progress,
            description=f"teacher {domain}",
        )
        held_x, held_y, _ = generate(domain, 20, _stream(s, TEACHER_HELD_OUT, index))
        acc = accuracy(model, held_x, held_y)
        weights.parent.mkdir(parents=True, exist_ok=True)
        _save_weights(model, weights)
        atomic_write_json(stamp_file, {"depends": depends, "held_out_accuracy": acc})
        report.built.append(f"teachers/{domain}")
    report.teacher_accuracy[f"{domain}-net"] = acc
    return {
        "name": f"{domain}-net",
        "provider": "local",
        "weights": f"teachers/{weights.name}",
        "arch": s.teacher_arch,
        "num_classes": len(names),
        "pretrained_cfg": PRETRAINED_CFG,
        "domain": domain,
        "description": f"{s.teacher_arch} fine-tuned from the generic start on the synthetic '{domain}' "
        f"domain ({len(names)} classes, held-out accuracy {acc:.2f})",
    }


def _write_target(folder: Path, name: str, s: ZoobenchSettings, index: int) -> None:
    spec = target_spec(name)
    parts = spec.class_parts
    pools = {
        domain: pool_indices(
            domain,
            _stream(s, TARGET_POOLS, index),
            {"test": s.test_per_class, "unlabeled": s.unlabeled_per_class, "train": None},
        )
        for domain, _ in parts
        if DOMAINS[domain].finite
    }

    def draw(n: int, purpose: int, *extra: int, pool: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Each part's classes as its own domain renders them, from the target's stream, labels in
        part order (a single-part target is one ``generate`` call, as before parts existed)."""
        seed = _stream(s, purpose, index, *extra)
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        names: list[str] = []
        for domain, classes in parts:
            subset = pools[domain][pool] if domain in pools else None
            x, y, part_names = generate(domain, n, seed, classes=list(classes), subset=subset)
            xs.append(x)
            ys.append(y + len(names))
            names += part_names
        if len(set(names)) < len(names):
            raise ValueError(f"target {name}: its parts share class names {sorted(names)}")
        return np.concatenate(xs), np.concatenate(ys), names

    x, y, names = draw(s.test_per_class, TARGET_TEST, pool="test")
    write_image_folder(folder, "test", x, y, names)
    x, _, _ = draw(s.unlabeled_per_class, TARGET_UNLABELED, pool="unlabeled")
    write_unlabeled(folder, x)
    for shot in s.shots:
        for split_seed in range(s.split_seeds):
            x, y, names = draw(shot, 30 + split_seed, shot, pool="train")
            if np.bincount(y, minlength=len(names)).min() < shot:
                raise ValueError(f"target {name}: too few images for {shot} labels per class")
            write_image_folder(folder, TargetSplits.key(shot, split_seed), x, y, names)


def target_depends(name: str, s: ZoobenchSettings) -> dict[str, Any]:
    """What a target's files depend on: its stamp. ``parts`` is added only for complementary
    targets, so the targets that predate it keep their stamps (and their kept benchmark runs)."""
    spec = target_spec(name)
    parts = {
        "target": name,
        "domain": spec.domain,
        "classes": list(spec.classes),
        "seed": s.seed,
        "shots": list(s.shots),
        "split_seeds": s.split_seeds,
        "unlabeled_per_class": s.unlabeled_per_class,
        "test_per_class": s.test_per_class,
    }
    if spec.parts:
        parts["parts"] = [[domain, list(classes)] for domain, classes in spec.parts]
    return _stamp(parts)


def build_target(root: Path, name: str, s: ZoobenchSettings, report: ZoobenchBuild) -> TargetSplits:
    """Test, unlabeled and one labeled draw per (shot, split seed), all disjoint."""
    folder = root / "targets" / name
    index = [t.name for t in TARGETS].index(name)
    depends = target_depends(name, s)
    if _fresh(folder / "stamp.json", depends) is not None:
        report.reused.append(f"targets/{name}")
    else:
        tmp = folder.with_name(f".{name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _write_target(tmp, name, s, index)
        atomic_write_json(tmp / "stamp.json", {"depends": depends})
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        report.built.append(f"targets/{name}")
    splits = TargetSplits(name, str(folder), str(folder / "unlabeled"), str(folder / "test"))
    for shot in s.shots:
        for split_seed in range(s.split_seeds):
            key = TargetSplits.key(shot, split_seed)
            splits.train[key] = str(folder / key)
    return splits


def build_zoobench(
    root: str | Path, settings: ZoobenchSettings | None = None, progress: Progress | None = None
) -> ZoobenchBuild:
    """Build what is missing or stale under ``root`` and write ``zoo.yaml`` and ``zoobench.json``."""
    s = settings or ZoobenchSettings.mini()
    for domain in s.sources:
        if domain not in DOMAINS or DOMAINS[domain].finite:
            raise ValueError(f"source domain {domain!r} must be one of the procedural synthetic domains")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    report = ZoobenchBuild(root, root / "zoo.yaml", {}, {})
    for name in s.targets:
        report.targets[name] = build_target(root, name, s, report)
    for arch in dict.fromkeys((s.student_arch, s.teacher_arch)):
        report.generic[arch] = build_generic(root, arch, s, progress, report)
    entries = [build_teacher(root, domain, report.generic[s.teacher_arch], s, progress, report) for domain in s.sources]
    report.zoo.write_text(
        "# Generated by `zoo-distill demo build`: one teacher per synthetic source domain,\n"
        "# each fine-tuned from the generic start (generic/"
        + s.teacher_arch
        + ").\n"
        + yaml.safe_dump({"version": 1, "sources": entries}, sort_keys=False)
    )
    atomic_write_json(
        root / "zoobench.json",
        {
            "version": __version__,
            "settings": s.as_dict(),
            "teacher_accuracy": report.teacher_accuracy,
            "generic_accuracy": report.generic_accuracy,
            "targets": {name: vars(t) for name, t in report.targets.items()},
        },
    )
    return report

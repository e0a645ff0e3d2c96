"""Shared fixtures: every test runs offline, with its own cache and Hugging Face home."""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import zlib

os.environ.setdefault("COLUMNS", "200")  # rich tables unwrapped in captured output
# huggingface_hub reads these once, at import: point them away from the user's cache before any import.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="zd-test-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from pathlib import Path

import numpy as np
import pytest
import timm
import yaml
from PIL import Image
from safetensors.torch import save_file

from zoo_distill.plugin import manager as plugins

TINY_CFG = {
    "input_size": [3, 32, 32],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "interpolation": "bilinear",
    "crop_pct": 1.0,
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's caches, and none reaches a network."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("ZOO_DISTILL_CACHE", str(home / "zd-cache"))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hf-hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ZOO_DISTILL_NO_PROGRESS", "1")
    monkeypatch.delenv("ZOO_DISTILL_ZOO", raising=False)
    monkeypatch.delenv("ZOO_DISTILL_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("ZOO_DISTILL_DISABLE_PLUGINS", raising=False)
    plugins._cached = None
    yield
    plugins._cached = None


def make_image(rng: np.random.Generator, label: int, size: int = 32) -> np.ndarray:
    """A class-dependent pattern: class k is a square at a class-specific place and colour."""
    img = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
    colour = np.array([(80 * label) % 256, (150 + 50 * label) % 256, (40 * label + 100) % 256], np.uint8)
    r, c = (label * 7) % (size - 10), (label * 11) % (size - 10)
    img[r : r + 10, c : c + 10] = colour
    return img


def write_split(root: Path, classes: int, per_class: int, seed: int, fmt: str = "png") -> Path:
    rng = np.random.default_rng(seed)
    for k in range(classes):
        folder = root / f"class_{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(make_image(rng, k)).save(folder / f"{i:03d}.{fmt}")
    return root


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size and has no pixel data: Pillow checks the size when it opens it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def target_dir(tmp_path) -> Path:
    """A tiny target: 3 classes x 6 labeled, 10 unlabeled, 3 classes x 4 test."""
    root = tmp_path / "target"
    write_split(root / "train", 3, 6, seed=1)
    write_split(root / "test", 3, 4, seed=2)
    rng = np.random.default_rng(3)
    (root / "unlabeled" / "deep").mkdir(parents=True)
    for i in range(10):
        Image.fromarray(make_image(rng, i % 3)).save(root / "unlabeled" / "deep" / f"u{i}.png")
    return root


def save_tiny_model(path: Path, num_classes: int = 4, arch: str = "test_convnext", seed: int = 0) -> Path:
    import torch

    torch.manual_seed(seed)
    model = timm.create_model(arch, num_classes=num_classes)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def write_zoo(path: Path, entries: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "sources": entries}, sort_keys=False))
    return path


def local_entry(name: str, weights: str, num_classes: int = 4, arch: str = "test_convnext", **extra) -> dict:
    return {
        "name": name,
        "provider": "local",
        "weights": weights,
        "arch": arch,
        "num_classes": num_classes,
        "pretrained_cfg": TINY_CFG,
        **extra,
    }


@pytest.fixture
def tiny_zoo(tmp_path) -> Path:
    """Two random-weight tiny teachers (one without a classifier head) in a zoo file."""
    save_tiny_model(tmp_path / "weights" / "a.safetensors", num_classes=4, seed=0)
    save_tiny_model(tmp_path / "weights" / "b.safetensors", num_classes=0, seed=1)
    return write_zoo(
        tmp_path / "zoo.yaml",
        [
            local_entry("teacher-a", "weights/a.safetensors", 4, domain="toy"),
            local_entry("teacher-b", "weights/b.safetensors", 0),
        ],
    )


@pytest.fixture(scope="session")
def digits_task(tmp_path_factory):
    """A digits target (4 classes, 5 labels each, 240 unlabeled) and a zoo of two trained
    teachers: one on digits rendered differently (related) and one on textures (unrelated)."""
    from zoo_distill.example import ExampleSettings, build_example

    settings = ExampleSettings(
        seed=0,
        target_domain="digits",
        source_domains=("digits", "textures"),
        source_per_class=100,
        source_epochs=10,
        source_classes=10,
        target_classes=4,
        train_per_class=5,
        unlabeled_per_class=60,
        test_per_class=15,
    )
    return build_example(tmp_path_factory.mktemp("digits-task"), settings)


@pytest.fixture(autouse=True)
def restored_logging():
    """The root and package loggers as they were, after every test: a test that runs the CLI in this
    process configures logging as the CLI does, and the next test must not inherit its handler."""
    root, package = logging.getLogger(), logging.getLogger("zoo_distill")
    saved = root.handlers[:], root.level, package.level
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    package.setLevel(saved[2])

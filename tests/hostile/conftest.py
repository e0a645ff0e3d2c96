"""The corpus's world (a target, a zoo, a finished run), built once, and its subprocess cases,
started in the background as soon as the world exists so they overlap the in-process ones."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..conftest import local_entry, save_tiny_model, write_split, write_zoo
from .harness import ALL_SUBPROCESS_ENV, World, run_case


def build_world(root: Path) -> World:
    """2 classes x 4 labeled (+ test, + unlabeled) images, two tiny teachers, one finished finetune run."""
    from zoo_distill.data.target import load_target
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.runs.run import run
    from zoo_distill.runs.spec import RunSpec
    from zoo_distill.training.config import TrainConfig

    target = root / "target"
    write_split(target / "train", 2, 4, seed=1)
    write_split(target / "test", 2, 2, seed=2)
    rng = np.random.default_rng(3)
    (target / "unlabeled").mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(target / "unlabeled" / f"u{i}.png")
    save_tiny_model(root / "weights" / "a.safetensors", num_classes=4, seed=0)
    save_tiny_model(root / "weights" / "b.safetensors", num_classes=0, seed=1)
    zoo = write_zoo(
        root / "zoo.yaml",
        [local_entry("teacher-a", "weights/a.safetensors", 4), local_entry("teacher-b", "weights/b.safetensors", 0)],
    )
    spec = RunSpec(
        method="finetune",
        student="test_resnet",
        student_init="scratch",
        input_size=32,
        train=TrainConfig(epochs=1, steps_per_epoch=1, batch_size=4, mu=1),
    )
    data = load_target(target, check=("train", "unlabeled", "test"))
    finished = run(spec, data, None, get_registry(), None, root / "finished").run_dir
    return World(root, target, zoo, finished)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    return build_world(tmp_path_factory.mktemp("hostile-world"))


@pytest.fixture(scope="session")
def launched(request, world, tmp_path_factory):
    """The selected subprocess cases, two at a time in the background: {case id: Future}."""
    from .cases import CASES

    every = os.environ.get(ALL_SUBPROCESS_ENV) == "1"
    selected = {
        item.callspec.id
        for item in request.session.items
        if item.name.startswith("test_cli[") and hasattr(item, "callspec")
    }
    pool = ThreadPoolExecutor(max_workers=2)
    futures: dict[str, Future] = {}
    for case in CASES:
        if (case.subprocess or every) and case.id in selected and not (case.skip and case.skip()):
            folder = tmp_path_factory.mktemp(f"proc-{case.id}")
            futures[case.id] = pool.submit(run_case, case, world, folder, True)
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)

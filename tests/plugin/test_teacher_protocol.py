"""A provider plugin whose teacher implements exactly the documented Teacher protocol, and nothing else,
drives ``rank`` and a distillation run: the core may use only what the protocol names."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from zoo_distill.data.target import load_target
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.manager import load_plugins
from zoo_distill.plugin.types import SourceProvider, Teacher, ZooEntry
from zoo_distill.ranking.rank import rank_sources
from zoo_distill.runs.run import RunSpec, run
from zoo_distill.training.loop import TrainConfig
from zoo_distill.zoo.file import load_zoo
from zoo_distill.zoo.teacher import TimmTeacher

from ..conftest import write_zoo

#: The protocol's members: its annotated attributes and its methods/properties.
PROTOCOL = set(Teacher.__annotations__) | {n for n in vars(Teacher) if not n.startswith("_")}
USED: set[str] = set()  # every public name the core looked up on a ProjectionTeacher


class ProjectionTeacher:
    """A fixed random projection of the image (plus an optional fixed head): no timm, no nn.Module."""

    def __init__(self, name: str, seed: int, classes: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.name = name
        self.data_config = {
            "input_size": (3, 16, 16),
            "interpolation": "bilinear",
            "mean": (0.5, 0.5, 0.5),
            "std": (0.5, 0.5, 0.5),
            "crop_pct": 1.0,
            "crop_mode": "center",
        }
        self.feature_dim = 8
        self.num_source_classes = classes
        self._proj = torch.randn(3 * 16 * 16, 8, generator=g) / math.sqrt(3 * 16 * 16)
        self._head = torch.randn(8, classes, generator=g) if classes else None
        self._digest = f"projection-{seed}-{classes}"

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_"):
            USED.add(name)
        return object.__getattribute__(self, name)

    @property
    def digest(self) -> str:
        return self._digest

    def to(self, device: Any) -> ProjectionTeacher:
        self._proj = self._proj.to(device)
        self._head = self._head.to(device) if self._head is not None else None
        return self

    def forward(self, images: Any) -> tuple[Any, Any | None]:
        features = images.flatten(1) @ self._proj
        return features, (features @ self._head if self._head is not None else None)


LOADED: list[ProjectionTeacher] = []


def load_projection(entry: ZooEntry) -> ProjectionTeacher:
    teacher = ProjectionTeacher(entry.name, int(entry.options["seed"]), int(entry.options.get("classes", 0)))
    LOADED.append(teacher)
    return teacher


class ProjectionPlugin:
    """The provider plugin: required fields only, no identify/is_available/files."""

    @hookimpl
    def register_sources(self, register):
        register(SourceProvider("projection", load_projection, required=("seed",), optional=("classes",)))


@pytest.fixture
def task(tmp_path, target_dir):
    registry = load_plugins(extra=[("projection", ProjectionPlugin())])
    assert registry.warnings == []
    zoo = load_zoo(
        write_zoo(
            tmp_path / "zoo.yaml",
            [
                {"name": "proj-head", "provider": "projection", "seed": 0, "classes": 5},
                {"name": "proj-nohead", "provider": "projection", "seed": 1},
            ],
        ),
        registry,
    )
    USED.clear()
    LOADED.clear()
    return registry, zoo, load_target(target_dir)


def test_the_minimal_teacher_is_a_teacher_and_not_a_timm_one():
    teacher = ProjectionTeacher("t", 0, 3)
    assert isinstance(teacher, Teacher) and not isinstance(teacher, TimmTeacher)
    assert {"name", "data_config", "feature_dim", "num_source_classes", "digest", "to", "forward"} == PROTOCOL


def test_rank_scores_protocol_teachers(task, tmp_path):
    registry, zoo, data = task
    result = rank_sources(data, list(zoo), ["logme", "leep", "knn"], registry, FeatureCache(tmp_path / "cache"))
    by_name = {s.name: s for s in result.sources}
    for name in ("proj-head", "proj-nohead"):
        assert by_name[name].status == "ok", by_name[name].error
        assert by_name[name].feature_dim == 8 and np.isfinite(by_name[name].scores["logme"])
    assert by_name["proj-head"].num_source_classes == 5 and np.isfinite(by_name["proj-head"].scores["leep"])
    assert by_name["proj-nohead"].num_source_classes == 0 and "leep" in by_name["proj-nohead"].metric_errors
    assert len(LOADED) == 2
    assert USED <= PROTOCOL, f"the core used {sorted(USED - PROTOCOL)}, which the Teacher protocol does not name"
    assert {"to", "forward", "digest", "data_config"} <= USED


def test_each_aggregator_is_weighted_by_the_metric_it_is_fed(task, tmp_path):
    registry, zoo, data = task
    result = rank_sources(
        data,
        list(zoo),
        ["leep", "knn"],
        registry,
        FeatureCache(tmp_path / "cache"),
        aggregator_metrics={"weighted": "knn", "uniform": "not-computed"},
    )
    assert result.weights_from == {"weighted": "knn"}  # a metric that was not computed falls back to leep
    assert set(result.weights["weighted"]) == {"proj-head", "proj-nohead"}  # knn needs features only
    assert set(result.weights["uniform"]) == set(result.weights["nearest"]) == {"proj-head"}  # leep: a head


def test_distillation_runs_with_protocol_teachers(task, tmp_path):
    registry, zoo, data = task
    spec = RunSpec(
        method="distill",
        aggregator="uniform",
        metric="logme",
        student="test_resnet",
        student_init="scratch",
        input_size=32,
        train=TrainConfig(epochs=1, batch_size=8, mu=1, seed=0),
        method_options={"views": 2},
    )
    outcome = run(spec, data, zoo, registry, FeatureCache(tmp_path / "cache"), tmp_path / "run")
    assert outcome.metrics["alpha"] == pytest.approx({"proj-head": 0.5, "proj-nohead": 0.5})
    assert {"loss_feat_proj-head", "loss_feat_proj-nohead"} <= set(outcome.metrics["history"][-1])
    assert (tmp_path / "run" / "student.safetensors").exists()
    assert USED <= PROTOCOL, f"the core used {sorted(USED - PROTOCOL)}, which the Teacher protocol does not name"
    assert "to" in USED and "forward" in USED

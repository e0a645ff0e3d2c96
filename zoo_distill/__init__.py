"""zoo-distill: rank a zoo of pretrained image models for a new task and distill them into a small student.

Implements Borup, Phoo & Hariharan, "Distilling from Similar Tasks for Transfer Learning on a
Budget" (ICCV 2023, arXiv:2304.12314). The public API (see docs/api.md)::

    import zoo_distill as zd
    ranking = zd.rank("my-task", "my-zoo.yaml")
    result = zd.run("my-task", "my-zoo.yaml", aggregator="weighted", student="resnet18", out="runs/dw")

Names load on first use, so ``import zoo_distill`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zoo_distill._version import __version__

if TYPE_CHECKING:
    from zoo_distill.api import evaluate, export, load_target, load_zoo, metric_order, predict, rank, run
    from zoo_distill.data.target import TargetData
    from zoo_distill.errors import ConfigError, DataError, ZooDistillError
    from zoo_distill.ranking.rank import RankResult, SourceScore
    from zoo_distill.runs.run import RunResult
    from zoo_distill.runs.spec import RunSpec
    from zoo_distill.training.config import TrainConfig
    from zoo_distill.training.methods.options import DistillOptions, FixMatchOptions
    from zoo_distill.zoo.file import Zoo

_EXPORTS = {
    "rank": "zoo_distill.api",
    "run": "zoo_distill.api",
    "load_zoo": "zoo_distill.api",
    "load_target": "zoo_distill.api",
    "evaluate": "zoo_distill.api",
    "predict": "zoo_distill.api",
    "metric_order": "zoo_distill.api",
    "export": "zoo_distill.api",
    "RankResult": "zoo_distill.ranking.rank",
    "SourceScore": "zoo_distill.ranking.rank",
    "RunResult": "zoo_distill.runs.run",
    "RunSpec": "zoo_distill.runs.spec",
    "TrainConfig": "zoo_distill.training.config",
    "DistillOptions": "zoo_distill.training.methods.options",
    "FixMatchOptions": "zoo_distill.training.methods.options",
    "TargetData": "zoo_distill.data.target",
    "Zoo": "zoo_distill.zoo.file",
    "ZooDistillError": "zoo_distill.errors",
    "ConfigError": "zoo_distill.errors",
    "DataError": "zoo_distill.errors",
}

__all__ = [
    "ConfigError",
    "DataError",
    "DistillOptions",
    "FixMatchOptions",
    "RankResult",
    "RunResult",
    "RunSpec",
    "SourceScore",
    "TargetData",
    "TrainConfig",
    "Zoo",
    "ZooDistillError",
    "__version__",
    "evaluate",
    "export",
    "load_target",
    "load_zoo",
    "metric_order",
    "predict",
    "rank",
    "run",
]


def __getattr__(name: str) -> Any:
    """PEP 562: import the module behind a public name the first time it is used."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo_distill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

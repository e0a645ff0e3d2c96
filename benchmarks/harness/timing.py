"""Timed runs for the speed benchmarks: every run goes through ``zoo_distill.run`` (the checks,
the bank and the loop a user gets), and the figures are read from what the run reports."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from zoo_distill import api
from zoo_distill.runs.run import RunResult

__all__ = ["epoch_seconds", "setup_seconds", "timed_run"]


def timed_run(target: Any, zoo: Any, out: Path, cache_dir: Path | None, **settings: Any) -> RunResult:
    """``zoo_distill.run`` into ``out`` (replaced), with ``settings`` as ``run`` names them."""
    return api.run(target, zoo, out=out, overwrite=True, cache_dir=cache_dir, **settings)


def epoch_seconds(result: RunResult) -> float:
    """Median seconds of an epoch after the first (the first one warms up); a run with a test split
    evaluates in some epochs, so time runs without one."""
    history = result.metrics["history"]
    if len(history) < 2:
        raise ValueError("a timed run needs at least 2 epochs: the first one is a warm-up")
    return statistics.median(float(row["seconds"]) for row in history[1:])


def setup_seconds(result: RunResult) -> float:
    """What the run spent outside training and evaluation: checks, ranking, the teachers' bank,
    saving the student. On an empty feature cache the bank dominates it."""
    m = result.metrics
    return float(m["wall_seconds"] - m["train_seconds"])  # train_seconds holds the evaluations

"""Kept runs: each benchmark run's result beside the signature it is valid for, so a benchmark
resumes after an interruption and retrains exactly what a changed setting or version changed."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from zoo_distill._version import __version__
from zoo_distill.data.target import TargetData
from zoo_distill.plugin.manager import PluginRegistry
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.zoobench.build import ZoobenchBuild, weights_digest
from zoo_distill.zoobench.comparison import Budget, comparison_spec, run_comparison
from zoo_distill.zoobench.workspace import Workspace, default_root

__all__ = ["full_root", "keep_result", "kept_result", "run_or_reuse", "run_signature", "zoo_relative"]


def full_root(zoo_seed: int = 0) -> Path:
    """The full zoobench of ``zoo_seed``: ``full`` for seed 0 (the zoo results are reported on), else
    ``full-seed<N>`` (the zoos defaults are chosen on)."""
    return default_root("full" if zoo_seed == 0 else f"full-seed{zoo_seed}")


def run_signature(
    method: Mapping[str, Any],
    build: ZoobenchBuild,
    student_arch: str,
    seed: int,
    budget: Budget,
    registry: PluginRegistry,
    zoo_weights: str | None = None,
) -> dict[str, Any]:
    """Everything a kept result depends on: the full run spec with the aggregator's effective options
    (plugin defaults included, so a changed default is a changed signature), the digest of the zoo's
    trained weights (a rebuild on another machine is another zoo) and the package version. Settings
    that do not change the trained weights (worker count, evaluation schedule) are left out, so a
    kept run stays valid whatever they were. ``zoo_weights``: the digest when the caller has it
    (hashing the build once, not once per run) or names the build another machine trained on."""
    spec = comparison_spec(method, build, student_arch, seed, budget)
    options = registry.method(spec.method).make_options(spec.method_options)  # every option, defaults included
    signature = json.loads(json.dumps(asdict(replace(spec, method_options=asdict(options))), default=str))
    signature["student_init"] = zoo_relative(build, spec.student_init)
    signature["train"] = json.loads(json.dumps(spec.train.identity(), default=str))
    if spec.method == "distill":
        signature["aggregator_options"] = {**registry.aggregator(spec.aggregator).options, **spec.aggregator_options}
    signature["zoo_weights"] = zoo_weights or weights_digest(build)
    signature["version"] = __version__
    return signature


def run_or_reuse(
    method: Mapping[str, Any],
    data: TargetData,
    workspace: Workspace,
    result_file: Path,
    scratch: Path,
    student_arch: str,
    seed: int,
    budget: Budget,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The kept result of this exact run (``kept_result``), else train it (run directory ``scratch``,
    overwritten) and keep ``accuracy``, ``alpha``, ``seconds`` and ``student`` in ``result_file``.
    Returns the result without its signature."""
    build = workspace.build
    signature = run_signature(method, build, student_arch, seed, budget, workspace.registry)
    kept = kept_result(result_file, signature)
    if kept is None:
        started = time.perf_counter()
        metrics = run_comparison(method, data, workspace, scratch, student_arch, seed, budget, progress)
        # Kept files may be shared: the student's start is named relative to the zoo root.
        kept = {
            "accuracy": metrics["test_accuracy"],
            "alpha": metrics["alpha"],
            "seconds": time.perf_counter() - started,
            "student": {**metrics["student"], "init": zoo_relative(build, metrics["student"]["init"])},
        }
        keep_result(result_file, kept, signature)
    return kept


def kept_result(result_file: Path, signature: dict[str, Any]) -> dict[str, Any] | None:
    """What ``result_file`` keeps (less its signature) if it was trained with ``signature``, else None."""
    try:
        kept = json.loads(Path(result_file).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("signature") != signature:
        return None
    return {k: v for k, v in kept.items() if k != "signature"}


def keep_result(result_file: Path, result: dict[str, Any], signature: dict[str, Any]) -> None:
    """Write ``result`` with the ``signature`` it is valid for, atomically (a benchmark may be killed)."""
    Path(result_file).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(result_file, {**result, "signature": signature})


def zoo_relative(build: ZoobenchBuild, path: str | Path) -> str:
    """``path`` relative to the zoo root (its file name if outside it): what kept files may name."""
    path = Path(path)
    return path.relative_to(build.root).as_posix() if path.is_relative_to(build.root) else path.name

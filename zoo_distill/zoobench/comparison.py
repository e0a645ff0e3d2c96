"""One comparison on a zoobench target: the same student, data and budget for every method.

A method of a comparison is a plain dict of overrides, never a name to parse: ``{"method":
"finetune"}`` or ``{"method": "fixmatch"}`` for a baseline, else a distillation ``{"aggregator":
"weighted", ...}`` with optional ``sources`` (only those, e.g. one for a single-source run) and
any of the distill method's options (``unlabeled_loss``, ``source_weights``, ``teacher_probe``,
``feature_space``, ``lam``, ...). What a dict leaves out is pure distillation (no consistency, one
weight per source, no teacher probe, the full features), whatever ``run``'s defaults are, so a
comparison's columns do not move when the defaults do. ``method_label`` renders one for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from zoo_distill import api
from zoo_distill.data.target import TargetData
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC, RANKING_AGGREGATORS
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.zoobench.build import ZoobenchBuild
from zoo_distill.zoobench.workspace import Workspace

__all__ = ["BASELINES", "PURE", "Budget", "comparison_spec", "method_label", "normalized", "run_comparison"]

BASELINES = ("finetune", "fixmatch")
#: What a distillation of a comparison is unless its dict says otherwise: the paper's pure distillation.
PURE: dict[str, Any] = {"unlabeled_loss": "none", "teacher_probe": "mixture", "feature_space": "full"}
_AGGREGATOR_LABELS = {"weighted": "DistillWeighted", "nearest": "DistillNearest", "uniform": "uniform"}


@dataclass(frozen=True)
class Budget:
    """Training settings shared by every method in a comparison (the student's cost is equal)."""

    epochs: int = 20
    batch_size: int = 32
    mu: int = 2
    lr: float = 0.03
    metric: str = DEFAULT_WEIGHTING_METRIC  # feeds weighted, uniform and fixed sources (whose runs it does not change)
    ranking_metric: str = DEFAULT_PRIMARY_METRIC  # picks DistillNearest's source
    aggregator_options: dict[str, Any] = field(default_factory=dict)
    distill: dict[str, Any] = field(default_factory=dict)  # the distill method's options (--method-opt) changed


def normalized(method: Mapping[str, Any]) -> dict[str, Any]:
    """``method`` without the overrides that restate what a comparison's run is anyway (pure
    distillation, one weight per source), keys sorted: equal runs are equal dicts."""
    out = {k: (list(v) if k == "sources" else v) for k, v in method.items()}
    for key, value in {**PURE, "source_weights": "task", "method": "distill"}.items():
        if out.get(key) == value:
            del out[key]
    if not out.get("sources", True):
        del out["sources"]
    return dict(sorted(out.items()))


def comparison_spec(
    method: Mapping[str, Any], build: ZoobenchBuild, student_arch: str, seed: int, budget: Budget
) -> RunSpec:
    """The RunSpec of one method of a comparison; the student always starts from the generic start."""
    method = dict(method)
    train = TrainConfig(epochs=budget.epochs, batch_size=budget.batch_size, mu=budget.mu, lr=budget.lr, seed=seed)
    spec = RunSpec(
        student=student_arch, student_init=str(build.generic[student_arch]), train=train, metric=budget.metric
    )
    base = method.pop("method", "distill")
    if base in BASELINES:
        if method:
            raise ValueError(f"the baseline {base!r} takes no options, got {sorted(method)}")
        return replace(spec, method=base, method_options={})
    if base != "distill":
        raise ValueError(f"unknown method {base!r}; known: distill, {', '.join(BASELINES)}")
    aggregator = method.pop("aggregator", None)
    if not isinstance(aggregator, str):
        raise ValueError("a distillation names its aggregator (weighted, nearest, uniform, ...)")
    sources = list(method.pop("sources", []))
    # Fixed sources rank nothing: one weight per source; the rest weighs as the budget says.
    weights = "task" if sources else budget.distill.get("source_weights", "task")
    options = asdict(DistillOptions(**{**budget.distill, **PURE, "source_weights": weights, **method}))
    ranks = aggregator in RANKING_AGGREGATORS and not sources
    return replace(
        spec,
        method="distill",
        aggregator=aggregator,
        aggregator_options=dict(budget.aggregator_options) if aggregator == "weighted" else {},
        metric=budget.ranking_metric if ranks else budget.metric,
        method_options=options,
        sources=sources,
    )


def method_label(method: Mapping[str, Any]) -> str:
    """How tables and the demo name a method: ``DistillWeighted + FixMatch, joint probe, class
    subspace`` for ``{"aggregator": "weighted", "unlabeled_loss": "fixmatch-teachers",
    "teacher_probe": "joint", "feature_space": "class"}``. The one place a method gets a name."""
    run = normalized(method)
    base = run.pop("method", "distill")
    if base != "distill":
        return {"finetune": "fine-tune", "fixmatch": "FixMatch"}.get(base, base)
    aggregator = run.pop("aggregator", "?")
    sources = run.pop("sources", [])
    text = _AGGREGATOR_LABELS.get(aggregator, aggregator)
    if sources:
        text += " on " + ", ".join(sources)
    if run.pop("source_weights", "task") == "class":
        text += " per class"
    loss, probe = run.pop("unlabeled_loss", "none"), run.pop("teacher_probe", "mixture")
    subspace = run.pop("feature_space", "full") == "class"
    if loss == "fixmatch-teachers":
        probes = "joint probe" if probe == "joint" else "teacher probes"
        long = "a joint teacher probe" if probe == "joint" else "teacher probes"
        text += f" + FixMatch, {probes}" if subspace else f" + FixMatch with {long}"
    elif loss != "none":
        text += " + FixMatch" if loss == "fixmatch" else f" + {loss}"
    if subspace:
        text += ", class subspace"
    return text + "".join(f", {k} {v}" for k, v in run.items())


def run_comparison(
    method: Mapping[str, Any],
    data: TargetData,
    workspace: Workspace,
    out: Path,
    student_arch: str,
    seed: int,
    budget: Budget,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train one method (replacing an earlier run in ``out``) and return its metrics.json content."""
    spec = comparison_spec(method, workspace.build, student_arch, seed, budget)
    return api.run(
        data, workspace.zoo, spec=spec, out=out, overwrite=True, cache_dir=workspace.cache.root, progress=progress
    ).metrics

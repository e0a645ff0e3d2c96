"""One comparison on a zoobench target: the same student, data and budget for every method.

Methods are named the way the tables show them: ``finetune``, ``fixmatch``, ``nearest``
(DistillNearest), ``weighted`` (DistillWeighted), ``uniform``, ``single:<source>`` and
``subset:<source>,<source>,...`` (equal weights on the sources named, nothing on the others; pure
distillation, or with a recipe after ``+`` as below: ``subset:a,b+fixmatch-teachers-joint-subspace``).
``+fixmatch`` adds FixMatch consistency to an aggregator's distillation (``+fixmatch-teachers``: with the
teacher probes in its pseudo-labels) and ``-class`` weighs its sources per class
(``weighted-class+fixmatch``: both).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from rich.progress import Progress

from zoo_distill import api
from zoo_distill._version import __version__
from zoo_distill.data.target import TargetData
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import PluginRegistry, get_registry
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC, RANKING_AGGREGATORS
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.util.paths import default_cache_dir
from zoo_distill.zoo.file import Zoo
from zoo_distill.zoobench.build import ZoobenchBuild, build_zoobench, weights_digest
from zoo_distill.zoobench.spec import ZoobenchSettings

__all__ = [
    "BASELINES",
    "Budget",
    "CLASS_SUBSPACE",
    "CONSISTENCY",
    "DISTILL_AGGREGATORS",
    "JOINT_PROBE",
    "LABELS",
    "PER_CLASS",
    "Workspace",
    "default_root",
    "full_root",
    "load_split",
    "keep_result",
    "kept_result",
    "method_spec",
    "open_workspace",
    "run_method",
    "run_or_reuse",
    "run_signature",
    "zoo_relative",
]

BASELINES = ("finetune", "fixmatch")
DISTILL_AGGREGATORS = ("nearest", "weighted", "uniform")
CONSISTENCY = "+fixmatch"  # e.g. "weighted+fixmatch": the aggregator's distillation plus FixMatch consistency
PER_CLASS = "-class"  # e.g. "weighted-class": the aggregator's weights per class (source_weights=class)
JOINT_PROBE = "-joint"  # "weighted+fixmatch-teachers-joint": one probe on all teachers (teacher_probe=joint)
CLASS_SUBSPACE = "-subspace"  # "weighted+fixmatch-teachers-joint-subspace" (feature_space=class)
CONSISTENCY_LOSSES = ("fixmatch", "fixmatch-teachers")
LABELS = {
    "finetune": "fine-tune",
    "fixmatch": "FixMatch",
    "nearest": "DistillNearest",
    "weighted": "DistillWeighted",
    "uniform": "uniform",
    "weighted+fixmatch": "DistillWeighted + FixMatch",
    "nearest+fixmatch": "DistillNearest + FixMatch",
    "uniform+fixmatch": "uniform + FixMatch",
    "best-single": "best single (oracle)",
    "weighted-class": "DistillWeighted per class",
    "nearest-class": "DistillNearest per class",
    "weighted-class+fixmatch": "DistillWeighted per class + FixMatch",
    "weighted+fixmatch-teachers": "DistillWeighted + FixMatch with teacher probes",
    "weighted+fixmatch-teachers-joint": "DistillWeighted + FixMatch with a joint teacher probe",
    "weighted+fixmatch-teachers-joint-subspace": "DistillWeighted + FixMatch, joint probe, class subspace",
    "nearest+fixmatch-teachers-joint": "DistillNearest + FixMatch with a joint teacher probe",
    "nearest+fixmatch-teachers-joint-subspace": "DistillNearest + FixMatch, joint probe, class subspace",
    "weighted-class+fixmatch-teachers-joint-subspace": "DistillWeighted per class + FixMatch, joint probe, "
    "class subspace",
}


@dataclass(frozen=True)
class Budget:
    """Training settings shared by every method in a comparison (the student's cost is equal)."""

    epochs: int = 20
    batch_size: int = 32
    mu: int = 2
    lr: float = 0.03
    metric: str = DEFAULT_WEIGHTING_METRIC  # feeds weighted, uniform and single (whose runs it does not change)
    ranking_metric: str = DEFAULT_PRIMARY_METRIC  # picks DistillNearest's source
    aggregator_options: dict[str, Any] = field(default_factory=dict)
    distill: dict[str, Any] = field(default_factory=dict)  # the distill method's options (--method-opt) changed


class Workspace(NamedTuple):
    """A built zoobench with what every comparison on it reads: its zoo, the plugins, its cache."""

    build: ZoobenchBuild
    zoo: Zoo
    registry: PluginRegistry
    cache: FeatureCache


def default_root(preset: str = "mini") -> Path:
    """Where a zoobench preset is kept: beside the feature cache, so one ``cache clear`` finds it."""
    return default_cache_dir() / "zoobench" / preset


def full_root(zoo_seed: int = 0) -> Path:
    """The full zoobench of ``zoo_seed``: ``full`` for seed 0 (the zoo results are reported on), else
    ``full-seed<N>`` (the zoos defaults are chosen on)."""
    return default_root("full" if zoo_seed == 0 else f"full-seed{zoo_seed}")


def open_workspace(root: Path, settings: ZoobenchSettings, progress: Progress | None = None) -> Workspace:
    """Build what is missing of the zoobench at ``root``; load its zoo file (without entries that
    plugins contribute: a benchmark must not change with what else is installed) and its cache."""
    build = build_zoobench(root, settings, progress)
    registry = get_registry()
    return Workspace(
        build,
        api.load_zoo(build.zoo, include_plugins=False, registry=registry),
        registry,
        FeatureCache(Path(root) / "cache"),
    )


def load_split(build: ZoobenchBuild, target: str, key: str) -> TargetData:
    splits = build.targets[target]
    return api.load_target(labeled=splits.train[key], unlabeled=splits.unlabeled, test=splits.test)


def method_spec(method: str, build: ZoobenchBuild, student_arch: str, seed: int, budget: Budget) -> RunSpec:
    """The RunSpec of one method; the student always starts from the generic start."""
    train = TrainConfig(epochs=budget.epochs, batch_size=budget.batch_size, mu=budget.mu, lr=budget.lr, seed=seed)
    # single and subset runs rank sources: no consistency, one weight per source
    pure = {
        **budget.distill,
        "unlabeled_loss": "none",
        "source_weights": "task",
        "teacher_probe": "mixture",
        "feature_space": "full",
    }
    spec = RunSpec(
        student=student_arch,
        student_init=str(build.generic[student_arch]),
        train=train,
        metric=budget.metric,
        method_options=_options(pure),
    )
    if method in BASELINES:
        return replace(spec, method=method, method_options={})
    if method.startswith("single:"):
        return replace(spec, method="distill", aggregator="nearest", sources=[method.split(":", 1)[1]])
    name, sources = method, []  # name: for the error, as the caller wrote it
    if method.startswith("subset:"):
        names, plus, rest = method.removeprefix("subset:").partition("+")
        if not plus:
            return replace(spec, method="distill", aggregator="uniform", sources=names.split(","))
        if not rest:
            raise ValueError(f"unknown method {method!r}: name what follows '+'")
        sources, method = names.split(","), "uniform+" + rest  # equal weights, with that recipe
    method, subspace = method.removesuffix(CLASS_SUBSPACE), method.endswith(CLASS_SUBSPACE)
    aggregator, _, unlabeled_loss = method.partition("+")
    aggregator, per_class = aggregator.removesuffix(PER_CLASS), aggregator.endswith(PER_CLASS)
    unlabeled_loss, joint = unlabeled_loss.removesuffix(JOINT_PROBE), unlabeled_loss.endswith(JOINT_PROBE)
    if (
        aggregator in DISTILL_AGGREGATORS
        and unlabeled_loss in ("", *CONSISTENCY_LOSSES)
        and (not joint or unlabeled_loss == "fixmatch-teachers")
    ):
        options = budget.aggregator_options if aggregator == "weighted" else {}
        # Explicit either way: the paper's columns stay pure distillation whatever run's default is.
        distill = {
            **budget.distill,
            "unlabeled_loss": unlabeled_loss or "none",
            "source_weights": "class" if per_class else budget.distill.get("source_weights", "task"),
            "teacher_probe": "joint" if joint else "mixture",
            "feature_space": "class" if subspace else "full",
        }
        metric = budget.ranking_metric if aggregator in RANKING_AGGREGATORS else budget.metric
        return replace(
            spec,
            method="distill",
            aggregator=aggregator,
            aggregator_options=dict(options),
            metric=metric,
            method_options=_options(distill),
            sources=sources if sources else spec.sources,
        )
    raise ValueError(f"unknown method {name!r}")


def _options(values: dict[str, Any]) -> dict[str, Any]:
    """The distill method's options from ``values`` (the rest at their defaults), validated."""
    return asdict(DistillOptions(**values))


def run_method(
    method: str,
    data: TargetData,
    build: ZoobenchBuild,
    zoo: Zoo,
    registry: PluginRegistry,
    cache: FeatureCache,
    out: Path,
    student_arch: str,
    seed: int,
    budget: Budget,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train one method (replacing an earlier run in ``out``) and return its metrics.json content."""
    spec = method_spec(method, build, student_arch, seed, budget)
    return api.run(data, zoo, spec=spec, out=out, overwrite=True, cache_dir=cache.root, progress=progress).metrics


def run_signature(
    method: str,
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
    spec = method_spec(method, build, student_arch, seed, budget)
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
    method: str,
    data: TargetData,
    build: ZoobenchBuild,
    zoo: Zoo,
    registry: PluginRegistry,
    cache: FeatureCache,
    result_file: Path,
    scratch: Path,
    student_arch: str,
    seed: int,
    budget: Budget,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The kept result of this exact run (``kept_result``), else train it (run directory ``scratch``,
    overwritten) and keep ``accuracy``, ``alpha``, ``seconds`` and ``student`` in ``result_file``;
    benchmarks resume from these files. Returns the result without its signature."""
    signature = run_signature(method, build, student_arch, seed, budget, registry)
    kept = kept_result(result_file, signature)
    if kept is None:
        started = time.perf_counter()
        metrics = run_method(method, data, build, zoo, registry, cache, scratch, student_arch, seed, budget, progress)
        # Kept files are committed: the student's start is named relative to the zoo root.
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

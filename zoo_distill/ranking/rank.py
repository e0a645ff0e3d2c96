"""``rank``: score every source of the zoo on the labeled probe set with every requested metric.

This is the paper's first step: teacher features and pseudo-labels (source logits) on the
few labeled target images feed transferability metrics; aggregators then turn the
primary metric's scores into the weights DistillNearest / DistillWeighted would use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from rich.progress import Progress

from zoo_distill.data.target import TargetData, fingerprint
from zoo_distill.errors import CacheError, ProviderUnavailable, ZooDistillError
from zoo_distill.features.cache import FeatureCache
from zoo_distill.features.extract import FeatureSet, check_device, extract, lookup
from zoo_distill.plugin.manager import PluginRegistry
from zoo_distill.plugin.types import LOGITS, Metric, ZooEntry
from zoo_distill.ranking.per_class import class_scores
from zoo_distill.util.checks import MAX_BATCH_SIZE, check_int
from zoo_distill.util.digest import json_digest

__all__ = ["RankResult", "SourceScore", "plugin_failure", "rank_sources", "score_source"]

logger = logging.getLogger(__name__)


@dataclass
class SourceScore:
    """One source's outcome: its scores per metric, or why it could not be scored."""

    name: str
    provider: str
    domain: str | None
    status: str = "ok"  # ok | unavailable | failed
    error: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    metric_errors: dict[str, str] = field(default_factory=dict)
    feature_dim: int | None = None
    num_source_classes: int | None = None
    cached: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    # rank_sources(per_class=True): {"average precision": [per class], "leep": [per class] with a head}
    class_scores: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class RankResult:
    """The ranked table: sources sorted by the primary metric, plus aggregator weights and timings."""

    primary_metric: str
    metrics: list[str]
    sources: list[SourceScore]
    weights: dict[str, dict[str, float]]
    weight_errors: dict[str, str]
    labeled_images: int
    classes: list[str]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)  # about the inputs: the scores may say little
    #: the metric whose scores gave each aggregator's weights, where it is not the primary one
    weights_from: dict[str, str] = field(default_factory=dict)

    @property
    def ranked(self) -> list[SourceScore]:
        return [s for s in self.sources if s.status == "ok"]

    def primary_scores(self) -> dict[str, float]:
        """Finite primary-metric scores in rank order: what aggregators consume."""
        return self.scores_of(self.primary_metric)

    def scores_of(self, metric: str) -> dict[str, float]:
        """Finite scores of ``metric`` in rank order."""
        out = {}
        for s in self.ranked:
            value = s.scores.get(metric)
            if value is not None and np.isfinite(value):
                out[s.name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plugin_failure(exc: BaseException, plugin: str | None = None) -> str:
    """How a plugin's exception or refused result is reported: its type and message, and the plugin
    (``None`` for a built-in)."""
    return (f"plugin {plugin!r}: " if plugin else "") + f"{type(exc).__name__}: {exc}"


def _plugins_of(registry: PluginRegistry, hook: str, names: Sequence[str]) -> dict[str, str]:
    """{name: plugin} for the names registered by a plugin that is not built in."""
    owners = {name: registry.owner_of(hook, name) for name in names}
    return {name: owner.name for name, owner in owners.items() if owner is not None and not owner.builtin}


def score_source(
    metrics: Sequence[Metric],
    features: np.ndarray,
    labels: np.ndarray,
    logits: np.ndarray | None,
    result: SourceScore,
    known: dict[str, float] | None = None,
    plugins: Mapping[str, str] | None = None,
) -> None:
    """Run each metric (unless ``known`` has its score), recording a finite score or why it could not
    run (``Metric.score`` refuses a result that is not a finite number); ``plugins`` names the
    plugin of each metric that is not built in, for its messages."""
    feats = features.astype(np.float64, copy=False)
    for metric in metrics:
        if known and metric.name in known:
            result.scores[metric.name] = known[metric.name]
            continue
        start = time.perf_counter()
        if LOGITS in metric.needs and logits is None:
            result.scores[metric.name] = None
            result.metric_errors[metric.name] = "needs source logits; this source has no classifier head"
            continue
        try:
            result.scores[metric.name] = metric.score(
                feats, labels, logits.astype(np.float64) if logits is not None else None
            )
        except Exception as exc:  # noqa: BLE001 - a metric failure is reported per source, not fatal
            result.scores[metric.name] = None
            result.metric_errors[metric.name] = plugin_failure(exc, (plugins or {}).get(metric.name))
        result.seconds[f"metric:{metric.name}"] = time.perf_counter() - start


def _sort_key(primary: str):
    def key(s: SourceScore) -> tuple:
        value = s.scores.get(primary)
        if s.status == "ok" and value is not None:
            return (0, -value)
        return (1, -0.0)

    return key


def _source_features(
    entry: ZooEntry,
    registry: PluginRegistry,
    data: TargetData,
    cache: FeatureCache | None,
    batch_size: int,
    device: str,
    progress: Progress | None,
    workers: int | None = None,
) -> tuple[FeatureSet, float]:
    """Features of the labeled split: from the cache without building the teacher when possible.

    Returns the features and the time at which loading ended (extraction starts).
    """
    provider = registry.provider(entry.provider)
    reason = provider.is_available(entry) if provider.is_available else None
    if reason:
        raise ProviderUnavailable(reason)
    if cache is not None and provider.identify is not None:
        identity = provider.identify(entry)
        hit = lookup(entry.name, identity.digest, identity.data_config, data.train.paths, cache)
        if hit is not None:
            return hit, time.perf_counter()
    teacher = provider.load(entry)
    loaded = time.perf_counter()
    return extract(
        teacher, data.train.paths, cache, batch_size=batch_size, device=device, progress=progress, workers=workers
    ), loaded


def _label_warnings(data: TargetData) -> list[str]:
    """What makes every score uninformative, said once (and logged, so the CLI shows it on stderr)."""
    single = [name for name, count in data.train.counts().items() if count < 2]
    if not single:
        return []
    shown = ", ".join(single[:5]) + (f" and {len(single) - 5} more" if len(single) > 5 else "")
    text = (
        f"{len(single)} of {len(data.class_names)} classes have a single labeled image ({shown}): "
        f"leave-one-out metrics such as knn score them 0 for every source, so the ranking says little; "
        f"label at least 2 images per class"
    )
    logger.warning(text)
    return [text]


def rank_sources(
    data: TargetData,
    entries: Sequence[ZooEntry],
    metric_names: Sequence[str],
    registry: PluginRegistry,
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    workers: int | None = None,
    aggregator_metrics: Mapping[str, str] | None = None,
    per_class: bool = False,
) -> RankResult:
    """Score every source on the labeled split; unavailable sources are reported, not fatal.

    Options are checked before any source is loaded. A cache that cannot be written stops the
    ranking (CacheError) rather than leaving the source out of it. Each aggregator's weights come
    from the scores of ``aggregator_metrics[name]`` where that metric was computed, else from the
    first (primary) metric's. ``per_class`` also scores every source on each class on its own
    (``SourceScore.class_scores``, ``ranking.per_class``), for ``run --source-weights class``.
    """
    if not entries:
        raise ZooDistillError("the zoo has no sources to rank")
    check_int("--batch-size", batch_size, 1, MAX_BATCH_SIZE)
    check_device(device)
    metrics = [registry.metric(name) for name in metric_names]
    warnings = [*data.notes, *_label_warnings(data)]  # what discovery left out, then the labels' own
    labels = np.asarray(data.train.labels, dtype=np.int64)
    labels_fp = fingerprint(data.train.paths, data.train.labels)
    totals = {"load": 0.0, "extract": 0.0, "metrics": 0.0}
    start = time.perf_counter()
    results = []
    for entry in entries:
        result = SourceScore(entry.name, entry.provider, entry.domain)
        results.append(result)
        t0 = time.perf_counter()
        try:
            fs, t1 = _source_features(entry, registry, data, cache, batch_size, device, progress, workers)
        except CacheError:
            raise  # not this source's fault: a smaller ranking would hide it
        except ZooDistillError as exc:
            result.status, result.error = "unavailable", str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one broken source must not stop the ranking
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
            continue
        t2 = time.perf_counter()
        result.feature_dim = fs.features.shape[1]
        result.num_source_classes = fs.logits.shape[1] if fs.logits is not None else 0
        result.cached = fs.cached
        versions = {m.name: registry.version_of("register_metrics", m.name) for m in metrics}
        score_key = json_digest([fs.key, labels_fp])
        known = {}
        if cache is not None and fs.key:
            saved = cache.load_scores(score_key)
            known = {m: saved[f"{m}@{v}"] for m, v in versions.items() if f"{m}@{v}" in saved}
        score_source(
            metrics,
            fs.features,
            labels,
            fs.logits,
            result,
            known,
            _plugins_of(registry, "register_metrics", metric_names),
        )
        if per_class:
            try:
                result.class_scores = class_scores(fs.features, fs.logits, labels, len(data.class_names))
            except Exception as exc:  # noqa: BLE001 - its classes fall back to the whole-task weights
                result.metric_errors["per-class"] = f"{type(exc).__name__}: {exc}"
        if cache is not None and fs.key:
            fresh = {f"{m}@{versions[m]}": v for m, v in result.scores.items() if v is not None and m not in known}
            if fresh:
                cache.save_scores(score_key, fresh)
        t3 = time.perf_counter()
        result.seconds.update({"load": t1 - t0, "extract": t2 - t1, "metrics": t3 - t2})
        for name, value in zip(("load", "extract", "metrics"), (t1 - t0, t2 - t1, t3 - t2)):
            totals[name] += value
    if not any(r.status == "ok" for r in results):
        reasons = "; ".join(f"{r.name}: {r.error}" for r in results)
        raise ZooDistillError(f"no source could be loaded: {reasons}")
    primary = metrics[0].name
    results.sort(key=_sort_key(primary))
    out = RankResult(
        primary, [m.name for m in metrics], results, {}, {}, len(labels), list(data.class_names), {}, warnings
    )
    plugins = _plugins_of(registry, "register_aggregators", list(registry.aggregators))
    for name, aggregator in registry.aggregators.items():
        metric = (aggregator_metrics or {}).get(name, primary)
        if metric not in out.metrics:
            metric = primary
        if metric != primary:
            out.weights_from[name] = metric
        try:
            out.weights[name] = aggregator.weights(out.scores_of(metric))  # checked: Aggregator.weights
        except Exception as exc:  # noqa: BLE001 - any plugin's failure: shown as failed, the others stand
            out.weight_errors[name] = plugin_failure(exc, plugins.get(name))
    totals["total"] = time.perf_counter() - start
    out.timings = totals
    return out

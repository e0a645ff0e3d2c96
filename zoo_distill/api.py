"""The Python API: everything the CLI does, as functions that return documented dataclasses.

The CLI, the demo and the benchmarks call these and nothing else, so a notebook gets exactly
the checks, defaults and files that ``zoo-distill rank`` / ``zoo-distill run`` give::

    import zoo_distill as zd

    zoo = zd.load_zoo("my-zoo.yaml")
    task = zd.load_target("my-task")                 # train/ (+ unlabeled/, test/) inside
    ranking = zd.rank(task, zoo)                     # RankResult: ranking.ranked[0].name is the best source
    result = zd.run(task, zoo, aggregator="weighted", student="resnet18", epochs=30, out="runs/dw")
    result.metrics["test_accuracy"], result.run_dir  # RunResult

Settings are validated before any work starts and before anything is written; a bad one raises a
``ZooDistillError`` (``ConfigError``, ``DataError``, ...) whose message names the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from zoo_distill.util.checks import MAX_BATCH_SIZE, check_int
from zoo_distill.util.workers import MAX_WORKERS

if TYPE_CHECKING:  # the heavy modules load when a function runs, not when the package is imported
    from rich.progress import Progress

    from zoo_distill.data.target import TargetData
    from zoo_distill.plugin.manager import PluginRegistry
    from zoo_distill.ranking.rank import RankResult
    from zoo_distill.runs.run import RunResult
    from zoo_distill.runs.spec import RunSpec
    from zoo_distill.zoo.file import Zoo

__all__ = [
    "check_rank_settings",
    "check_run_settings",
    "evaluate",
    "export",
    "installed_providers",
    "load_target",
    "load_zoo",
    "metric_order",
    "predict",
    "rank",
    "run",
]

PathLike = str | Path
TRAINING_SPLITS = ("train", "unlabeled", "test")


def load_zoo(
    path: PathLike | None = None, *, include_plugins: bool = True, registry: PluginRegistry | None = None
) -> Zoo:
    """Read and validate a zoo file (default: ``$ZOO_DISTILL_ZOO`` or the packaged registry.yaml),
    plus the entries installed plugins contribute unless ``include_plugins`` is false."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.zoo.file import load_zoo as _load_zoo

    return _load_zoo(path, registry or get_registry(), include_plugins=include_plugins)


def load_target(
    target: PathLike | None = None,
    *,
    labeled: PathLike | None = None,
    unlabeled: PathLike | None = None,
    test: PathLike | None = None,
    skip_bad_images: bool = False,
    check_images: Sequence[str] = ("train",),
    on_progress: Callable[[], None] | None = None,
) -> TargetData:
    """Scan a target folder (``train/`` with class folders, optional ``unlabeled/`` and ``test/``) or
    explicit splits, and decode the images of ``check_images`` once so a bad file fails now."""
    from zoo_distill.data.target import load_target as _load_target

    def as_path(p: PathLike | None) -> Path | None:
        return Path(p) if p is not None else None

    return _load_target(
        as_path(target),
        as_path(labeled),
        as_path(unlabeled),
        as_path(test),
        skip_bad_images=skip_bad_images,
        check=tuple(check_images),
        on_progress=on_progress,
    )


def installed_providers(registry: PluginRegistry | None = None) -> list[str]:
    """The source providers installed now (built-ins and plugins): what a zoo entry's ``provider`` may name."""
    from zoo_distill.plugin.manager import get_registry

    return sorted((registry or get_registry()).providers)


def metric_order(registry: PluginRegistry | None = None) -> list[str]:
    """Every installed metric, the default one first: what ``rank`` computes when none is named."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC

    names = list((registry or get_registry()).metrics)
    return [DEFAULT_PRIMARY_METRIC] + [m for m in names if m != DEFAULT_PRIMARY_METRIC]


def _target(target: TargetData | PathLike, skip_bad_images: bool, check_images: Sequence[str]) -> TargetData:
    from zoo_distill.data.target import TargetData

    if isinstance(target, TargetData):
        return target
    return load_target(target, skip_bad_images=skip_bad_images, check_images=check_images)


def _zoo(zoo: Zoo | PathLike | None, registry: PluginRegistry) -> Zoo:
    from zoo_distill.zoo.file import Zoo

    return zoo if isinstance(zoo, Zoo) else load_zoo(zoo, registry=registry)


def _with_classes(zoo: Zoo, data: TargetData, registry: PluginRegistry) -> Zoo:
    """The zoo as the target's sources see it: providers that read class names get the target's."""
    from zoo_distill.zoo.target_classes import reads_class_names, with_target_classes

    if not reads_class_names(zoo, registry):
        return zoo
    from zoo_distill.data.classes import class_prompts

    return with_target_classes(zoo, class_prompts(data), registry)


def _cache(cache_dir: PathLike | None, use_cache: bool):
    from zoo_distill.features.cache import FeatureCache

    return FeatureCache(Path(cache_dir) if cache_dir is not None else None) if use_cache else None


def check_rank_settings(
    *,
    metrics: Sequence[str] | None = None,
    device: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    registry: PluginRegistry | None = None,
) -> list[str]:
    """Check ``rank``'s settings before any image is read; return the metric names it will compute."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.util.device import check_device

    check_int("--batch-size", batch_size, 1, MAX_BATCH_SIZE)
    if workers is not None:
        check_int("--workers", workers, 0, MAX_WORKERS)
    check_device(device)
    registry = registry or get_registry()
    names = list(metrics) if metrics else metric_order(registry)
    for name in names:
        registry.metric(name)  # an unknown name fails before any work
    return names


def check_run_settings(method: str = "distill", **settings: Any) -> RunSpec:
    """Check ``run``'s settings (every option, the aggregator and its options, the metric) before any
    image is read or any folder is written; return the RunSpec they make."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.runs.run import check_run_spec
    from zoo_distill.runs.spec import spec_from_settings
    from zoo_distill.training.init_config import check_student_init

    registry = get_registry()
    spec = check_run_spec(spec_from_settings(method, registry, **settings), registry)
    check_student_init(spec.student_init)  # its config.json's fields, before any image is read
    return spec


def rank(
    target: TargetData | PathLike,
    zoo: Zoo | PathLike | None = None,
    *,
    metrics: Sequence[str] | None = None,
    sources: Sequence[str] = (),
    device: str = "auto",
    batch_size: int = 64,
    cache_dir: PathLike | None = None,
    use_cache: bool = True,
    skip_bad_images: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> RankResult:
    """Rank the zoo's sources for ``target`` by every metric in ``metrics`` (default: all installed,
    the default metric first); the first metric sorts the result. The aggregators' weights are those
    ``run`` would use with the same ``metrics``: from the first one when metrics are named, else each
    aggregator's default (``nearest``: the ranking metric, the others: the weighting metric).

    Sources that cannot be loaded are reported in the result (``status``, ``error``), not raised.
    Teacher features are cached (``cache_dir``, default ``$ZOO_DISTILL_CACHE``) unless ``use_cache`` is false;
    ``workers`` DataLoader processes decode images for extraction (default: from the CPUs available).
    Under ``torchrun`` extraction is sharded across the processes."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.ranking.defaults import default_metric
    from zoo_distill.ranking.rank import rank_sources
    from zoo_distill.util import distributed

    registry = get_registry()
    names = check_rank_settings(
        metrics=metrics, device=device, batch_size=batch_size, workers=workers, registry=registry
    )
    zoo_obj = _zoo(zoo, registry)
    zoo_obj.select(list(sources))  # an unknown source fails before the images are read
    data = _target(target, skip_bad_images, ("train",))
    entries = _with_classes(zoo_obj, data, registry).select(list(sources))
    distributed.init_from_env(device)
    fed = None if metrics else {name: default_metric(name) for name in registry.aggregators}
    return rank_sources(
        data,
        entries,
        names,
        registry,
        _cache(cache_dir, use_cache),
        batch_size,
        device,
        progress,
        workers,
        aggregator_metrics=fed,
    )


def run(
    target: TargetData | PathLike,
    zoo: Zoo | PathLike | None = None,
    *,
    method: str = "distill",
    out: PathLike = "runs/latest",
    resume: bool = False,
    overwrite: bool = False,
    cache_dir: PathLike | None = None,
    use_cache: bool = True,
    skip_bad_images: bool = False,
    progress: Progress | None = None,
    spec: RunSpec | None = None,
    **settings: Any,
) -> RunResult:
    """Train a student and write its run directory ``out``; return what ``metrics.json`` holds.

    ``method`` is ``distill`` (the zoo, ranked by ``metric`` and weighted by ``aggregator``:
    ``weighted`` = DistillWeighted, ``nearest`` = DistillNearest, ``uniform`` or a plugin's),
    ``finetune`` or ``fixmatch`` (the paper's baselines: no zoo, the same student and budget).
    ``settings`` are the run's options by their Python names (``student``, ``student_init``,
    ``epochs``, ``batch_size``, ``lr``, ``lam``, ``temperature``, ...; see ``RunSpec``); unset ones keep
    their defaults; or pass a complete ``spec`` instead. A finished run in ``out`` is never replaced
    unless ``overwrite`` is true; ``resume`` continues it from its last epoch checkpoint."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.runs.run import check_run_spec
    from zoo_distill.runs.run import run as _run

    registry = get_registry()
    spec = check_run_settings(method, **settings) if spec is None else check_run_spec(spec, registry)
    zoo_obj = None
    teachers = registry.method(spec.method).uses_teachers
    if teachers:
        zoo_obj = _zoo(zoo, registry)
        zoo_obj.select(spec.sources)  # an unknown source fails before the images are read
    data = _target(target, skip_bad_images, TRAINING_SPLITS)
    if zoo_obj is not None:
        zoo_obj = _with_classes(zoo_obj, data, registry)
    cache = _cache(cache_dir, use_cache) if teachers else None
    return _run(spec, data, zoo_obj, registry, cache, Path(out), resume=resume, overwrite=overwrite, progress=progress)


def evaluate(run_dir: PathLike, data: PathLike) -> dict[str, Any]:
    """Accuracy and per-class accuracy of a trained student (a run directory, or the ``student.onnx``
    that ``export`` wrote) on a target's ``test/`` (or on a folder of class folders)."""
    from zoo_distill.runs.evaluate import evaluate_run

    return evaluate_run(Path(run_dir), Path(data))


def predict(run_dir: PathLike, images: Sequence[PathLike], top: int = 1) -> list[dict[str, Any]]:
    """The ``top`` classes and their probabilities for each image, with a trained student (a run
    directory or an exported ``student.onnx``)."""
    from zoo_distill.runs.evaluate import predict_images

    check_int("--top", top, 1, 1_000_000)
    return predict_images(Path(run_dir), [Path(p) for p in images], top)


def export(
    run_dir: PathLike,
    format: str = "onnx",
    *,
    out: PathLike | None = None,
    data: PathLike | None = None,
    int8: bool = False,
    latency_runs: int = 50,
    threads: int = 1,
) -> dict[str, Any]:
    """Export a run's student for deployment (``RUN/onnx/`` by default): ``student.onnx`` with a dynamic batch
    axis and ``preprocessing.json`` beside it, checked with onnxruntime against torch on the run's test
    images (or ``data``'s); ``int8`` adds a quantised copy with its accuracy and CPU latency. Returns the
    report that ``export.json`` holds. Needs the export extra (``pip install 'zoo-distill[export]'``)."""
    from zoo_distill.runs.onnx import FORMATS, export_onnx
    from zoo_distill.util.checks import check_choice

    check_choice("--format", format, FORMATS)
    check_int("--latency-runs", latency_runs, 1, 100_000)
    check_int("--threads", threads, 1, 1024)
    return export_onnx(
        Path(run_dir),
        Path(out) if out is not None else None,
        data=Path(data) if data is not None else None,
        int8=int8,
        latency_runs=latency_runs,
        threads=threads,
    )

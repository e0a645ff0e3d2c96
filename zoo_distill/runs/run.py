"""One training run end to end: weights from the ranking, teacher bank, student, training,
and the run directory (student in timm format, metrics.json, resolved config, curves)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from zoo_distill._version import __version__
from zoo_distill.data.batches import item_loader, unwrap
from zoo_distill.data.decode import image_size
from zoo_distill.data.store import ImageStore, open_store, store_side
from zoo_distill.data.store_batches import StoreBatches
from zoo_distill.data.target import TargetData, check_out_outside_target, fingerprint
from zoo_distill.data.view_params import eval_views
from zoo_distill.errors import ConfigError, ZooDistillError
from zoo_distill.features.bank import build_bank
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import PluginRegistry
from zoo_distill.plugin.types import Method, MethodSetup, TeacherOptions
from zoo_distill.ranking.aggregators import active_weights
from zoo_distill.ranking.defaults import DEFAULT_WEIGHTING_METRIC
from zoo_distill.ranking.per_class import per_class_alpha
from zoo_distill.ranking.rank import plugin_failure, rank_sources
from zoo_distill.runs.outdir import check_out_dir, clear_run_files, lock_out_dir
from zoo_distill.runs.spec import RunSpec, resolve_method
from zoo_distill.training.inputs import predict_batches, student_consumer
from zoo_distill.training.loop import predict_logits, train
from zoo_distill.training.pipeline import resolve_workers, to_device
from zoo_distill.training.student import create_student
from zoo_distill.util import distributed
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.util.device import resolve_device
from zoo_distill.util.interrupts import Interrupted, interrupted, signals_as_interrupts
from zoo_distill.zoo.file import Zoo

__all__ = [
    "Evaluator",
    "RunResult",
    "accuracy_of",
    "accuracy_report",
    "check_aggregator",
    "check_run_spec",
    "check_writable",
    "input_size_warning",
    "run",
    "teacher_digest",
]

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """A finished run: its directory, what ``metrics.json`` holds (``test_accuracy``, ``alpha``,
    ``scores``, ``history``, ``student`` cost, ...), and notes for the user (skipped sources, ...)."""

    run_dir: Path
    metrics: dict[str, Any]
    notes: list[str]


def check_writable(out: Path, min_free_bytes: int = 50_000_000) -> None:
    """Fail before training, not after it, when outputs cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ZooDistillError(f"output directory {out} is not writable: {exc}") from None
    free = shutil.disk_usage(out).free
    if free < min_free_bytes:
        raise ZooDistillError(
            f"output directory {out} has only {free / 1e6:.1f} MB free; "
            f"at least {min_free_bytes / 1e6:.0f} MB are needed"
        )


def accuracy_report(
    model: torch.nn.Module, inputs: torch.Tensor, labels: np.ndarray, class_names, device: torch.device
) -> dict[str, Any]:
    """Top-1 accuracy and per-class accuracy of ``model`` on preprocessed test inputs."""
    return accuracy_of(predict_logits(model, inputs, device).argmax(1).numpy(), labels, class_names)


def accuracy_of(pred: np.ndarray, labels: np.ndarray, class_names) -> dict[str, Any]:
    """Top-1 accuracy and per-class accuracy of predicted class indices."""
    per_class = {
        name: float((pred[labels == k] == k).mean()) for k, name in enumerate(class_names) if (labels == k).any()
    }
    return {"test_accuracy": float((pred == labels).mean()), "per_class_accuracy": per_class}


class Evaluator:
    """The student's accuracy on the test split: store rows read by DataLoader workers at the training
    batch size (never all of them at once), the eval views made on the device; ``last`` keeps the
    latest full report."""

    def __init__(self, student, data: TargetData, store: ImageStore, spec: RunSpec, device: torch.device) -> None:
        if data.test is None:
            raise ValueError("an Evaluator needs a test split")
        self.student, self.device, self.store = student, device, store
        self.labels = np.asarray(data.test.labels)
        self.class_names, self.batch_size = data.class_names, spec.train.batch_size
        batches = math.ceil(len(store) / self.batch_size)
        self.workers = min(resolve_workers(spec.train.workers), batches) if batches > 1 else 0  # else no overlap
        self.last: dict[str, Any] | None = None

    def __call__(self) -> dict[str, float]:
        cuda = self.device.type == "cuda"
        batches = item_loader(
            StoreBatches(self.store, self.batch_size, lambda index: eval_views(len(index))), self.workers, cuda
        )
        logits = predict_batches(
            self.student.model,
            (unwrap(b) for b in batches),
            lambda b: to_device(b, self.device),
            student_consumer(self.student),
        )
        self.last = accuracy_of(logits.argmax(1).numpy(), self.labels, self.class_names)
        return {"test_accuracy": self.last["test_accuracy"]}


def input_size_warning(student, paths, explicit: bool, sample: int = 32) -> str | None:
    """One line when the student's input side is far from the target images' (median short side of
    up to ``sample`` images, read from their headers): more than 2x larger costs the square of
    that in compute per image for nothing, 4x smaller loses their detail. None if ``explicit``."""
    if explicit or not paths:
        return None
    picked = [paths[i] for i in np.linspace(0, len(paths) - 1, min(sample, len(paths))).astype(int)]
    sides = [min(size) for size in map(image_size, picked) if size is not None]
    if not sides:
        return None
    image_side, side = int(np.median(sides)), int(student.data_config["input_size"][-1])
    if side > 2 * image_side:
        cost = f"each image costs ~{(side / image_side) ** 2:.0f}x the compute it would at its own size"
    elif side * 4 < image_side:
        cost = "their detail is lost in the resize"
    else:
        return None
    return (
        f"the student {student.arch} takes {side}-px inputs but the target images are about {image_side} px: "
        f"{cost}; set --input-size (e.g. --input-size {max(image_side, 8)})"
    )


def _weights(
    spec: RunSpec,
    options: TeacherOptions,
    data: TargetData,
    zoo: Zoo,
    registry: PluginRegistry,
    cache,
    progress,
    notes: list[str],
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray] | None]:
    """Similarity scores on the labeled set, then the aggregator's alpha (thresholded), and with
    ``source_weights="class"`` its weights per class (``ranking.per_class``; else None)."""
    aggregator = registry.aggregator(spec.aggregator)
    registry.metric(spec.resolved_metric)
    per_class = options.source_weights == "class"
    ranking = rank_sources(
        data,
        zoo.select(spec.sources),
        [spec.resolved_metric],
        registry,
        cache,
        spec.train.batch_size,
        spec.train.device,
        progress,
        per_class=per_class,
    )
    for s in ranking.sources:
        if s.status != "ok":
            notes.append(f"source {s.name} skipped: {s.error}")
    scores = ranking.primary_scores()
    if not scores:
        reasons = sorted({s.metric_errors.get(spec.resolved_metric) or s.error or "" for s in ranking.sources} - {""})
        why = f" ({'; '.join(reasons)})" if reasons else ""
        hint = (
            f", e.g. -m {DEFAULT_WEIGHTING_METRIC} (it needs features only)"
            if spec.metric != DEFAULT_WEIGHTING_METRIC
            else ""
        )
        raise ZooDistillError(f"no source has a finite {spec.metric} score{why}; try another --metric{hint}")
    try:
        alpha = aggregator.weights(scores, **spec.aggregator_options)
        if not per_class:
            return scores, active_weights(alpha, options.weight_threshold), None
        kind, alpha, table = per_class_alpha(
            {s.name: s.class_scores for s in ranking.sources if s.name in scores},
            lambda class_scores: aggregator.weights(class_scores, **spec.aggregator_options),
            alpha,
            options.weight_threshold,
        )
        notes.append(f"source weights per class, from each source's per-class {kind} on the labeled images")
        return scores, alpha, table
    except ZooDistillError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's failure, whatever it raised: one line naming it
        who = registry.describe("register_aggregators", spec.aggregator)
        raise ZooDistillError(f"{who}: {exc if isinstance(exc, ValueError) else plugin_failure(exc)}") from None


def teacher_digest(entry, provider) -> str:
    """The digest of a teacher's weights (sha256 of its file, memoised), without building it when the
    provider can identify it; else from the built teacher."""
    if provider.identify is not None:
        return provider.identify(entry).digest
    return provider.load(entry).digest


def check_aggregator(spec: RunSpec, registry: PluginRegistry) -> None:
    """The aggregator, its options and the metric exist and are valid: before ranking or any folder."""
    aggregator = registry.aggregator(spec.aggregator)
    registry.metric(spec.resolved_metric)
    try:
        aggregator.validate_options(spec.aggregator_options)
    except ValueError as exc:
        raise ConfigError(f"aggregator {spec.aggregator!r}: {exc}") from None


def check_run_spec(spec: RunSpec, registry: PluginRegistry) -> RunSpec:
    """The method, its options and (for a method that uses teachers) the aggregator, its options and
    the metric exist and are valid; returns ``spec`` with every option of the method filled in."""
    method, options = resolve_method(spec, registry)
    if method.uses_teachers:
        check_aggregator(spec, registry)
    return replace(spec, method_options=asdict(options))


def run(
    spec: RunSpec,
    data: TargetData,
    zoo: Zoo | None,
    registry: PluginRegistry,
    cache: FeatureCache | None,
    out: Path,
    resume: bool = False,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Train the method of ``spec`` on ``data`` and write the run directory ``out``.

    A run already in ``out`` is refused unless ``resume`` (continue its checkpoint) or
    ``overwrite`` (replace it) is given; every setting is checked before any work starts. The
    folder is locked for the whole call (a second writer is refused, naming this process), and
    Ctrl-C or SIGTERM end it with an ``Interrupted`` error (exit status 130 / 143 in the CLI).
    """
    from zoo_distill.runs.export import check_export_support

    check_export_support()
    spec = check_run_spec(spec, registry)
    method, options = resolve_method(spec, registry)
    out = Path(out)
    # Under torchrun every process runs this; the launcher's rank 0 holds the lock for the job.
    lock = lock_out_dir(out) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext()
    with lock, signals_as_interrupts():
        notes = [check_out_dir(out, resume, overwrite)]  # under the lock: nobody changes the folder meanwhile
        check_out_outside_target(out, data)
        stale = getattr(lock, "stale", None)  # a FolderLock's; the nullcontext of other ranks has none
        if stale is not None:
            notes.append(f"{out}: took over the lock file of process {stale}, which is no longer running")
        try:
            return _run(
                spec,
                method,
                options,
                data,
                zoo,
                registry,
                cache,
                out,
                resume,
                progress,
                overwrite,
                [note for note in notes if note],
            )
        except Interrupted:  # the loop's, with its epoch
            raise
        except KeyboardInterrupt as exc:  # outside the epochs (the loop reports those with their epoch)
            raise interrupted(
                exc,
                f"before the run in {out} was complete; rerun with --resume to continue "
                f"from its last checkpoint, if any",
            ) from None


def _student_stores(
    student, data: TargetData, cache: FeatureCache | None, spec: RunSpec, progress: Progress | None
) -> tuple[ImageStore, ImageStore, ImageStore | None]:
    """The labeled, unlabeled and test images decoded once at the student's rung (``data/store.py``),
    in the cache's folder (a scratch one without a cache)."""
    side, root = store_side(student.data_config), cache.root if cache is not None else None
    workers = resolve_workers(spec.train.workers)

    def store(paths, label: str) -> ImageStore:
        return open_store(list(paths), side, root, workers, progress, label)

    test = store(data.test.paths, "test images") if data.test is not None else None
    return store(data.train.paths, "labeled images"), store(data.unlabeled, "unlabeled images"), test


def _run(
    spec: RunSpec,
    method: Method,
    options: Any,
    data: TargetData,
    zoo: Zoo | None,
    registry: PluginRegistry,
    cache: FeatureCache | None,
    out: Path,
    resume: bool,
    progress: Progress | None,
    overwrite: bool,
    notes: list[str],
) -> RunResult:
    """``run``'s work, once the folder is locked and checked (``notes`` so far: the folder's)."""
    from zoo_distill.runs.cost import measure_cost
    from zoo_distill.runs.export import save_student
    from zoo_distill.runs.plots import plot_curves

    started = time.perf_counter()
    distributed.init_from_env(spec.train.device)
    device = resolve_device(distributed.local_device(spec.train.device))
    if distributed.is_main():
        check_writable(out)
    distributed.barrier()
    notes = notes + list(data.notes)
    if not data.unlabeled and method.uses_unlabeled:
        notes.append("the target has no unlabeled images: training on the labeled images only")
    if data.test is None:
        notes.append("the target has no test split: no accuracy is reported")
    labels = np.asarray(data.train.labels)

    scores: dict[str, float] = {}
    alpha: dict[str, float] = {}
    digests: dict[str, str] = {}  # each teacher's weights digest: a checkpoint binds them
    class_alpha: dict[str, np.ndarray] | None = None  # source_weights="class": {source: weight per class}
    torch.manual_seed(spec.train.seed)  # the student's and the heads' initialisation
    student = create_student(spec.student, len(data.class_names), spec.student_init, spec.input_size)
    size_note = input_size_warning(student, list(data.train.paths) + list(data.unlabeled), spec.input_size is not None)
    if size_note:
        if distributed.is_main():
            logger.warning(size_note)
        notes.append(size_note)
    labeled, unlabeled, test = _student_stores(student, data, cache, spec, progress)
    setup = MethodSetup(
        student, labeled, labels, unlabeled, device, spec.train, spec.policy, options, label=spec.method, notes=notes
    )
    if method.uses_teachers:
        if zoo is None:
            raise ZooDistillError(f"method {spec.method!r} needs a zoo")
        scores, alpha, class_alpha = _weights(spec, options, data, zoo, registry, cache, progress, notes)
        entries = {name: (zoo.entries[name], registry.provider(zoo.entries[name].provider)) for name in alpha}
        setup.bank = build_bank(
            entries,
            list(data.train.paths) + list(data.unlabeled),
            options.views,
            spec.policy,
            options.view_seed,
            cache,
            spec.train.batch_size,
            spec.train.device,
            progress,
            workers=spec.train.workers,
            splits=(len(data.train.paths), len(data.unlabeled)),  # rank's store of the labeled images is reused
        )
        setup.alpha, setup.class_alpha = alpha, class_alpha
        setup.label = f"{spec.method}[{spec.aggregator}]"
        digests = {name: teacher_digest(entry, provider) for name, (entry, provider) in entries.items()}
        torch.manual_seed(spec.train.seed + 1)  # heads: independent of how long the bank took to build
    first_own_note = len(notes)
    objective = method.build(setup)
    if distributed.is_main():
        for note in notes[first_own_note:]:  # what the method itself said (e.g. an option it adapted)
            logger.warning(note)
    trained_options = getattr(objective, "options", None)
    if trained_options is not None:  # what the objective trains, when it adapted an option to the data
        spec = replace(spec, method_options=asdict(trained_options))

    evaluate = Evaluator(student, data, test, spec, device) if test is not None else None
    # What the run's weights and history depend on, by the names a refused --resume gives them. How many
    # workers made the inputs, or when the test split was evaluated, does not change them, so a run may
    # be resumed with other values of those; another test split would mix two in one history.
    signature = {
        "the settings": {**asdict(spec), "train": spec.train.identity()},
        "the labeled images": fingerprint(data.train.paths, data.train.labels),
        "the unlabeled images": fingerprint(data.unlabeled),
        "the test split": fingerprint(data.test.paths, data.test.labels) if data.test is not None else None,
        "the source weights α": alpha,
        **{f"teacher {name}'s weights": digest for name, digest in digests.items()},
    }
    per_class = {k: [float(x) for x in v] for k, v in class_alpha.items()} if class_alpha else None
    if per_class:
        signature["the per-class source weights"] = per_class
    if overwrite and distributed.is_main():
        clear_run_files(out)  # only now: a failure in ranking or the bank left the old run whole
    distributed.barrier()
    result = train(objective, spec.train, len(labeled), len(unlabeled), out, evaluate, signature, resume, progress)
    if distributed.world_size() > 1:
        notes.append(f"trained with DistributedDataParallel on {distributed.world_size()} processes")

    final: dict[str, Any] = {}
    if evaluate is not None:
        if evaluate.last is None:  # resumed after the last epoch: nothing was evaluated in this call
            evaluate()
        assert evaluate.last is not None  # evaluate() keeps its full report
        final = dict(evaluate.last)  # the last epoch is always evaluated: its report is the final one
    if not distributed.is_main():  # every process trained the same model; rank 0 writes it
        return RunResult(out, {**final, "alpha": alpha, "history": result.history}, notes)
    student.model.cpu()
    cost = measure_cost(student.model, tuple(student.data_config["input_size"]))
    save_student(
        out,
        student.model,
        student.arch,
        len(data.class_names),
        student.data_config,
        list(data.class_names),
        extra={"zoo_distill": {"method": spec.method, "version": __version__}},
    )
    metrics = {
        "method": spec.method,
        "aggregator": spec.aggregator if method.uses_teachers else None,
        "metric": spec.metric if method.uses_teachers else None,
        **final,
        "alpha": alpha,
        "scores": scores,
        "history": result.history,
        **({"class_alpha": per_class} if per_class else {}),
        "train_seconds": result.seconds,
        "wall_seconds": time.perf_counter() - started,
        "resumed_from_epoch": result.resumed_from,
        "evaluation": {
            "split": "test" if data.test is not None else None,
            "epochs": [row["epoch"] for row in result.history if "test_accuracy" in row],
            "every": spec.train.resolved_eval_every(),
            "batch_size": spec.train.batch_size,
            "seconds": result.eval_seconds,
        },
        "throughput": result.throughput,
        "student": {
            "arch": student.arch,
            "init": spec.student_init,
            "params": cost.params,
            "macs": cost.macs,
            "cpu_latency_ms": cost.latency_ms,
            "input_size": list(cost.input_size),
        },
        "data": {
            "labeled": len(labeled),
            "unlabeled": len(unlabeled),
            "test": len(data.test) if data.test else 0,
            "classes": list(data.class_names),
        },
        "notes": notes,
    }
    try:
        atomic_write_json(
            out / "run.json",
            {
                "version": __version__,
                "spec": asdict(spec),
                "target": {
                    "labeled": str(data.train.root),
                    "test": str(data.test.root) if data.test else None,
                    "unlabeled": len(data.unlabeled),
                },
                "zoo": str(zoo.path) if zoo else None,
            },
        )
        atomic_write_json(out / "metrics.json", metrics)
    except OSError as exc:
        raise ZooDistillError(
            f"cannot write {exc.filename or out}: {exc.strerror or exc}; the student and the "
            f"last checkpoint in {out} are kept: free space, then rerun with --resume"
        ) from None
    if result.history:
        plot_curves(result.history, out / "curves.png", f"{objective.name} on {data.train.root.parent.name}")
    return RunResult(out, metrics, notes)

"""``zoo-distill run`` and ``zoo-distill baseline finetune|fixmatch``: train a student, write a run folder.

Defaults come from the library's config dataclasses (cheap to import), so ``--help`` shows
exactly what ``zoo_distill.run()`` would use.
"""

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from zoo_distill.cli._common import (
    TARGET_OPTIONS,
    CacheDir,
    ZooOption,
    cli_errors,
    make_progress,
    option,
    stderr,
    stdout,
    with_options,
)
from zoo_distill.errors import ConfigError
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import DistillConfig, FixMatchConfig, TrainConfig
from zoo_distill.util.interrupts import Interrupted

__all__ = ["OUTPUT_OPTIONS", "STUDENT_OPTIONS", "finetune", "fixmatch", "run"]

baseline_app = typer.Typer(help="Train the paper's baselines with the same student and budget.", no_args_is_help=True)

_T, _D, _F, _R = TrainConfig(), DistillConfig(), FixMatchConfig(), RunSpec()

#: The student and the optimisation budget: the same for every method (budget parity).
STUDENT_OPTIONS = [
    option("student", str, typer.Option(_R.student, "--student", help="Student architecture: any timm model name.")),
    option("student_init", str, typer.Option(_R.student_init, "--student-init", help="'pretrained' (timm weights "
           "from the Hub), 'scratch', or a safetensors file / folder with model.safetensors + config.json.")),
    option("input_size", Optional[int], typer.Option(None, "--input-size", help="Student input side in pixels "
           "\\[default: from its init].")),
    option("epochs", int, typer.Option(_T.epochs, "--epochs", min=1, help="Epochs (same for every method: budget "
           "parity).")),
    option("steps_per_epoch", Optional[int], typer.Option(None, "--steps-per-epoch", min=1, help="Steps per epoch "
           "\\[default: ceil((labeled + unlabeled) / batch size)].")),
    option("batch_size", int, typer.Option(_T.batch_size, "--batch-size", min=1, help="Labeled images per step.")),
    option("mu", int, typer.Option(_T.mu, "--mu", min=0, help="Unlabeled images per step, as a multiple of the "
           "batch size.")),
    option("lr", float, typer.Option(_T.lr, "--lr", help="Peak learning rate (SGD, Nesterov momentum 0.9, cosine "
           "decay).")),
    option("weight_decay", float, typer.Option(_T.weight_decay, "--weight-decay", help="SGD weight decay.")),
    option("seed", int, typer.Option(_T.seed, "--seed", help="Seed for sampling, augmentation and initialisation "
           "(reproducible on CPU).")),
    option("device", str, typer.Option(_T.device, "--device", help="cpu, cuda or cuda:N (bf16 autocast with "
           "--precision bf16, channels_last, pinned-memory copies).")),
    option("workers", Optional[int], typer.Option(None, "--workers", min=0, help="DataLoader processes preparing "
           "the inputs (views, augmentations) \\[default: from the CPUs available; 0: in-process]. The result is "
           "the same for any count.")),
    option("eval_every", Optional[int], typer.Option(None, "--eval-every", min=1, help="Evaluate the test split "
           "every N epochs and after the last \\[default: about 4 times per run].")),
    option("precision", str, typer.Option(_T.precision, "--precision", help="fp32 or bf16 (autocast).")),
]

#: Where the run goes and how it is reported.
OUTPUT_OPTIONS = [
    option("out", Path, typer.Option(Path("runs/latest"), "--out", "-o", help="Run directory to write.")),
    option("resume", bool, typer.Option(False, "--resume", help="Continue from the run directory's last epoch "
           "checkpoint.")),
    option("overwrite", bool, typer.Option(False, "--overwrite", help="Replace a finished run in --out (never done "
           "without this flag).")),
    option("as_json", bool, typer.Option(False, "--json", help="Print metrics.json instead of a summary.")),
]

_RUN_KEYS = ("out", "resume", "overwrite", "cache_dir", "no_cache", "skip_bad_images")
_TARGET_KEYS = ("target", "labeled", "unlabeled", "test")


def _parse_agg_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--agg-opt expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _train(method: str, settings: dict[str, Any], zoo: Optional[Path] = None) -> None:
    """Check the settings, read the target (decoding every image once), train, print the summary."""
    import zoo_distill.api as api
    from zoo_distill.util import distributed

    as_json = settings.pop("as_json")
    where = {k: settings.pop(k) for k in _TARGET_KEYS}
    run_kw = {k: settings.pop(k) for k in _RUN_KEYS if k in settings}
    api.check_run_settings(method, **settings)  # a bad option fails before the images are read
    with make_progress() as progress:
        task = progress.add_task("checking images", total=None, info="")
        data = api.load_target(**where, skip_bad_images=run_kw.pop("skip_bad_images", False),
                               check_images=api.TRAINING_SPLITS, on_progress=lambda: progress.advance(task))
    if data.skipped:
        stderr.print(f"[yellow]skipped {len(data.skipped)} unreadable image(s)[/yellow]")
    cache_dir, no_cache = run_kw.pop("cache_dir", None), run_kw.pop("no_cache", True)
    try:
        with make_progress(disable=None if not as_json else True) as progress:
            outcome = api.run(data, zoo, method=method, cache_dir=cache_dir, use_cache=not no_cache,
                              progress=progress, **run_kw, **settings)
    except Interrupted as exc:  # Ctrl-C / SIGTERM: one line and the shell's status (130 / 143), no traceback
        stderr.print(f"[bold red]Error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    if distributed.is_main():
        _report(outcome, as_json)


def _report(outcome: Any, as_json: bool) -> None:
    from rich import box
    from rich.table import Table

    for note in outcome.notes:
        stderr.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    m = outcome.metrics
    if as_json:
        print(json.dumps(m, indent=2, default=str))
        return
    if m.get("alpha"):
        stdout.print(f"source weights α ({m['aggregator']}, from {m['metric']})")
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("source")
        table.add_column(m["metric"], justify="right")
        table.add_column("α", justify="right")
        for name, weight in sorted(m["alpha"].items(), key=lambda kv: -kv[1]):
            table.add_row(name, f"{m['scores'][name]:.4g}", f"{weight:.3f}")
        stdout.print(table)
    st = m["student"]
    acc = f"test accuracy {m['test_accuracy']:.4f}" if "test_accuracy" in m else "no test split"
    stdout.print(f"[bold]{m['method']}[/bold]: {acc} | student {st['arch']} ({st['params'] / 1e6:.2f}M params, "
                 f"{st['macs'] / 1e6:.1f} MMACs, {st['cpu_latency_ms']:.2f} ms/img CPU) | "
                 f"{m['train_seconds']:.1f}s training")
    stdout.print(f"run directory: {outcome.run_dir}")


@cli_errors
@with_options(TARGET_OPTIONS, STUDENT_OPTIONS, OUTPUT_OPTIONS)
def run(
    zoo: Optional[Path] = ZooOption,
    aggregator: str = typer.Option(_R.aggregator, "--aggregator", "-a", help="How sources are weighted: 'weighted' "
                                   "(DistillWeighted), 'nearest' (DistillNearest), 'uniform', or a plugin's."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", show_default=False, help="Similarity metric that "
                                         f"feeds the aggregator \\[default: {DEFAULT_PRIMARY_METRIC} for nearest, "
                                         f"{DEFAULT_WEIGHTING_METRIC} for the others]."),
    source: list[str] = typer.Option([], "--source", "-s", help="Only consider these zoo entries."),
    temperature: Optional[float] = typer.Option(None, help="Aggregator option 'temperature' (weighted)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Aggregator option 'top_k' (weighted)."),
    agg_opt: list[str] = typer.Option([], "--agg-opt", help="Other aggregator option, KEY=VALUE (repeatable)."),
    lam: float = typer.Option(_D.lam, "--lambda", help="Weight of the feature-distillation term."),
    views: int = typer.Option(_D.views, "--views", min=1, help="Augmented views per image in the teacher bank."),
    feature_loss: str = typer.Option(_D.feature_loss, "--feature-loss", help="cosine or mse."),
    head: str = typer.Option(_D.head, "--head", help="Projection head per source: linear or mlp."),
    feature_space: str = typer.Option(_D.feature_space, "--feature-space", help="What the student reproduces of "
                                      "each teacher's features: 'class' (the default), only their coordinates "
                                      "that tell the labeled classes apart (LDA on the labeled images), so what "
                                      "a teacher sees besides the classes is not learned; 'full', all of them "
                                      "(the paper's term). Fewer than 3 labeled classes: full."),
    feature_gate: str = typer.Option(_D.feature_gate, "--feature-gate", help="With --feature-space class: "
                                     "'agreement' drops a teacher's feature term on an unlabeled image where the "
                                     "student is confident (--threshold) and the teacher's class for it (LDA in its "
                                     "class subspace) is another one; 'none' (the default) keeps it everywhere."),
    online_teachers: bool = typer.Option(False, "--online-teachers", help="Run teachers every step on fresh "
                                         "views instead of the cached bank (slower; for comparison)."),
    unlabeled_loss: str = typer.Option(_D.unlabeled_loss, "--unlabeled-loss", help="What the unlabeled images "
                                       "train besides the feature term: 'fixmatch-teachers' (the default: FixMatch "
                                       "consistency whose pseudo-labels weigh the student's weak-view prediction by "
                                       "a linear probe on the teachers' features of the labeled images; one forward "
                                       "pass, a FixMatch step's cost), 'fixmatch' (pseudo-labels from the student "
                                       "alone) or 'none' (pure distillation; with --feature-space full, the paper's)."),
    lam_schedule: str = typer.Option(_D.lam_schedule, "--lambda-schedule", help="λ over training: constant, or "
                                     "decayed to 0 by the last step (linear, cosine)."),
    lam_scale: str = typer.Option(_D.lam_scale, "--lambda-scale", help="'knn': weight each source's feature term "
                                  "by its kNN accuracy above chance on the labeled images, so a zoo that does not fit "
                                  "the target drops out; 'none': α alone."),
    source_weights: str = typer.Option(_D.source_weights, "--source-weights", help="'task': one weight α per "
                                       "source for the whole task; 'class': the aggregator weighs the sources once "
                                       "per class, by each source's LEEP on that class's labeled images (feature "
                                       "average precision when a source has no head), so a task whose classes "
                                       "come from several domains learns each class from its own teacher; "
                                       "'class-mean': one weight per source, the mean over the classes of those "
                                       "per-class weights."),
    teacher_probe: str = typer.Option(_D.teacher_probe, "--teacher-probe", help="With --unlabeled-loss "
                                      "fixmatch-teachers: 'joint' (the default), one probe on every teacher's "
                                      "features side by side (each weighed by √α); 'joint-equal', the same with "
                                      "every teacher's features weighed alike (α only picks the teachers); "
                                      "'mixture', a probe per teacher mixed with α."),
    threshold: float = typer.Option(_F.threshold, "--threshold", help="With --unlabeled-loss fixmatch or "
                                    "fixmatch-teachers: confidence needed for a pseudo-label; with --feature-gate "
                                    "agreement, for the student to overrule a teacher."),
    lambda_u: float = typer.Option(_F.lambda_u, "--lambda-u", help="With --unlabeled-loss fixmatch or "
                                   "fixmatch-teachers: weight of the consistency loss."),
    cache_dir: Optional[Path] = CacheDir,
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write cached features."),
    settings: dict = None,
) -> None:
    """Distill the ranked zoo into a small student (DistillWeighted; --aggregator nearest: DistillNearest)."""
    options = _parse_agg_options(agg_opt)
    settings.update(aggregator=aggregator, metric=metric, sources=source, temperature=temperature, top_k=top_k,
                    aggregator_options=options, lam=lam, views=views, feature_loss=feature_loss, head=head,
                    feature_space=feature_space, feature_gate=feature_gate,
                    online_teachers=online_teachers, unlabeled_loss=unlabeled_loss, lam_schedule=lam_schedule,
                    lam_scale=lam_scale, source_weights=source_weights, teacher_probe=teacher_probe,
                    threshold=threshold, lambda_u=lambda_u,
                    cache_dir=cache_dir, no_cache=no_cache)
    _train("distill", settings, zoo)


@baseline_app.command("finetune")
@cli_errors
@with_options(TARGET_OPTIONS, STUDENT_OPTIONS, OUTPUT_OPTIONS)
def finetune(settings: dict = None) -> None:
    """Fine-tune the student initialisation on the labeled images only (the paper's transfer baseline).

    Unlabeled images are not trained on, but they count towards the steps per epoch exactly as
    for the other methods, so every method gets the same number of steps."""
    _train("finetune", settings)


@baseline_app.command("fixmatch")
@cli_errors
@with_options(TARGET_OPTIONS, STUDENT_OPTIONS, OUTPUT_OPTIONS)
def fixmatch(
    threshold: float = typer.Option(_F.threshold, help="Confidence needed for a pseudo-label."),
    lambda_u: float = typer.Option(_F.lambda_u, "--lambda-u", help="Weight of the unlabeled consistency loss."),
    settings: dict = None,
) -> None:
    """FixMatch (Sohn et al. 2020) on labeled + unlabeled images, same student and budget."""
    settings.update(threshold=threshold, lambda_u=lambda_u)
    _train("fixmatch", settings)

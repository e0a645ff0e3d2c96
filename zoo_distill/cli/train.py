import copy
import inspect
import json
from pathlib import Path
from typing import Any, Optional

import typer

from zoo_distill.cli._common import (
    TARGET_OPTIONS,
    CacheDir,
    ZooOption,
    cli_errors,
    error_line,
    literal,
    make_progress,
    option,
    print_json,
    say,
    say_device,
    stderr,
    stdout,
    with_options,
)
from zoo_distill.errors import ConfigError
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import TrainConfig
from zoo_distill.util.interrupts import Interrupted

__all__ = [
    "DATA_OPTIONS",
    "DEVICE_OPTIONS",
    "OUTPUT_OPTIONS",
    "STUDENT_OPTIONS",
    "finetune",
    "fixmatch",
    "freematch",
    "parse_options",
    "run",
    "softmatch",
]

baseline_app = typer.Typer(help="Train the paper's baselines with the same student and budget.", no_args_is_help=True)

_T, _R = TrainConfig(), RunSpec()

#: Accepted but not listed by --help (each command's help names them), so it shows what most runs set.
NOT_LISTED = ("mu", "weight_decay", "eval_every", "workers", "no_cache", "skip_bad_images", "temperature", "top_k")


def in_panel(params: list[inspect.Parameter], panel: str) -> list[inspect.Parameter]:
    """``params`` shown under ``panel`` in --help (copies: the shared option objects stay as they are);
    those in ``NOT_LISTED`` are accepted but hidden."""
    out = []
    for param in params:
        info = copy.copy(param.default)
        info.rich_help_panel = panel
        info.hidden = param.name in NOT_LISTED
        out.append(param.replace(default=info))
    return out


DATA_OPTIONS = in_panel(TARGET_OPTIONS, "Data")

#: The student and the optimisation budget: the same for every method (budget parity).
STUDENT_OPTIONS = in_panel(
    [
        option(
            "student", str, typer.Option(_R.student, "--student", help="Student architecture: any timm model name.")
        ),
        option(
            "student_init",
            str,
            typer.Option(
                _R.student_init,
                "--student-init",
                help="'pretrained' (timm weights "
                "from the Hub), 'scratch', or a safetensors file / folder with model.safetensors + config.json.",
            ),
        ),
        option(
            "input_size",
            Optional[int],
            typer.Option(None, "--input-size", help="Student input side in pixels \\[default: from its init]."),
        ),
        option(
            "epochs",
            int,
            typer.Option(_T.epochs, "--epochs", min=1, help="Epochs (same for every method: budget parity)."),
        ),
        option(
            "steps_per_epoch",
            Optional[int],
            typer.Option(
                None,
                "--steps-per-epoch",
                min=1,
                help="Steps per epoch \\[default: ceil((labeled + unlabeled) / batch size)].",
            ),
        ),
        option("batch_size", int, typer.Option(_T.batch_size, "--batch-size", min=1, help="Labeled images per step.")),
        option(
            "mu",
            int,
            typer.Option(_T.mu, "--mu", min=0, help="Unlabeled images per step, as a multiple of the batch size."),
        ),
        option(
            "lr",
            float,
            typer.Option(_T.lr, "--lr", help="Peak learning rate (SGD, Nesterov momentum 0.9, cosine decay)."),
        ),
        option("weight_decay", float, typer.Option(_T.weight_decay, "--weight-decay", help="SGD weight decay.")),
        option(
            "seed",
            int,
            typer.Option(
                _T.seed, "--seed", help="Seed for sampling, augmentation and initialisation (reproducible on CPU)."
            ),
        ),
    ],
    "Student and budget",
)

#: Where the run trains.
DEVICE_OPTIONS = in_panel(
    [
        option(
            "device",
            str,
            typer.Option(
                "auto",
                "--device",
                help="auto (CUDA when this machine has it, else cpu; "
                "the first line says which), cpu, cuda or cuda:N (bf16 autocast with --precision bf16).",
            ),
        ),
        option("precision", str, typer.Option(_T.precision, "--precision", help="fp32 or bf16 (autocast).")),
        option(
            "workers",
            Optional[int],
            typer.Option(
                None,
                "--workers",
                min=0,
                help="DataLoader processes preparing "
                "the inputs (views, augmentations) \\[default: from the CPUs available; 0: in-process]. The result is "
                "the same for any count.",
            ),
        ),
    ],
    "Device",
)

#: Where the run goes and how it is reported.
OUTPUT_OPTIONS = in_panel(
    [
        option("out", Path, typer.Option(Path("runs/latest"), "--out", "-o", help="Run directory to write.")),
        option(
            "resume",
            bool,
            typer.Option(False, "--resume", help="Continue from the run directory's last epoch checkpoint."),
        ),
        option(
            "overwrite",
            bool,
            typer.Option(False, "--overwrite", help="Replace a finished run in --out (never done without this flag)."),
        ),
        option("as_json", bool, typer.Option(False, "--json", help="Print metrics.json instead of a summary.")),
        option(
            "eval_every",
            Optional[int],
            typer.Option(
                None,
                "--eval-every",
                min=1,
                help="Evaluate the test split every N epochs and after the last \\[default: about 4 times per run].",
            ),
        ),
    ],
    "Output",
)

#: A method's own settings, as its options dataclass names them.
METHOD_OPT = option(
    "method_opt",
    list[str],
    typer.Option(
        [],
        "--method-opt",
        help="The method's own setting, KEY=VALUE (repeatable; VALUE "
        "read as JSON, else as text), e.g. lam=5 or unlabeled_loss=fixmatch; docs/distillation.md lists each "
        "method's options and defaults.",
    ),
)

_RUN_KEYS = ("out", "resume", "overwrite", "cache_dir", "no_cache", "skip_bad_images")
_TARGET_KEYS = ("target", "labeled", "unlabeled", "test")


def parse_options(flag: str, pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs of a repeatable option (``--agg-opt``, ``--method-opt``): VALUE as JSON when it
    parses (numbers, booleans), else as text; a pair without ``=`` fails naming ``flag``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _train(method: str, settings: dict[str, Any], zoo: Optional[Path] = None) -> None:
    """Check the settings, read the target (decoding every image once), train, print the summary."""
    import zoo_distill.api as api
    from zoo_distill.util import distributed

    settings["method_options"] = parse_options("--method-opt", settings.pop("method_opt", []))
    as_json = settings.pop("as_json")
    where = {k: settings.pop(k) for k in _TARGET_KEYS}
    run_kw = {k: settings.pop(k) for k in _RUN_KEYS if k in settings}
    say_device(settings.get("device"))
    api.check_run_settings(method, **settings)  # a bad option fails before the images are read
    with make_progress() as progress:
        task = progress.add_task("checking images", total=None, info="")
        data = api.load_target(
            **where,
            skip_bad_images=run_kw.pop("skip_bad_images", False),
            check_images=api.TRAINING_SPLITS,
            on_progress=lambda: progress.advance(task),
        )
    if data.skipped:
        say(stderr, (f"skipped {len(data.skipped)} unreadable image(s)", "yellow"))
    cache_dir, no_cache = run_kw.pop("cache_dir", None), run_kw.pop("no_cache", True)
    try:
        with make_progress(disable=None if not as_json else True) as progress:
            outcome = api.run(
                data,
                zoo,
                method=method,
                cache_dir=cache_dir,
                use_cache=not no_cache,
                progress=progress,
                **run_kw,
                **settings,
            )
    except Interrupted as exc:  # Ctrl-C / SIGTERM: one line and the shell's status (130 / 143), no traceback
        error_line(str(exc))
        raise typer.Exit(exc.exit_code) from None
    if distributed.is_main():
        _report(outcome, as_json)


def _report(outcome: Any, as_json: bool) -> None:
    from rich import box
    from rich.table import Table

    for note in outcome.notes:
        say(stderr, ("note:", "yellow"), " ", note)
    m = outcome.metrics
    if as_json:
        print_json(m)
        return
    if m.get("alpha"):
        say(stdout, f"source weights α ({m['aggregator']}, from {m['metric']})")
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("source")
        table.add_column(literal(m["metric"]), justify="right")
        table.add_column("α", justify="right")
        for name, weight in sorted(m["alpha"].items(), key=lambda kv: -kv[1]):
            table.add_row(literal(name), f"{m['scores'][name]:.4g}", f"{weight:.3f}")
        stdout.print(table)
    st = m["student"]
    acc = f"test accuracy {m['test_accuracy']:.4f}" if "test_accuracy" in m else "no test split"
    say(
        stdout,
        (m["method"], "bold"),
        f": {acc} | student {st['arch']} ({st['params'] / 1e6:.2f}M params, "
        f"{st['macs'] / 1e6:.1f} MMACs, {st['cpu_latency_ms']:.2f} ms/img CPU) | {m['train_seconds']:.1f}s training",
    )
    say(stdout, f"run directory: {outcome.run_dir}")


#: What a distillation adds: the zoo, how its sources are weighted, the method's settings.
RUN_METHOD_OPTIONS = [
    option("zoo", Optional[Path], ZooOption),
    option(
        "aggregator",
        str,
        typer.Option(
            _R.aggregator,
            "--aggregator",
            "-a",
            help="How sources are weighted: "
            "'weighted' (DistillWeighted), 'nearest' (DistillNearest), 'uniform', or a plugin's.",
        ),
    ),
    option(
        "metric",
        Optional[str],
        typer.Option(
            None,
            "--metric",
            "-m",
            show_default=False,
            help="Similarity "
            f"metric that feeds the aggregator \\[default: {DEFAULT_PRIMARY_METRIC} for nearest, "
            f"{DEFAULT_WEIGHTING_METRIC} for the others].",
        ),
    ),
    option("source", list[str], typer.Option([], "--source", "-s", help="Only consider these zoo entries.")),
    option(
        "agg_opt",
        list[str],
        typer.Option(
            [],
            "--agg-opt",
            help="Aggregator option, KEY=VALUE (repeatable), e.g. temperature=0.5 or top_k=2 (weighted).",
        ),
    ),
    option(
        "temperature",
        Optional[float],
        typer.Option(None, "--temperature", help="Shorthand for --agg-opt temperature=T."),
    ),
    option("top_k", Optional[int], typer.Option(None, "--top-k", help="Shorthand for --agg-opt top_k=K.")),
    METHOD_OPT,
]
RUN_METHOD_OPTIONS = in_panel(RUN_METHOD_OPTIONS, "Method")
CACHE_OPTIONS = in_panel(
    [
        option("cache_dir", Optional[Path], CacheDir),
        option("no_cache", bool, typer.Option(False, "--no-cache", help="Neither read nor write cached features.")),
    ],
    "Output",
)


@cli_errors
@with_options(DATA_OPTIONS, RUN_METHOD_OPTIONS, STUDENT_OPTIONS, DEVICE_OPTIONS, OUTPUT_OPTIONS, CACHE_OPTIONS)
def run(*, settings: dict) -> None:  # settings: with_options passes them
    """Distill the ranked zoo into a small student (DistillWeighted; --aggregator nearest: DistillNearest).

    The distillation's own settings (lambda, views, the unlabeled loss, per-class source weights, the
    consistency threshold, ...) are --method-opt KEY=VALUE (docs/distillation.md). Also accepted: --mu,
    --weight-decay, --eval-every, --workers, --no-cache, --skip-bad-images, --temperature, --top-k."""
    zoo = settings.pop("zoo")
    settings.update(
        sources=settings.pop("source"), aggregator_options=parse_options("--agg-opt", settings.pop("agg_opt"))
    )
    _train("distill", settings, zoo)


@baseline_app.command("finetune")
@cli_errors
@with_options(DATA_OPTIONS, in_panel([METHOD_OPT], "Method"), STUDENT_OPTIONS, DEVICE_OPTIONS, OUTPUT_OPTIONS)
def finetune(*, settings: dict) -> None:  # settings: with_options passes them
    """Fine-tune the student initialisation on the labeled images only (the paper's transfer baseline).

    Unlabeled images are not trained on, but they count towards the steps per epoch exactly as
    for the other methods, so every method gets the same number of steps. Also accepted: --mu,
    --weight-decay, --eval-every, --workers, --skip-bad-images."""
    _train("finetune", settings)


@baseline_app.command("fixmatch")
@cli_errors
@with_options(DATA_OPTIONS, in_panel([METHOD_OPT], "Method"), STUDENT_OPTIONS, DEVICE_OPTIONS, OUTPUT_OPTIONS)
def fixmatch(*, settings: dict) -> None:  # settings: with_options passes them
    """FixMatch (Sohn et al. 2020) on labeled + unlabeled images, same student and budget.

    Its settings are --method-opt KEY=VALUE: threshold (0.95), lambda_u (1.0), randaugment_ops,
    randaugment_magnitude, cutout (docs/distillation.md). Also accepted: --mu, --weight-decay,
    --eval-every, --workers, --skip-bad-images."""
    _train("fixmatch", settings)


@baseline_app.command("freematch")
@cli_errors
@with_options(DATA_OPTIONS, in_panel([METHOD_OPT], "Method"), STUDENT_OPTIONS, DEVICE_OPTIONS, OUTPUT_OPTIONS)
def freematch(*, settings: dict) -> None:  # settings: with_options passes them
    """FreeMatch (Wang et al. 2023): FixMatch with self-adaptive thresholds and class fairness, same student,
    views and budget.

    Its settings are --method-opt KEY=VALUE: ema (0.999), lambda_f (0.01), lambda_u (1.0) and FixMatch's
    augmentation (docs/distillation.md). Also accepted: --mu, --weight-decay, --eval-every, --workers,
    --skip-bad-images."""
    _train("freematch", settings)


@baseline_app.command("softmatch")
@cli_errors
@with_options(DATA_OPTIONS, in_panel([METHOD_OPT], "Method"), STUDENT_OPTIONS, DEVICE_OPTIONS, OUTPUT_OPTIONS)
def softmatch(*, settings: dict) -> None:  # settings: with_options passes them
    """SoftMatch (Chen et al. 2023): FixMatch with truncated-Gaussian pseudo-label weights and distribution
    alignment, same student, views and budget.

    Its settings are --method-opt KEY=VALUE: ema (0.999), n_sigma (2), lambda_u (1.0) and FixMatch's
    augmentation (docs/distillation.md). Also accepted: --mu, --weight-decay, --eval-every, --workers,
    --skip-bad-images."""
    _train("softmatch", settings)

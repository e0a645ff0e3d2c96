"""The ``zoo-distill`` command line: a thin typer layer that parses, calls the library and prints."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from zoo_distill._version import __version__

from zoo_distill.util import distributed
from zoo_distill.features.cache import FeatureCache
from zoo_distill.data.target import load_target
from zoo_distill.training.config import DistillConfig
from zoo_distill.errors import ZooDistillError
from zoo_distill.plugin.manager import get_registry
from zoo_distill.util.progress import make_progress, stderr
from zoo_distill.ranking.rank import rank_sources
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC
from zoo_distill.ranking.report import rank_table, scores_table
from zoo_distill.zoo.file import load_zoo

app = typer.Typer(
    name="zoo-distill",
    help="Rank a zoo of pretrained image models for a new task and distill them into a small student "
    "(Borup et al., ICCV 2023).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cache_app = typer.Typer(help="Inspect or clear the feature cache.", no_args_is_help=True)
baseline_app = typer.Typer(help="Train the paper's baselines with the same student and budget.", no_args_is_help=True)
zoo_app = typer.Typer(help="Inspect the zoo of source models.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
app.add_typer(zoo_app, name="zoo")
app.add_typer(baseline_app, name="baseline")
stdout = Console()


def cli_errors(fn: Callable) -> Callable:
    """Print a ZooDistillError as one red line on stderr and exit with its code (2), no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZooDistillError as exc:
            stderr.print(f"[bold red]Error:[/bold red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        stdout.print(f"zoo-distill {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=stderr, show_time=False, show_path=False)],
        force=True,
    )


CacheDir = typer.Option(None, "--cache-dir", envvar="ZOO_DISTILL_CACHE",
                        help="Feature cache folder \\[default: ~/.cache/zoo-distill].")
ZooOption = typer.Option(None, "--zoo", help="Zoo file (registry.yaml format) \\[default: $ZOO_DISTILL_ZOO or the "
                                             "packaged registry.yaml].")


@app.command()
@cli_errors
def rank(
    target: Optional[Path] = typer.Option(None, "--target", "-t", help="Target folder with train/ "
                                          "(and optional unlabeled/, test/) in ImageFolder layout."),
    labeled: Optional[Path] = typer.Option(None, "--labeled", help="Labeled split (class folders); "
                                           "overrides TARGET/train."),
    unlabeled: Optional[Path] = typer.Option(None, "--unlabeled", help="Unlabeled images (any depth)."),
    test: Optional[Path] = typer.Option(None, "--test", help="Test split (class folders)."),
    zoo: Optional[Path] = ZooOption,
    metric: list[str] = typer.Option([], "--metric", "-m", help="Metric(s) to compute; the first is primary "
                                     "and sorts the table \\[default: all installed, knn first]."),
    source: list[str] = typer.Option([], "--source", "-s", help="Only rank these zoo entries."),
    device: str = typer.Option("cpu", help="Device for feature extraction: cpu, cuda, cuda:N."),
    batch_size: int = typer.Option(64, min=1, help="Images per extraction batch."),
    cache_dir: Optional[Path] = CacheDir,
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write cached features."),
    skip_bad_images: bool = typer.Option(False, help="Skip unreadable images (and count them) instead of failing."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable result instead of the table."),
) -> None:
    """Rank the zoo's sources for a target task by task similarity on its labeled images."""
    registry = get_registry()
    metrics = list(metric) or [DEFAULT_PRIMARY_METRIC] + [m for m in registry.metrics if m != DEFAULT_PRIMARY_METRIC]
    for name in metrics:
        registry.metric(name)  # unknown names fail before any work
    zoo_obj = load_zoo(zoo, registry)
    entries = zoo_obj.select(list(source))
    data = load_target(target, labeled, unlabeled, test, skip_bad_images=skip_bad_images)
    if data.skipped:
        stderr.print(f"[yellow]skipped {len(data.skipped)} unreadable image(s)[/yellow]")
    cache = None if no_cache else FeatureCache(cache_dir)
    distributed.init_from_env(device)  # under torchrun: extraction is sharded across the processes
    with make_progress(disable=None if not as_json else True) as progress:
        result = rank_sources(data, entries, metrics, registry, cache, batch_size, device, progress)
    if not distributed.is_main():
        return
    for s in result.sources:
        if s.status != "ok":
            stderr.print(f"[yellow]{s.status}:[/yellow] {s.error}", highlight=False, soft_wrap=True)
        for m, err in s.metric_errors.items():
            stderr.print(f"[dim]{s.name}: {m}: {err}[/dim]", highlight=False)
    if as_json:
        payload = result.to_dict() | {"zoo": str(zoo_obj.path), "skipped_images": [str(p) for p in data.skipped]}
        print(json.dumps(payload, indent=2, default=str))
        return
    stdout.print(rank_table(result))
    if len(result.metrics) > 1:
        stdout.print(scores_table(result))
    t = result.timings
    stdout.print(f"[dim]time: {t['total']:.2f}s (load {t['load']:.2f}s, features {t['extract']:.2f}s, "
                 f"metrics {t['metrics']:.2f}s)[/dim]")


@app.command()
@cli_errors
def example(
    root: Path = typer.Argument(Path("zd-example"), help="Folder to build the example in."),
    seed: int = typer.Option(0, help="Seed for the synthetic data and the teachers' training."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if an identical build exists."),
) -> None:
    """Build a small offline example (target task + zoo of teachers trained here) for `rank`."""
    from zoo_distill.example import ExampleSettings, build_example

    with make_progress() as progress:
        build = build_example(root, ExampleSettings(seed=seed), progress, force=force)
    verb = "reused" if build.reused else "built"
    stdout.print(f"{verb} example in {build.root}: target {build.target}, zoo {build.zoo}")
    for name, acc in build.teacher_accuracy.items():
        stdout.print(f"  {name}: held-out accuracy on its own domain {acc:.3f}")
    stdout.print(f"next: zoo-distill rank --target {build.target} --zoo {build.zoo}")


@app.command()
def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List loaded plugins (built-in and installed), their versions and what each registers."""
    registry = get_registry()
    if as_json:
        rows = [{"name": p.name, "version": p.version, "builtin": p.builtin, "distribution": p.distribution,
                 "hooks": sorted(p.registers), "registers": p.registers, "error": p.error} for p in registry.plugins]
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="zoo-distill plugins")
    for col in ("plugin", "version", "hooks", "registers"):
        table.add_column(col)
    for p in registry.plugins:
        what = "; ".join(f"{hook.removeprefix('register_')}: {', '.join(names)}" for hook, names in p.registers.items())
        if p.error:
            what = f"[red]{p.error}[/red]" + (f"; {what}" if what else "")
        table.add_row(p.name + (" [dim](built-in)[/dim]" if p.builtin else ""), p.version,
                      ", ".join(sorted(p.registers)), what)
    stdout.print(table)


@app.command("metrics")
def list_metrics() -> None:
    """List the similarity metrics, what each needs, and its reference."""
    table = Table(title="similarity metrics (higher is better)")
    for col in ("metric", "needs", "reference", "description"):
        table.add_column(col)
    for m in get_registry().metrics.values():
        table.add_row(m.name, ", ".join(m.needs), m.reference, m.description)
    stdout.print(table)


@cache_app.command("ls")
def cache_ls(cache_dir: Optional[Path] = CacheDir, as_json: bool = typer.Option(False, "--json")) -> None:
    """List cached teacher features."""
    cache = FeatureCache(cache_dir)
    entries = cache.entries()
    if as_json:
        print(json.dumps([{"path": str(e.path), "bytes": e.size, **e.metadata} for e in entries], indent=2, default=str))
        return
    table = Table(title=f"feature cache: {cache.dir}")
    for col in ("teacher", "view", "images", "size", "file"):
        table.add_column(col)
    for e in entries:
        m = e.metadata
        table.add_row(str(m.get("teacher", "?")), str(m.get("view", "?")), str(m.get("images", "?")),
                      f"{e.size / 1e6:.2f} MB", e.path.name)
    stdout.print(table)
    stdout.print(f"{len(entries)} file(s), {sum(e.size for e in entries) / 1e6:.2f} MB")


@cache_app.command("clear")
def cache_clear(
    cache_dir: Optional[Path] = CacheDir,
    teacher: Optional[str] = typer.Option(None, help="Only this teacher's features."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete cached features (all, or one teacher's)."""
    cache = FeatureCache(cache_dir)
    if not yes and not typer.confirm(f"Delete cached features in {cache.dir}?"):
        raise typer.Exit(1)
    count, size = cache.clear(teacher)
    stdout.print(f"removed {count} file(s), {size / 1e6:.2f} MB")


@zoo_app.command("ls")
@cli_errors
def zoo_ls(zoo: Optional[Path] = ZooOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the zoo: name, provider, domain, whether the weights are on this machine, and availability."""
    from zoo_distill.zoo.pull import cache_status, human_size

    registry = get_registry()
    zoo_obj = load_zoo(zoo, registry)
    rows = []
    for e in zoo_obj:
        provider = registry.providers[e.provider]
        reason = provider.is_available(e) if provider.is_available else None
        status = cache_status(e)
        rows.append({"name": e.name, "provider": e.provider, "domain": e.domain, "origin": e.origin,
                     "available": reason is None, "reason": reason, "cached": status.cached,
                     "size_bytes": status.size_bytes, **dict(e.options)})
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"zoo: {zoo_obj.path} ({len(zoo_obj)} sources)")
    for col in ("source", "provider", "domain", "cached", "size", "available"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for r in rows:
        cached = {True: "yes", False: "[yellow]no[/yellow]", None: "?"}[r["cached"]]
        table.add_row(r["name"], r["provider"], r["domain"] or "", cached, human_size(r["size_bytes"]),
                      "yes" if r["available"] else f"[red]no[/red]: {r['reason']}")
    stdout.print(table)


@zoo_app.command("pull")
@cli_errors
def zoo_pull(
    names: list[str] = typer.Argument(None, help="Zoo entries to prefetch.", show_default=False),
    all_entries: bool = typer.Option(False, "--all", help="Prefetch every entry of the zoo."),
    zoo: Optional[Path] = ZooOption,
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable report."),
) -> None:
    """Download the weights (and config.json) of hf-hub/timm entries into the Hugging Face cache.

    To prepare an offline machine: pull here, copy $HF_HOME over, set HF_HUB_OFFLINE=1 there."""
    from zoo_distill.zoo.pull import human_size, pull

    if bool(names) == all_entries:
        raise ZooDistillError("name the entries to pull, or pass --all (not both)")
    zoo_obj = load_zoo(zoo, get_registry())
    entries = zoo_obj.select([] if all_entries else list(names))  # unknown names fail here, before any download
    with make_progress(disable=None if not as_json else True) as progress:
        results = pull(entries, progress)
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            where = f" ({r.repo_id}@{r.revision or 'main'})" if r.repo_id else ""
            if r.error:
                stdout.print(f"[red]failed[/red] {r.name}{where}", highlight=False)
            elif r.skipped:
                stdout.print(f"[dim]skipped[/dim] {r.name}: {r.skipped}", highlight=False)
            else:
                got = f"downloaded {', '.join(r.downloaded)} ({human_size(r.bytes_downloaded)})" if r.downloaded else ""
                had = f"already cached {', '.join(r.cached)}" if r.cached else ""
                stdout.print(f"[green]ok[/green] {r.name}{where}: {'; '.join(x for x in (got, had) if x)}",
                             highlight=False)
    failed = [r for r in results if r.error]
    if failed:
        for r in failed:
            stderr.print(f"[bold red]Error:[/bold red] {r.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


@app.command("push")
@cli_errors
def push_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory (student.safetensors + config.json [+ metrics.json])."),
    repo_id: str = typer.Argument(..., help="Hub repo to upload to, e.g. my-org/my-student (created if missing)."),
    revision: str = typer.Option("main", "--revision", help="Branch to commit to (created if missing)."),
    private: bool = typer.Option(False, "--private", help="Create the repo as private (an existing repo keeps "
                                 "its visibility)."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message."),
) -> None:
    """Upload a trained student as a timm-format Hub repo: config.json, model.safetensors and a model card.

    Loads back with timm.create_model("hf-hub:REPO_ID", pretrained=True) or as an hf-hub zoo entry.
    Authentication, endpoint and offline mode are huggingface_hub's (HF_TOKEN / `hf auth login`, HF_ENDPOINT)."""
    from zoo_distill.runs.push import push

    result = push(run_dir, repo_id, revision=revision, private=private, message=message)
    stdout.print(f"pushed {', '.join(result.files)} to {result.repo_id}@{result.revision}: {result.commit_url}",
                 highlight=False, soft_wrap=True)
    stdout.print(f'load with: timm.create_model("hf-hub:{result.repo_id}", pretrained=True)', highlight=False)


# --- training ----------------------------------------------------------------------------------

TARGET_HELP = "Target folder with train/ (and optional unlabeled/, test/) in ImageFolder layout."


def _load_training_data(target, labeled, unlabeled, test, skip_bad_images):
    """Scan the target and decode every image once up front, so a bad file fails before training."""
    with make_progress() as progress:
        task = progress.add_task("checking images", total=None, info="")
        data = load_target(target, labeled, unlabeled, test, skip_bad_images=skip_bad_images,
                           check=("train", "unlabeled", "test"), on_progress=lambda: progress.advance(task))
    if data.skipped:
        stderr.print(f"[yellow]skipped {len(data.skipped)} unreadable image(s)[/yellow]")
    return data


def _train_and_report(spec, data, zoo_path, cache_dir, no_cache, out, resume, as_json) -> None:
    from zoo_distill.runs.run import run as run_method

    registry = get_registry()
    zoo_obj = load_zoo(zoo_path, registry) if spec.method == "distill" else None
    cache = None if no_cache else FeatureCache(cache_dir)
    with make_progress(disable=None if not as_json else True) as progress:
        outcome = run_method(spec, data, zoo_obj, registry, cache, out, resume=resume, progress=progress)
    if not distributed.is_main():
        return
    for note in outcome.notes:
        stderr.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)
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


def _spec(method: str, **kw):
    from zoo_distill.training.config import FixMatchConfig
    from zoo_distill.runs.spec import RunSpec
    from zoo_distill.training.config import TrainConfig

    train = TrainConfig(epochs=kw["epochs"], batch_size=kw["batch_size"], mu=kw["mu"],
                        steps_per_epoch=kw["steps_per_epoch"], lr=kw["lr"], weight_decay=kw["weight_decay"],
                        seed=kw["seed"], device=kw["device"], precision=kw["precision"])
    distill = DistillConfig(lam=kw.get("lam", DistillConfig.lam), views=kw.get("views", DistillConfig.views),
                            feature_loss=kw.get("feature_loss", "cosine"), head=kw.get("head", "linear"),
                            online_teachers=kw.get("online_teachers", False))
    fixmatch = FixMatchConfig(threshold=kw.get("threshold", 0.95), lambda_u=kw.get("lambda_u", 1.0))
    return RunSpec(method=method, aggregator=kw.get("aggregator", "weighted"),
                   aggregator_options=kw.get("aggregator_options", {}),
                   metric=kw.get("metric", DEFAULT_PRIMARY_METRIC),
                   sources=list(kw.get("sources", [])), student=kw["student"], student_init=kw["student_init"],
                   input_size=kw["input_size"], train=train, distill=distill, fixmatch=fixmatch)


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ZooDistillError(f"--agg-opt expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


Student = typer.Option("resnet18", "--student", help="Student architecture: any timm model name.")
StudentInit = typer.Option("pretrained", "--student-init", help="'pretrained' (timm weights from the Hub), "
                           "'scratch', or a safetensors file / folder with model.safetensors + config.json.")
InputSize = typer.Option(None, "--input-size", help="Student input side in pixels \\[default: from its init].")
Epochs = typer.Option(30, min=1, help="Epochs (same for every method: budget parity).")
StepsPerEpoch = typer.Option(None, "--steps-per-epoch", min=1,
                             help="Steps per epoch \\[default: ceil((labeled + unlabeled) / batch size)].")
BatchSize = typer.Option(32, "--batch-size", min=1, help="Labeled images per step.")
Mu = typer.Option(2, "--mu", min=0, help="Unlabeled images per step, as a multiple of the batch size.")
Lr = typer.Option(0.03, "--lr", help="Peak learning rate (SGD, Nesterov momentum 0.9, cosine decay).")
WeightDecay = typer.Option(5e-4, "--weight-decay")
Seed = typer.Option(0, "--seed", help="Seed for sampling, augmentation and initialisation (reproducible on CPU).")
Device = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N.")
Precision = typer.Option("fp32", "--precision", help="fp32 or bf16 (autocast).")
Out = typer.Option(Path("runs/latest"), "--out", "-o", help="Run directory to write.")
Resume = typer.Option(False, "--resume", help="Continue from the run directory's last epoch checkpoint.")
NoCache = typer.Option(False, "--no-cache", help="Neither read nor write cached features.")
SkipBad = typer.Option(False, "--skip-bad-images", help="Skip unreadable images instead of failing.")
AsJson = typer.Option(False, "--json", help="Print metrics.json instead of a summary.")
Target = typer.Option(None, "--target", "-t", help=TARGET_HELP)
Labeled = typer.Option(None, "--labeled", help="Labeled split (class folders).")
Unlabeled = typer.Option(None, "--unlabeled", help="Unlabeled images (any depth).")
Test = typer.Option(None, "--test", help="Test split (class folders).")


@app.command("run")
@cli_errors
def run_cmd(
    target: Optional[Path] = Target, labeled: Optional[Path] = Labeled, unlabeled: Optional[Path] = Unlabeled,
    test: Optional[Path] = Test, zoo: Optional[Path] = ZooOption,
    aggregator: str = typer.Option("weighted", "--aggregator", "-a", help="How sources are weighted: "
                                   "'weighted' (DistillWeighted), 'nearest' (DistillNearest), 'uniform', or a plugin's."),
    metric: str = typer.Option(DEFAULT_PRIMARY_METRIC, "--metric", "-m",
                               help="Similarity metric that feeds the aggregator."),
    source: list[str] = typer.Option([], "--source", "-s", help="Only consider these zoo entries."),
    temperature: Optional[float] = typer.Option(None, help="Aggregator option 'temperature' (weighted)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Aggregator option 'top_k' (weighted)."),
    agg_opt: list[str] = typer.Option([], "--agg-opt", help="Other aggregator option, KEY=VALUE (repeatable)."),
    lam: float = typer.Option(DistillConfig.lam, "--lambda", help="Weight of the feature-distillation term."),
    views: int = typer.Option(DistillConfig.views, "--views", min=1,
                              help="Augmented views per image in the teacher bank."),
    feature_loss: str = typer.Option("cosine", "--feature-loss", help="cosine (default) or mse."),
    head: str = typer.Option("linear", "--head", help="Projection head per source: linear or mlp."),
    online_teachers: bool = typer.Option(False, "--online-teachers", help="Run teachers every step on fresh "
                                         "views instead of the cached bank (slower; for comparison)."),
    student: str = Student, student_init: str = StudentInit, input_size: Optional[int] = InputSize,
    epochs: int = Epochs, steps_per_epoch: Optional[int] = StepsPerEpoch, batch_size: int = BatchSize, mu: int = Mu,
    lr: float = Lr, weight_decay: float = WeightDecay, seed: int = Seed, device: str = Device,
    precision: str = Precision, out: Path = Out, resume: bool = Resume, cache_dir: Optional[Path] = CacheDir,
    no_cache: bool = NoCache, skip_bad_images: bool = SkipBad, as_json: bool = AsJson,
) -> None:
    """Distill the ranked zoo into a small student (DistillWeighted; --aggregator nearest: DistillNearest)."""
    registry = get_registry()
    registry.aggregator(aggregator)
    registry.metric(metric)
    options = _parse_options(agg_opt)
    if temperature is not None:
        options["temperature"] = temperature
    if top_k is not None:
        options["top_k"] = top_k
    known = set(registry.aggregators[aggregator].options)
    if set(options) - known:
        raise ZooDistillError(f"aggregator {aggregator!r} has no option(s) {sorted(set(options) - known)}; "
                              f"known: {sorted(known) or 'none'}")
    if feature_loss not in ("cosine", "mse"):
        raise ZooDistillError(f"--feature-loss must be cosine or mse, got {feature_loss!r}")
    if head not in ("linear", "mlp"):
        raise ZooDistillError(f"--head must be linear or mlp, got {head!r}")
    spec = _spec("distill", aggregator=aggregator, aggregator_options=options, metric=metric, sources=source,
                 lam=lam, views=views, feature_loss=feature_loss, head=head, online_teachers=online_teachers,
                 student=student, student_init=student_init, input_size=input_size, epochs=epochs,
                 steps_per_epoch=steps_per_epoch, batch_size=batch_size, mu=mu, lr=lr, weight_decay=weight_decay,
                 seed=seed, device=device, precision=precision)
    data = _load_training_data(target, labeled, unlabeled, test, skip_bad_images)
    _train_and_report(spec, data, zoo, cache_dir, no_cache, out, resume, as_json)


@baseline_app.command("finetune")
@cli_errors
def finetune_cmd(
    target: Optional[Path] = Target, labeled: Optional[Path] = Labeled, unlabeled: Optional[Path] = Unlabeled,
    test: Optional[Path] = Test,
    student: str = Student, student_init: str = StudentInit, input_size: Optional[int] = InputSize,
    epochs: int = Epochs, steps_per_epoch: Optional[int] = StepsPerEpoch, batch_size: int = BatchSize, mu: int = Mu,
    lr: float = Lr, weight_decay: float = WeightDecay, seed: int = Seed, device: str = Device,
    precision: str = Precision, out: Path = Out, resume: bool = Resume, skip_bad_images: bool = SkipBad,
    as_json: bool = AsJson,
) -> None:
    """Fine-tune the student initialisation on the labeled images only (the paper's transfer baseline).

    Unlabeled images are not trained on, but they count towards the steps per epoch exactly as
    for the other methods, so every method gets the same number of steps."""
    spec = _spec("finetune", student=student, student_init=student_init, input_size=input_size, epochs=epochs,
                 steps_per_epoch=steps_per_epoch, batch_size=batch_size, mu=mu, lr=lr,
                 weight_decay=weight_decay, seed=seed, device=device, precision=precision)
    data = _load_training_data(target, labeled, unlabeled, test, skip_bad_images)
    _train_and_report(spec, data, None, None, True, out, resume, as_json)


@baseline_app.command("fixmatch")
@cli_errors
def fixmatch_cmd(
    target: Optional[Path] = Target, labeled: Optional[Path] = Labeled, unlabeled: Optional[Path] = Unlabeled,
    test: Optional[Path] = Test,
    threshold: float = typer.Option(0.95, help="Confidence needed for a pseudo-label."),
    lambda_u: float = typer.Option(1.0, "--lambda-u", help="Weight of the unlabeled consistency loss."),
    student: str = Student, student_init: str = StudentInit, input_size: Optional[int] = InputSize,
    epochs: int = Epochs, steps_per_epoch: Optional[int] = StepsPerEpoch, batch_size: int = BatchSize, mu: int = Mu,
    lr: float = Lr, weight_decay: float = WeightDecay, seed: int = Seed, device: str = Device,
    precision: str = Precision, out: Path = Out, resume: bool = Resume, skip_bad_images: bool = SkipBad,
    as_json: bool = AsJson,
) -> None:
    """FixMatch (Sohn et al. 2020) on labeled + unlabeled images, same student and budget."""
    spec = _spec("fixmatch", threshold=threshold, lambda_u=lambda_u, student=student, student_init=student_init,
                 input_size=input_size, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                 mu=mu, lr=lr, weight_decay=weight_decay, seed=seed, device=device, precision=precision)
    data = _load_training_data(target, labeled, unlabeled, test, skip_bad_images)
    _train_and_report(spec, data, None, None, True, out, resume, as_json)


@app.command("eval")
@cli_errors
def eval_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory (student.safetensors + config.json)."),
    data: Path = typer.Option(..., "--data", help="Target folder (its test/ split is used) or a folder of "
                              "class folders."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Evaluate a trained student on labeled images: accuracy and per-class accuracy."""
    from zoo_distill.runs.evaluate import evaluate_run

    report = evaluate_run(run_dir, data)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title=f"{run_dir}: accuracy {report['test_accuracy']:.4f} on {report['images']} images")
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    for name, acc in report["per_class_accuracy"].items():
        table.add_row(name, f"{acc:.3f}")
    stdout.print(table)


@app.command("predict")
@cli_errors
def predict_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    images: list[Path] = typer.Argument(..., help="Image files to classify."),
    top: int = typer.Option(1, "--top", min=1, help="Show the top-N classes."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Classify images with a trained student."""
    from zoo_distill.runs.evaluate import predict_images

    rows = predict_images(run_dir, images, top)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"predictions of {run_dir}")
    table.add_column("image")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for row in rows:
        for i, (name, p) in enumerate(row["top"]):
            table.add_row(row["image"] if i == 0 else "", name, f"{p:.3f}")
    stdout.print(table)


def run() -> None:
    """Console-script entry point."""
    app()


from zoo_distill.cli.demo import demo_app  # noqa: E402 - registered last: it reuses cli_errors and stdout

app.add_typer(demo_app, name="demo")

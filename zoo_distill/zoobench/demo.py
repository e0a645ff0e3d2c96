"""The main job on the embedded default: build (or reuse) the mini zoobench, rank it for a demo
target, distill with DistillWeighted, and compare with fine-tuning, FixMatch and DistillNearest at
the same student budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich import box
from rich.console import Console, JustifyMethod
from rich.table import Table

from zoo_distill import api
from zoo_distill.ranking.rank import RankResult
from zoo_distill.ranking.report import rank_table
from zoo_distill.util.progress import make_progress
from zoo_distill.util.text import line
from zoo_distill.zoobench import ZoobenchBuild, ZoobenchSettings
from zoo_distill.zoobench.comparison import Budget, method_label, run_comparison
from zoo_distill.zoobench.workspace import default_root, load_split, open_workspace

__all__ = ["DEMO_METHODS", "DEMO_TARGET", "DemoResult", "comparison_table", "default_root", "run_demo"]

DEMO_TARGET = "shapes-on-textures"
#: The demo's runs by the folder each is written to, run's default first (``comparison`` dicts).
DEMO_METHODS: dict[str, dict[str, Any]] = {
    "default": {
        "aggregator": "weighted",
        "unlabeled_loss": "fixmatch-teachers",
        "teacher_probe": "joint",
        "feature_space": "class",
    },
    "weighted": {"aggregator": "weighted"},
    "finetune": {"method": "finetune"},
    "fixmatch": {"method": "fixmatch"},
    "nearest": {"aggregator": "nearest"},
}


@dataclass
class DemoResult:
    build: ZoobenchBuild
    ranking: RankResult
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def comparison_table(
    results: dict[str, dict[str, Any]], title: str, methods: Mapping[str, Mapping[str, Any]] = DEMO_METHODS
) -> Table:
    """Test accuracy per method (``results`` by the names of ``methods``) with the student's cost
    (equal by construction: one student, one budget)."""
    first = next(iter(results.values()), None)
    caption = None
    if first:
        s = first["student"]
        caption = (
            f"every method trains the same student: {s['arch']}, {s['params'] / 1e6:.2f}M params, "
            f"{s['macs'] / 1e6:.1f} MMACs per image"
            if s.get("macs")
            else f"student {s['arch']}"
        )
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("method", "left"),
        ("test acc.", "right"),
        ("params", "right"),
        ("train s", "right"),
        ("top sources (α)", "left"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=col not in ("method", "top sources (α)"))  # figures whole
    best = max((r["test_accuracy"] for r in results.values()), default=None)
    for method, r in results.items():
        acc = f"{100 * r['test_accuracy']:.1f}%"
        top = sorted(r["alpha"].items(), key=lambda kv: -kv[1])[:3]
        alpha = ", ".join(f"{k.removesuffix('-net')} {v:.2f}" for k, v in top)
        table.add_row(
            method_label(methods[method]) if method in methods else method,
            f"[bold green]{acc}[/]" if r["test_accuracy"] == best else acc,
            f"{r['student']['params'] / 1e6:.2f}M",
            f"{r['train_seconds']:.0f}",
            alpha or "—",
        )
    return table


def run_demo(
    root: Path | None = None,
    out: Path | None = None,
    settings: ZoobenchSettings | None = None,
    target: str = DEMO_TARGET,
    budget: Budget | None = None,
    console: Console | None = None,
    methods: Mapping[str, Mapping[str, Any]] = DEMO_METHODS,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
) -> DemoResult:
    """Build/reuse the zoo, print the ranking, train each of ``methods`` (into ``out``/<its name>),
    print the comparison."""
    console = console or Console()
    settings = settings or ZoobenchSettings.mini()
    if target not in settings.targets:
        raise ValueError(f"target {target!r} is not built by these settings; built: {', '.join(settings.targets)}")
    root = Path(root) if root is not None else default_root()
    out = Path(out) if out is not None else root / "runs"
    budget = budget or Budget()
    with make_progress() as progress:
        workspace = open_workspace(root, settings, progress)
    build, zoo, _, cache = workspace
    console.print(
        line(
            f"zoo in {root}: built {len(build.built)}, reused {len(build.reused)} artefacts "
            f"({len(build.teacher_accuracy)} teachers: {settings.teacher_arch}; "
            f"student: {settings.student_arch})"
        ),
        soft_wrap=True,
    )
    key = f"{settings.shots[0]}shot-s0"
    data = load_split(build, target, key)
    with make_progress() as progress:
        shown = list(dict.fromkeys([budget.ranking_metric, budget.metric]))  # the ranking's, then the weights'
        ranking = api.rank(data, zoo, metrics=shown, cache_dir=cache.root, progress=progress)
    console.print(rank_table(ranking))
    splits = build.targets[target]
    console.print(
        line(
            (
                f"same as: zoo-distill rank --labeled {splits.train[key]} --unlabeled {splits.unlabeled} "
                f"--test {splits.test} --zoo {build.zoo} -m {budget.ranking_metric}",
                "dim",
            )
        ),
        soft_wrap=True,
    )
    console.print(
        line(
            (
                f"DistillWeighted below is: zoo-distill run --aggregator weighted --labeled "
                f"{splits.train[key]} --unlabeled {splits.unlabeled} --test {splits.test} --zoo {build.zoo} "
                f"--student {settings.student_arch} --student-init {build.generic[settings.student_arch]} "
                f"--epochs {budget.epochs} --out {out / 'weighted'}",
                "dim",
            )
        ),
        soft_wrap=True,
    )
    result = DemoResult(build, ranking)
    for name, method in methods.items():
        console.print(f"training {method_label(method)} ({budget.epochs} epochs) …")
        with make_progress() as progress:
            metrics = run_comparison(method, data, workspace, out / name, settings.student_arch, 0, budget, progress)
        result.results[name] = metrics
        if on_result:
            on_result(name, metrics)
    n = len(data.class_names)
    console.print(
        comparison_table(
            result.results,
            f"{target}: {settings.shots[0]} labels per class × {n} classes, "
            f"{len(data.unlabeled)} unlabeled, {len(data.test or ())} test images",
            methods,
        )
    )
    console.print(
        line((f"run directories (student.safetensors, metrics.json, curves.png): {out}", "dim")), soft_wrap=True
    )
    return result

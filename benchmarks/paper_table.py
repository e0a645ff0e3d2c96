"""The paper's table on zoobench: every target, several seeds, every method at one student budget.

    python -m benchmarks.paper_table                       # full zoo, 5 and 20 labels/class, 3 seeds
    python -m benchmarks.paper_table --shots 5 --methods headline

For each target, shot and seed (the seed picks the labeled draw and the training seed) it trains
fine-tune, FixMatch, DistillWeighted, uniform-weight distillation and single-source distillation
from every source; DistillNearest is the single-source run of the default metric's top source
(the same run, so it is not trained twice). Every source is also scored by every metric, for
Kendall tau against the single-source accuracies. Finished runs are kept under ``--out`` with
the settings they ran with (``runs/<target>/<draw>/<run name>.json``, the name rendered from the
run's override dict by ``harness.naming``), and reused on a rerun with the same settings only, so an
interrupted benchmark resumes and a changed setting retrains. Writes ``summary.json``, ``table.md``
and the plots into ``--out`` and prints the table. ``summary.json`` also names the library's
defaults (``default_method``, ``default_metric``) and the ``complementary`` targets, whose
average (and DistillWeighted − DistillNearest on them) is reported on its own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.harness.kept import full_root, kept_result, run_or_reuse, run_signature
from benchmarks.harness.naming import (
    BEST_SINGLE,
    FINETUNE,
    FIXMATCH,
    NEAREST,
    WEIGHTED,
    labels,
    run_from_name,
    run_name,
    single,
    single_source,
)
from benchmarks.harness.plots import plot_metric_scatter, plot_target_bars
from benchmarks.harness.tables import (
    HEADLINE,
    HEADLINE_RUNS,
    accuracy_table,
    group_summary,
    margins,
    markdown_table,
    metric_quality,
    nearest_counterpart,
    oracle_rows,
    single_source_accuracy,
    source_choices,
    summary_keys,
)
from zoo_distill.ranking.rank import rank_sources
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.util.progress import make_progress
from zoo_distill.zoobench import ZoobenchSettings
from zoo_distill.zoobench.build import weights_digest
from zoo_distill.zoobench.comparison import Budget
from zoo_distill.zoobench.workspace import load_split, open_workspace

ALL_METRICS = ("knn", "linear", "logme", "leep", "nce", "nleep", "hscore", "gbc", "sfda", "ncti", "etran")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="zoobench folder (default: <cache>/zoobench/full, or full-seed<N> for --zoo-seed N)",
    )
    p.add_argument(
        "--zoo-seed",
        type=int,
        default=0,
        help="seed of the zoobench (the table reports 0; the defaults are chosen on 1)",
    )
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/paper_table"))
    p.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--targets", nargs="*", default=None)
    p.add_argument(
        "--methods",
        choices=("all", "headline"),
        default="all",
        help="all: + uniform and single-source from every source; headline: the four of the paper",
    )
    p.add_argument(
        "--method",
        action="append",
        default=None,
        metavar="NAME",
        help="train only these runs, by name (repeatable; e.g. method=fixmatch, "
        "aggregator=weighted,unlabeled_loss=fixmatch, aggregator=nearest, "
        "aggregator=nearest,sources=digits-net, or singles: every source's); the report still shows "
        "every kept run",
    )
    p.add_argument(
        "--kept-only",
        action="store_true",
        help="train nothing: report the kept runs (a cell's n says how many seeds it has)",
    )
    p.add_argument(
        "--zoo-weights",
        default=None,
        metavar="DIGEST",
        help="with --kept-only: report the runs kept on another build of this zoo (training is not "
        "bit-reproducible across CPUs, so a rebuild has other weights); the metric scores and "
        "the build's facts are read from --out's summary.json, which must name this digest",
    )
    p.add_argument("--epochs", type=int, default=Budget.epochs)
    p.add_argument(
        "--temperature", type=float, default=None, help="DistillWeighted temperature (default: the plugin's)"
    )
    p.add_argument("--lam", type=float, default=None, help="feature-loss weight (default: DistillOptions')")
    return p.parse_args()


#: The paper's four and the two consistency columns (``--methods headline``), as override dicts.
HEADLINE_ONLY = (
    {"method": "finetune"},
    {"method": "fixmatch"},
    {"aggregator": "nearest"},
    {"aggregator": "weighted"},
    {"aggregator": "weighted", "unlabeled_loss": "fixmatch"},
    {"aggregator": "weighted", "unlabeled_loss": "fixmatch-teachers"},
)
#: Every run of one split (``--methods all``) but the single-source ones: the table's columns, less
#: DistillNearest (the top source's single-source run) and the oracle.
ALL_RUNS = tuple(r for r in HEADLINE_RUNS if r != {"aggregator": "nearest"})


def split_runs(sources: list[str], methods: str) -> list[str]:
    """The run names of one split; ``NEAREST`` is the single-source run of the default metric's top source."""
    if methods == "headline":
        return [run_name(r) for r in HEADLINE_ONLY]
    return [run_name(r) for r in ALL_RUNS] + [run_name(single(s)) for s in sources]


# not a column of the table: reported from kept runs, trained only when named
KEPT_ONLY = [run_name({"aggregator": "nearest", "source_weights": "class"})]


def split(row: dict) -> tuple:
    return row["target"], row["shot"], row["seed"]


def complete_singles(rows: list[dict], sources: int) -> list[dict]:
    """The single-source rows of the splits that have one for every source (a split with only
    DistillNearest's run cannot score a ranking or name the best source)."""
    singles = [r for r in rows if single_source(r["method"]) is not None]
    count = Counter((r["target"], r["shot"], r["seed"]) for r in singles)
    return [r for r in singles if count[(r["target"], r["shot"], r["seed"])] == sources]


def main() -> int:
    args = parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    settings = ZoobenchSettings.full(
        seed=args.zoo_seed, split_seeds=max(args.seeds, 3), shots=tuple(sorted({5, 20, *args.shots}))
    )
    root = args.root or full_root(args.zoo_seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    budget = Budget(epochs=args.epochs)
    if args.temperature is not None:
        budget = replace(budget, aggregator_options={"temperature": args.temperature})
    if args.lam is not None:
        budget = replace(budget, distill={**budget.distill, "lam": args.lam})
    if args.zoo_weights and not args.kept_only:
        raise SystemExit("--zoo-weights reports kept runs only: add --kept-only")
    unknown = [m for m in args.method or [] if m != "singles" and run_from_name(m) is None]
    if unknown:
        raise SystemExit(f"--method takes run names (key=value,...) or singles, not {', '.join(unknown)}")
    kept_build = kept_build_facts(out / "summary.json", args.zoo_weights) if args.zoo_weights else None
    with make_progress() as progress:
        workspace = open_workspace(root, settings, progress)
    build, zoo, registry, cache = workspace
    zoo_weights = args.zoo_weights or weights_digest(build)
    sources = list(zoo.entries)
    targets = args.targets or list(settings.targets)
    rows, scores = [], {}
    for target in targets:
        for shot in args.shots:
            for seed in range(args.seeds):
                key = f"{shot}shot-s{seed}"
                data = load_split(build, target, key)
                if kept_build is not None:  # this build's teachers are not the ones the runs learned from
                    split_scores = kept_build["scores"][(target, shot, seed)]
                else:
                    ranking = rank_sources(data, list(zoo.entries.values()), ALL_METRICS, registry, cache)
                    split_scores = {m: {s.name: s.scores.get(m) for s in ranking.sources} for m in ALL_METRICS}
                scores[(target, shot, seed)] = split_scores
                top = max(sources, key=lambda s: split_scores[budget.ranking_metric][s])
                train = set(args.method or split_runs(sources, args.methods))
                if "singles" in train:  # every source's single-source run: what tau is scored against
                    train = (train - {"singles"}) | {run_name(single(s)) for s in sources}
                nearest_run = run_name(single(top))  # DistillNearest's run: the top source's single run
                for actual in dict.fromkeys(split_runs(sources, "all") + KEPT_ONLY + sorted(train)):
                    actual = nearest_run if actual == NEAREST else actual
                    trains = actual in train or (actual == nearest_run and NEAREST in train)
                    result_file = out / "runs" / target / key / f"{actual}.json"
                    if any(
                        r["method"] == actual
                        for r in rows
                        if (r["target"], r["shot"], r["seed"]) == (target, shot, seed)
                    ):
                        continue
                    if args.kept_only or not trains:
                        result = kept_result(
                            result_file,
                            run_signature(
                                run_from_name(actual), build, settings.student_arch, seed, budget, registry, zoo_weights
                            ),
                        )
                        if result is None:
                            continue
                    else:
                        result = run_or_reuse(
                            run_from_name(actual),
                            data,
                            workspace,
                            result_file,
                            out / "last-run",
                            settings.student_arch,
                            seed,
                            budget,
                        )
                    rows.append({"target": target, "shot": shot, "seed": seed, "method": actual, **result})
                    print(
                        f"{target:20s} {key:10s} {actual:40s} {100 * result['accuracy']:5.1f}  "
                        f"({result['seconds']:.0f}s)",
                        flush=True,
                    )
                nearest = [
                    r
                    for r in rows
                    if (r["target"], r["shot"], r["seed"], r["method"]) == (target, shot, seed, nearest_run)
                ]
                if nearest:
                    rows.append({**nearest[0], "method": NEAREST, "source": top})
    facts = kept_build or {"teacher_accuracy": build.teacher_accuracy, "generic_accuracy": build.generic_accuracy}
    return report(args, settings, facts, rows, scores, sources, time.perf_counter() - started, zoo_weights=zoo_weights)


def kept_build_facts(summary_file: Path, digest: str) -> dict:
    """What the report needs of the build a kept run trained on, from the summary.json written on it:
    its teachers' and generic starts' accuracy and every split's metric scores."""
    try:
        summary = json.loads(summary_file.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"--zoo-weights: cannot read {summary_file}: {err}") from None
    if summary.get("zoo_weights") != digest:
        raise SystemExit(
            f"--zoo-weights: {summary_file} was written on build {summary.get('zoo_weights')}, not {digest}"
        )
    return {
        "teacher_accuracy": summary["teacher_accuracy"],
        "generic_accuracy": summary["generic_accuracy"],
        "scores": {(s["target"], s["shot"], s["seed"]): s["scores"] for s in summary["scores"]},
    }


def report(args, settings, facts, rows, scores, sources, seconds, zoo_weights: str | None = None) -> int:
    out = args.out
    methods = list(HEADLINE) if args.methods == "all" else [run_name(r) for r in HEADLINE_ONLY]
    sections, summary = (
        [],
        {
            "settings": settings.as_dict(),
            "epochs": args.epochs,
            "seeds": args.seeds,
            "teacher_accuracy": facts["teacher_accuracy"],
            "generic_accuracy": facts["generic_accuracy"],
            "zoo_weights": zoo_weights,  # which build: every kept run's signature names it
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
            f"torch {torch.__version__}",
            "wall_seconds": seconds,
            "shots": {},
            **summary_keys(dict.fromkeys(r["target"] for r in rows)),
        },
    )
    complementary = summary["complementary"]
    counterpart = nearest_counterpart(summary["default_method"])  # what weighting adds to the default
    if (
        counterpart
        and summary["default_method"] in methods
        and counterpart not in methods
        and any(r["method"] == counterpart for r in rows)
    ):
        methods.insert(methods.index(summary["default_method"]) + 1, counterpart)
    named = [m for m in getattr(args, "method", None) or [] if m != "singles" and single_source(m) is None]
    methods += [m for m in named if m not in methods]  # a method asked for by name has its column
    ranked = complete_singles(rows, len(sources))  # the oracle and tau need every source's run of a split
    rows = rows + oracle_rows(ranked)
    # Methods are compared on the same draws only: the splits the default method ran on (a method
    # added later may have fewer seeds than the kept ones); tau uses every split with all sources.
    default_splits = {split(r) for r in rows if r["method"] == summary["default_method"]}
    shown = [r for r in rows if split(r) in default_splits] if default_splits else rows
    for shot in args.shots:
        table = accuracy_table(shown, shot, methods)
        seeds = sorted({r["seed"] for r in shown if r["shot"] == shot})
        summary["shots"][shot] = {"seeds": seeds}
        quality = metric_quality(
            {k: v for k, v in scores.items() if k[1] == shot},
            single_source_accuracy([r for r in ranked if r["shot"] == shot]),
        )
        group = group_summary(table, complementary, methods, summary["default_method"])
        original = {t: by for t, by in table.items() if t not in complementary}  # the 0.1 table's six
        over_ft = margins(original, WEIGHTED, FINETUNE)
        over_fm = margins(original, WEIGHTED, FIXMATCH)
        default = summary["default_method"]
        default_over = {
            "fixmatch": margins(original, default, FIXMATCH),
            "finetune": margins(original, default, FINETUNE),
        }
        wins = sum(v >= 0 for t, v in default_over["fixmatch"].items() if t != "average")
        summary["shots"][shot] |= {
            "table": table,
            "weighted_over_finetune": over_ft,
            "weighted_over_fixmatch": over_fm,
            "default_over": default_over,
            "default_wins_over_fixmatch": [wins, len(default_over["fixmatch"]) - 1],
            "complementary": group,
            "metrics": quality,
        }
        text = (
            f"## {shot} labels per class, seeds {', '.join(map(str, seeds))}\n\n"
            + markdown_table(table, methods, labels(methods), {"complementary": complementary})
            + "\n\n"
        )
        # a sentence only where its figure exists (a table of some targets or methods has NaN for the rest)
        if math.isfinite(over_ft["average"]) and math.isfinite(over_fm["average"]):
            text += (
                f"DistillWeighted − fine-tune: {over_ft['average']:+.1f} points; DistillWeighted − FixMatch: "
                f"{over_fm['average']:+.1f} points (averages over the {len(original)} original targets).\n"
            )
        if default in methods and math.isfinite(default_over["fixmatch"]["average"]):
            text += (
                f"The default method ({labels([default])[default]}), on the {len(original)} original targets: "
                f"− FixMatch {default_over['fixmatch']['average']:+.1f} points (ahead or level on {wins} of "
                f"{len(default_over['fixmatch']) - 1}), − fine-tune {default_over['finetune']['average']:+.1f}.\n"
            )
        if group["targets"]:
            per_class = group["weighted_class_over_nearest"]["average"]
            if math.isfinite(group["weighted_over_nearest"]["average"]):
                text += (
                    f"On the complementary targets ({', '.join(group['targets'])}): DistillWeighted − "
                    f"DistillNearest: {group['weighted_over_nearest']['average']:+.1f} points"
                    + (f"; with per-class weights: {per_class:+.1f}" if math.isfinite(per_class) else "")
                    + ".\n"
                )
            own = group["default_over_nearest"]["average"]
            if math.isfinite(own):
                text += (
                    f"The default method − the same with DistillNearest's one source ({labels([counterpart])[counterpart]}), on "
                    f"the complementary targets: {own:+.1f} points.\n"
                )
        sections.append(text)
        if quality:
            lines = [
                "| metric | Kendall τ (mean ± std over splits) | accuracy lost by its top pick (points) |",
                "|---|---:|---:|",
            ]
            for m, q in sorted(quality.items(), key=lambda kv: -kv[1]["tau"]):
                lines.append(f"| {m} | {q['tau']:+.2f} ± {q['tau_std']:.2f} | {q['lost']:.1f} |")
            sections.append("\n".join(lines) + "\n")
            plot_metric_scatter(
                scores, single_source_accuracy(ranked), shot, args.out / f"metric_scatter_{shot}shot.png"
            )
        choices = source_choices(shown, shot)
        summary["shots"][shot]["source_choices"] = choices
        if any(c["weighted_alpha"] for c in choices.values()):
            lines = [
                "| target | DistillWeighted's mean α (top 3) | DistillNearest picked | best single source |",
                "|---|---|---|---|",
            ]
            for target, c in choices.items():
                top = ", ".join(f"{k.removesuffix('-net')} {v:.2f}" for k, v in list(c["weighted_alpha"].items())[:3])
                lines.append(
                    f"| {target} | {top} | {', '.join(x.removesuffix('-net') for x in c['nearest_picks'])} | "
                    f"{', '.join(x.removesuffix('-net') for x in c['oracle_picks'])} |"
                )
            sections.append("\n".join(lines) + "\n")
        plot_target_bars(
            table,
            methods,
            labels(methods),
            out / f"accuracy_{shot}shot.png",
            f"Test accuracy, {shot} labels per class (seeds {', '.join(map(str, seeds))})",
        )
    trained_rows = [r for r in rows if "seconds" in r and r["method"] not in (NEAREST, BEST_SINGLE)]
    trained = sum(r["seconds"] for r in trained_rows)
    summary["run_seconds"] = trained
    summary["rows"] = rows
    summary["scores"] = [{"target": t, "shot": sh, "seed": sd, "scores": v} for (t, sh, sd), v in scores.items()]
    atomic_write_json(out / "summary.json", json.loads(json.dumps(summary, default=str)))
    text = "\n".join(sections) + (
        f"\nMachine: {summary['machine']}. Wall time of this invocation: "
        f"{seconds / 60:.1f} min; the {len(trained_rows)} runs it reports took "
        f"{trained / 60:.1f} min to train (runs kept from an earlier invocation are "
        f"not retrained).\n"
    )
    (out / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which teacher covers which half of a complementary target? Linear probes per half; nothing trains.

    python -m benchmarks.studies.teacher_coverage --summary benchmarks/results/complementary_subspace/summary.json

DistillWeighted can only beat DistillNearest by what the other teachers know that DistillNearest's
one teacher does not. This measures that room on the complementary targets, whose classes come from
two source domains ("halves"), at the level of a linear probe: for every labeled draw, a logistic
regression on each teacher's frozen features of the labeled images (standardized), scored on the test
images of each half; and the same on all teachers' features side by side, with equal block weights
and with each block weighed by √α as the default's joint teacher probe does (α: the weights the
default method's run of that split recorded in ``--summary``). Per target and shot it reports,
averaged over draws:

- each half's best teacher and its probe accuracy on that half;
- the probe accuracy of the teacher NCE ranks first on the split (DistillNearest's teacher; read
  from ``--summary``'s scores) and of the best single teacher in hindsight;
- ``room``: the mean over halves of each half's best teacher minus the best single teacher overall:
  what choosing a teacher per half could add over the best whole-task choice, at the probe level.

The teachers' features come from the zoobench's feature cache when they are there, else they are
extracted (and cached). Writes ``--out`` (JSON) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness.kept import full_root
from zoo_distill.features.extract import extract
from zoo_distill.synthetic.domains import DOMAINS
from zoo_distill.training.methods.teacher_probe import fit_probe
from zoo_distill.zoobench.spec import ZoobenchSettings, complementary_targets, target_spec
from zoo_distill.zoobench.workspace import load_split, open_workspace

ALL = "all teachers"
WEIGHED = "all teachers, blocks weighed by sqrt(alpha)"


def halves(target: str, class_names: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """``(part domain, class indices of the split)`` per part of a complementary target."""
    out = []
    for domain, classes in target_spec(target).parts:
        names = {DOMAINS[domain].class_names[k] for k in classes}
        out.append((domain, np.asarray([i for i, n in enumerate(class_names) if n in names])))
    return out


def probe_predictions(
    train: list[np.ndarray],
    y_train: np.ndarray,
    test: list[np.ndarray],
    n_classes: int,
    block_weights: list[float] | None = None,
) -> np.ndarray:
    """Test-set classes from the teacher probe's recipe (``fit_probe``: standardised features,
    logistic regression) on feature blocks side by side, each weighed as given (default: alike)."""
    weights = (
        None
        if block_weights is None
        else np.concatenate([np.full(b.shape[1], w) for b, w in zip(train, block_weights)])
    )
    probe = fit_probe(np.hstack(train), y_train, n_classes, weights)
    return probe.probabilities(torch.as_tensor(np.hstack(test))).argmax(dim=1).numpy()


def accuracy_by_group(pred: np.ndarray, y_test: np.ndarray, groups: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    """Accuracy on the whole test set (``all``) and on each group of classes."""
    out = {"all": float((pred == y_test).mean())}
    for name, classes in groups:
        mask = np.isin(y_test, classes)
        out[name] = float((pred[mask] == y_test[mask]).mean())
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo-seed", type=int, default=0)
    p.add_argument(
        "--summary",
        type=Path,
        required=True,
        help="a paper_table summary.json of this build (for NCE's pick per split)",
    )
    p.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/teacher_coverage.json"))
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    summary = json.loads(args.summary.read_text())
    nce = {(s["target"], s["shot"], s["seed"]): s["scores"]["nce"] for s in summary["scores"]}
    alphas = {
        (r["target"], r["shot"], r["seed"]): r["alpha"]
        for r in summary["rows"]
        if r["method"] == summary["default_method"] and r.get("alpha")
    }
    settings = ZoobenchSettings.full(seed=args.zoo_seed)
    build, zoo, registry, cache = open_workspace(full_root(args.zoo_seed), settings)
    teachers = {name: registry.provider(e.provider).load(e) for name, e in zoo.entries.items()}
    result: dict[str, dict] = {}
    for target in complementary_targets(settings.targets):
        for shot in args.shots:
            per_draw = []
            for seed in range(args.seeds):
                data = load_split(build, target, f"{shot}shot-s{seed}")
                groups = halves(target, data.class_names)
                y_train, y_test = np.asarray(data.train.labels), np.asarray(data.test.labels)
                feats = {
                    name: (extract(t, data.train.paths, cache).features, extract(t, data.test.paths, cache).features)
                    for name, t in teachers.items()
                }
                n_classes = len(data.class_names)

                def accuracy(names: list[str], block_weights: list[float] | None = None) -> dict[str, float]:
                    pred = probe_predictions(
                        [feats[n][0] for n in names], y_train, [feats[n][1] for n in names], n_classes, block_weights
                    )  # noqa: B023 (called in this iteration)
                    return accuracy_by_group(pred, y_test, groups)  # noqa: B023

                accs = {name: accuracy([name]) for name in teachers}
                accs[ALL] = accuracy(list(teachers))
                alpha = alphas.get((target, shot, seed))
                if alpha:  # the default's joint probe, refitted on these (eval-view) features
                    names = [n for n in teachers if alpha.get(n, 0.0) > 0]
                    accs[WEIGHED] = accuracy(names, [float(np.sqrt(alpha[n])) for n in names])
                scores = nce.get((target, shot, seed))
                pick = max(scores, key=scores.get) if scores else None
                per_draw.append({"accuracy": accs, "nce_pick": pick})
            names = list(teachers) + [ALL] + ([WEIGHED] if all(WEIGHED in d["accuracy"] for d in per_draw) else [])
            mean = {
                n: {g: float(np.mean([d["accuracy"][n][g] for d in per_draw])) for g in per_draw[0]["accuracy"][n]}
                for n in names
            }
            half_names = [g for g in mean[ALL] if g != "all"]
            best_single = max(teachers, key=lambda n: mean[n]["all"])
            best_per_half = {g: max(teachers, key=lambda n, g=g: mean[n][g]) for g in half_names}
            picks = [d["nce_pick"] for d in per_draw]
            nce_acc = float(np.mean([d["accuracy"][d["nce_pick"]]["all"] for d in per_draw if d["nce_pick"]]))
            result[f"{target}/{shot}"] = {
                "target": target,
                "shot": shot,
                "draws": len(per_draw),
                "mean": mean,
                "nce_picks": picks,
                "nce_pick_accuracy": nce_acc,
                "best_single": best_single,
                "weighed_by_draw": [d["accuracy"].get(WEIGHED, {}).get("all") for d in per_draw],
                "all_by_draw": [d["accuracy"][ALL]["all"] for d in per_draw],
                "best_per_half": {g: [n, mean[n][g]] for g, n in best_per_half.items()},
                "room": 100.0
                * (float(np.mean([mean[n][g] for g, n in best_per_half.items()])) - mean[best_single]["all"]),
                "room_over_nce": 100.0 * (float(np.mean([mean[n][g] for g, n in best_per_half.items()])) - nce_acc),
            }
    print(
        "| target, labels | each half's best teacher (probe acc. on its half) | best single (all) | "
        "NCE's pick (all) | all teachers (all) | the same, √α blocks (all) | "
        "room over best single / over NCE's pick |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in result.values():
        halves_text = "; ".join(
            f"{g}: {n.removesuffix('-net')} {100 * a:.1f}" for g, (n, a) in r["best_per_half"].items()
        )
        picks = ", ".join(sorted({p.removesuffix("-net") for p in r["nce_picks"] if p}))
        print(
            f"| {r['target']}, {r['shot']} | {halves_text} | {r['best_single'].removesuffix('-net')} "
            f"{100 * r['mean'][r['best_single']]['all']:.1f} | {picks} {100 * r['nce_pick_accuracy']:.1f} | "
            f"{100 * r['mean'][ALL]['all']:.1f} | "
            f"{100 * r['mean'][WEIGHED]['all'] if WEIGHED in r['mean'] else float('nan'):.1f} | "
            f"{r['room']:+.1f} / {r['room_over_nce']:+.1f} |"
        )
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

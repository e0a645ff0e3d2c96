"""Would a guard that compares the teachers with the student's own start catch negative transfer?

    python -m benchmarks.studies.guard_signal --zoo-seed 1      # writes benchmarks/results/guard_signal/seed1.json

The idea, tried before building it: if a linear probe on the student's *start* (the generic
backbone it is initialised from) separates the labeled images as well as the joint probe on the
teachers' features does, the teachers know no more about the task than the student already does,
and ``run`` could drop the feature term and the teachers' probe (plain FixMatch). Both accuracies
are k-fold cross-validated on the labeled images alone (k = min(5, labels per class); the plain
view: bank view 0 for the teachers, the student's eval transform for the start), so the guard
would cost no training and could be decided before the first step.

It is computed on the zoo of seed 1 only, where the methods were chosen: the guard would have to
fire on ``digits-on-textures`` at 20 labels (the target where the default trails FixMatch on both
zoos) and not where the teachers help most (``cyrillic``, ``handwritten-digits`` at 5 labels).
No training and no test image is used.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def cross_validated(
    features: np.ndarray, labels: np.ndarray, n_classes: int, feature_weights: np.ndarray | None = None, folds: int = 5
) -> float:
    """Accuracy of the teacher-probe recipe (``fit_probe``) over stratified folds of the labeled images."""
    import torch
    from sklearn.model_selection import StratifiedKFold

    from zoo_distill.training.methods.teacher_probe import fit_probe

    k = min(folds, int(np.bincount(labels).min()))
    hits = 0
    for train, held in StratifiedKFold(k, shuffle=True, random_state=0).split(features, labels):
        probe = fit_probe(features[train], labels[train], n_classes, feature_weights)
        predicted = probe.probabilities(torch.as_tensor(features[held], dtype=torch.float32)).argmax(1).numpy()
        hits += int((predicted == labels[held]).sum())
    return hits / len(labels)


def signal(workspace: Any, student_arch: str, target: str, key: str, draw: int) -> dict[str, Any]:
    """The teachers' joint probe and the start's probe on one labeled split, with the default's alpha."""
    import torch

    from zoo_distill.data.store import open_store, store_side
    from zoo_distill.data.store_batches import StoreBatches
    from zoo_distill.data.view_params import eval_views
    from zoo_distill.features.bank import build_bank
    from zoo_distill.runs.run import _weights
    from zoo_distill.runs.spec import resolve_method
    from zoo_distill.training.inputs import pooled_features, student_consumer, student_views
    from zoo_distill.training.student import create_student
    from zoo_distill.zoobench.comparison import Budget, comparison_spec
    from zoo_distill.zoobench.workspace import load_split

    build, zoo, registry, cache = workspace
    data = load_split(build, target, key)
    joint = {"aggregator": "weighted", "unlabeled_loss": "fixmatch-teachers", "teacher_probe": "joint"}
    spec = comparison_spec(joint, build, student_arch, draw, Budget())
    _, options = resolve_method(spec, registry)
    _, alpha, _ = _weights(spec, options, data, zoo, registry, cache, None, [])
    entries = {name: (zoo.entries[name], registry.provider(zoo.entries[name].provider)) for name in alpha}
    n = len(data.train.paths)
    bank = build_bank(
        entries,
        list(data.train.paths),
        options.views,
        spec.policy,
        options.view_seed,
        cache,
        spec.train.batch_size,
        "cpu",
    )
    labels, classes = np.asarray(data.train.labels), len(data.class_names)
    blocks = [bank[s][0, :n].float().numpy() for s in alpha]
    weights = np.concatenate([np.full(b.shape[1], np.sqrt(alpha[s])) for s, b in zip(alpha, blocks)])
    teachers = cross_validated(np.concatenate(blocks, axis=1), labels, classes, weights)
    torch.manual_seed(spec.train.seed)
    student = create_student(spec.student, classes, spec.student_init, spec.input_size)
    student.model.eval()
    store = open_store(list(data.train.paths), store_side(student.data_config), cache.root)
    consumer, batches = student_consumer(student), StoreBatches(store, 64, lambda index: eval_views(len(index)))
    with torch.inference_mode():
        start_features = torch.cat(
            [pooled_features(student.model, student_views(batches[k], consumer, ("e",))) for k in range(len(batches))]
        ).numpy()
    start = cross_validated(start_features, labels, classes)
    top = max(alpha, key=alpha.get)
    return {
        "target": target,
        "split": key,
        "teachers": teachers,
        "start": start,
        "fires": start >= teachers,
        "top_source": top,
        "top_alpha": alpha[top],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo-seed", type=int, default=1)
    parser.add_argument(
        "--root", type=Path, default=None, help="zoobench folder (default: <cache>/zoobench/full[-seedN])"
    )
    parser.add_argument("--targets", nargs="+", default=None, help="default: the six original targets")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/guard_signal"))
    args = parser.parse_args()

    from benchmarks.harness.kept import full_root
    from zoo_distill.util.atomic import atomic_write_json
    from zoo_distill.zoobench.build import weights_digest
    from zoo_distill.zoobench.spec import ZoobenchSettings
    from zoo_distill.zoobench.workspace import open_workspace

    settings = ZoobenchSettings.full(seed=args.zoo_seed)
    workspace = open_workspace(args.root or full_root(args.zoo_seed), settings)
    targets = args.targets or list(settings.targets[:6])
    started, rows = time.perf_counter(), []
    for shot in settings.shots:
        for target in targets:
            for draw in range(args.draws):
                row = signal(workspace, settings.student_arch, target, f"{shot}shot-s{draw}", draw)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\nzoo of seed {args.zoo_seed}; k-fold probe accuracy on the labeled images (plain view)\n")
    print("| target | labels/class | teachers' joint probe (draws) | the student's start (draws) | fires |")
    print("|---|---:|---|---|---:|")
    for shot in settings.shots:
        for target in targets:
            mine = [r for r in rows if r["target"] == target and r["split"].startswith(f"{shot}shot")]
            teachers = " / ".join(f"{r['teachers']:.3f}" for r in mine)
            start = " / ".join(f"{r['start']:.3f}" for r in mine)
            print(f"| {target} | {shot} | {teachers} | {start} | {sum(r['fires'] for r in mine)} of {len(mine)} |")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"seed{args.zoo_seed}.json"
    atomic_write_json(
        out,
        {
            "zoo_seed": args.zoo_seed,
            "zoo_weights": weights_digest(workspace.build),
            "seconds": time.perf_counter() - started,
            "rows": rows,
        },
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

"""The training input pipeline: a step's inputs are the same in any process and for any worker count."""

import hashlib
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch

from zoo_distill.data.store import open_store, store_side
from zoo_distill.data.target import load_target
from zoo_distill.errors import DataError
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.inputs import student_consumer, student_views
from zoo_distill.training.loop import train
from zoo_distill.training.methods.distill import distill_objective
from zoo_distill.training.methods.finetune import FineTune
from zoo_distill.training.methods.fixmatch import FixMatch
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.training.pipeline import StepDataset, StepPlan, step_loader
from zoo_distill.training.student import create_student


def make_method(target_dir, kind: str, size: int = 32):
    """A method on the tiny target, the bank a hand-made [V=4, N, 3] tensor (no teacher)."""
    data = load_target(target_dir)
    labels = np.asarray(data.train.labels)
    n = len(data.train) + len(data.unlabeled)
    torch.manual_seed(0)
    student = create_student("resnet10t", len(data.class_names), "scratch", size)
    side = store_side(student.data_config)
    labeled, unlabeled = open_store(data.train.paths, side, None), open_store(data.unlabeled, side, None)
    if kind == "finetune":
        return FineTune(student, labeled, labels, torch.device("cpu"))
    if kind == "fixmatch":
        return FixMatch(student, labeled, labels, unlabeled, torch.device("cpu"))
    bank = {"t": torch.arange(4 * n * 3, dtype=torch.float32).reshape(4, n, 3)}
    unsup = "fixmatch" if kind == "distill+fixmatch" else "none"
    return distill_objective(
        student,
        labeled,
        labels,
        unlabeled,
        {"t": 1.0},
        bank,
        torch.device("cpu"),
        DistillOptions(views=4, unlabeled_loss=unsup),
    )


def plan_for(method, target_dir, seed: int = 0) -> StepPlan:
    data = load_target(target_dir)
    return StepPlan(seed, len(data.train), len(data.unlabeled), 8, 16 if method.uses_unlabeled else 0)


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


def inputs_digest(inputs) -> str:
    """One digest of every tensor of a step's inputs (the store rows and the views' parameters)."""
    h = hashlib.sha256()
    for key in sorted(k for k, v in inputs.items() if isinstance(v, torch.Tensor)):
        h.update(key.encode() + inputs[key].contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def student_input(method, inputs) -> torch.Tensor:
    """The student's batch of a step, made from its inputs as the method's loss makes it."""
    return student_views(inputs, student_consumer(method.student), ("w", "s"), 10)


#: sha256 prefixes of the student's inputs of steps (epoch 0, step 0) and (1, 2), made from the image
#: store's rows on the CPU (0.3.0: the pixels changed once, from per-image PIL views to batched views).
#: A change of these is a change of every run's pixels: retrain the kept results, then update them.
PINNED = {
    ("distill", 32): ("650c7fa57eac794c", "0dc145b5e121447d"),
    ("distill+fixmatch", 32): ("73fbf5efe70bb22e", "c5dade8646b1944d"),
    ("finetune", 32): ("eebb39818298f8b2", "b97107dec8b4921b"),
    ("distill", 48): ("b3de736c00635658", "6b5646673eb0b0c5"),
}


@pytest.mark.parametrize("kind,size", list(PINNED))
def test_views_are_the_pinned_pixels(target_dir, kind, size):
    method = make_method(target_dir, kind, size)
    plan = plan_for(method, target_dir)
    got = tuple(
        digest(student_input(method, method.make_inputs(plan.batch(epoch, step)))) for epoch, step in ((0, 0), (1, 2))
    )
    assert got == PINNED[kind, size]


@pytest.mark.parametrize("kind", ["distill+fixmatch", "fixmatch"])
def test_inputs_survive_pickling_for_spawned_workers(target_dir, kind):
    method = make_method(target_dir, kind)
    plan = plan_for(method, target_dir)
    copy = pickle.loads(pickle.dumps(method.make_inputs))  # store files are reopened there, by path
    mine, theirs = method.make_inputs(plan.batch(3, 1)), copy(plan.batch(3, 1))
    assert mine.keys() == theirs.keys()
    for key, value in mine.items():
        assert torch.equal(value, theirs[key]) if isinstance(value, torch.Tensor) else value == theirs[key], key


def test_the_loader_yields_every_step_in_order_for_any_worker_count(target_dir):
    method = make_method(target_dir, "distill")
    dataset = StepDataset(plan_for(method, target_dir), method.make_inputs)
    serial = [inputs_digest(item) for item in step_loader(dataset, 1, 3, 4, workers=0)]
    parallel = [inputs_digest(item) for item in step_loader(dataset, 1, 3, 4, workers=2)]
    assert len(serial) == 2 * 4 and parallel == serial
    direct = [inputs_digest(method.make_inputs(dataset.plan.batch(e, s))) for e in (1, 2) for s in range(4)]
    assert serial == direct  # a resumed run (start epoch 1) sees what an uninterrupted one saw


@pytest.mark.parametrize("kind", ["distill+fixmatch", "fixmatch"])
def test_zero_and_two_workers_give_identical_first_epochs(target_dir, kind):
    data = load_target(target_dir)
    config = TrainConfig(epochs=1, batch_size=8, mu=2, seed=5)
    histories, weights = [], []
    for workers in (0, 2):
        method = make_method(target_dir, kind)
        result = train(method, replace(config, workers=workers), len(data.train), len(data.unlabeled), None)
        histories.append([{k: v for k, v in row.items() if k != "seconds"} for row in result.history])
        weights.append({k: v.clone() for k, v in method.student.model.state_dict().items()})
        assert result.throughput["workers"] == workers
    assert histories[0] == histories[1] and np.isfinite(histories[0][0]["loss"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_is_a_data_error_not_a_worker_traceback(target_dir, tmp_path, workers):
    data = load_target(target_dir)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        open_store([*data.train.paths[:-1], broken], 32, tmp_path / "cache", workers=workers)


def test_a_checkpoint_resumes_with_another_worker_count_and_eval_schedule(target_dir, tmp_path):
    """Neither is part of a run's identity: they do not change the trained weights."""
    data = load_target(target_dir)
    first = make_method(target_dir, "finetune")
    train(first, TrainConfig(epochs=1, batch_size=8, workers=0), len(data.train), 0, tmp_path)
    second = make_method(target_dir, "finetune")
    result = train(
        second, TrainConfig(epochs=1, batch_size=8, workers=2, eval_every=1), len(data.train), 0, tmp_path, resume=True
    )
    assert result.resumed_from == 1 and len(result.history) == 1

"""Run directories: outputs timm can load, resume equals uninterrupted, clear errors."""

import json
import logging
import shutil
from dataclasses import replace

import pytest
import timm
import torch

import zoo_distill.training.loop as trainer_module
from zoo_distill.data.target import load_target
from zoo_distill.errors import ZooDistillError
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import get_registry
from zoo_distill.runs.evaluate import evaluate_run, predict_images
from zoo_distill.runs.run import run
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import TrainConfig
from zoo_distill.zoo.file import load_zoo

SHORT = TrainConfig(epochs=3, batch_size=8, mu=1, steps_per_epoch=3, seed=3)


def spec(method="distill", train=SHORT, **kw):
    return RunSpec(
        method=method,
        student="resnet10t",
        student_init="scratch",
        input_size=32,
        train=train,
        method_options={"views": 2} if method == "distill" else {},
        **kw,
    )


def go(task, out, s=None, resume=False, data=None, cache_dir=None):
    registry = get_registry()
    return run(
        s or spec(),
        data or load_target(task.target),
        load_zoo(task.zoo, registry),
        registry,
        FeatureCache(cache_dir or out.parent / "cache"),
        out,
        resume=resume,
    )


@pytest.fixture(scope="module")
def finished(digits_task, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "distill"
    return go(digits_task, out)


def test_run_directory_contents(finished):
    out = finished.run_dir
    for name in (
        "student.safetensors",
        "model.safetensors",
        "config.json",
        "metrics.json",
        "run.json",
        "curves.png",
        "checkpoint.safetensors",
    ):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["per_class_accuracy"]) == {"0", "1", "2", "3"}
    assert len(m["history"]) == 3 and all("test_accuracy" in row and "loss_feat" in row for row in m["history"])
    assert sum(m["alpha"].values()) == pytest.approx(1.0)
    assert m["student"]["params"] > 0 and m["student"]["macs"] > 0 and m["student"]["cpu_latency_ms"] > 0
    assert json.loads((out / "run.json").read_text())["spec"]["train"]["epochs"] == 3


def test_timm_loads_the_student(finished):
    out = finished.run_dir
    model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    assert model.num_classes == 4
    x = torch.randn(2, 3, 32, 32)
    from zoo_distill.runs.export import load_student

    student, _ = load_student(out)
    with torch.inference_mode():
        assert torch.allclose(model(x), student.eval()(x), atol=1e-6)


def test_eval_reproduces_metrics_json(finished, digits_task):
    report = evaluate_run(finished.run_dir, digits_task.target)
    m = json.loads((finished.run_dir / "metrics.json").read_text())
    assert report["test_accuracy"] == pytest.approx(m["test_accuracy"])
    assert report["per_class_accuracy"] == pytest.approx(m["per_class_accuracy"])


def test_predict_returns_known_classes(finished, digits_task):
    images = sorted((digits_task.target / "test" / "2").glob("*.png"))[:3]
    rows = predict_images(finished.run_dir, images, top=2)
    assert [r["image"] for r in rows] == [str(p) for p in images]
    assert all(len(r["top"]) == 2 and r["top"][0][1] >= r["top"][1][1] for r in rows)
    assert all(name in {"0", "1", "2", "3"} for r in rows for name, _ in r["top"])


def test_resume_after_a_crash_equals_an_uninterrupted_run(finished, digits_task, tmp_path, monkeypatch):
    out = tmp_path / "crashy"
    real_save = trainer_module.save_checkpoint
    saves = []

    def crash_after_first_epoch(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(1)
        raise KeyboardInterrupt("simulated crash after epoch 1")

    monkeypatch.setattr(trainer_module, "save_checkpoint", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        go(digits_task, out, cache_dir=finished.run_dir.parent / "cache")
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)
    resumed = go(digits_task, out, resume=True, cache_dir=finished.run_dir.parent / "cache")
    assert resumed.metrics["resumed_from_epoch"] == 1
    assert resumed.metrics["test_accuracy"] == finished.metrics["test_accuracy"]
    for a, b in zip(resumed.metrics["history"], finished.metrics["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["test_accuracy"] == b["test_accuracy"]
    from safetensors.torch import load_file

    w1, w2 = load_file(str(out / "student.safetensors")), load_file(str(finished.run_dir / "student.safetensors"))
    assert all(torch.allclose(w1[k], w2[k], atol=1e-6) for k in w1)


def test_resume_refuses_a_finished_run_unchanged(finished, digits_task, tmp_path):
    out = tmp_path / "done"
    shutil.copytree(finished.run_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ZooDistillError, match="holds a finished run .* left unchanged"):
        go(digits_task, out, resume=True, cache_dir=finished.run_dir.parent / "cache")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_resume_refuses_a_checkpoint_of_another_run(finished, digits_task, tmp_path):
    out = tmp_path / "other"
    shutil.copytree(finished.run_dir, out)
    for name in ("student.safetensors", "model.safetensors", "config.json", "metrics.json", "run.json", "curves.png"):
        (out / name).unlink(missing_ok=True)  # stopped between epochs: a finished run is never resumed at all
    other = spec(aggregator="uniform")
    with pytest.raises(ZooDistillError, match="belongs to a different run"):
        go(digits_task, out, s=other, resume=True, cache_dir=finished.run_dir.parent / "cache")


def test_no_unlabeled_data_trains_on_labeled_only(digits_task, tmp_path):
    data = load_target(labeled=digits_task.target / "train", test=digits_task.target / "test")
    outcome = go(digits_task, tmp_path / "nolab", data=data)
    assert any("no unlabeled images" in note for note in outcome.notes)
    assert outcome.metrics["data"]["unlabeled"] == 0


def test_fewer_than_three_classes_distill_the_full_features_and_say_so(finished, digits_task, tmp_path, caplog):
    assert json.loads((finished.run_dir / "run.json").read_text())["spec"]["method_options"]["feature_space"] == "class"
    two = tmp_path / "two-classes"
    for name in sorted(p.name for p in (digits_task.target / "train").iterdir())[:2]:
        shutil.copytree(digits_task.target / "train" / name, two / name)
    data = load_target(labeled=two, unlabeled=digits_task.target / "unlabeled")
    with caplog.at_level(logging.WARNING):
        outcome = go(digits_task, tmp_path / "binary", s=spec(train=replace(SHORT, epochs=1)), data=data)
    assert any("feature_space=class needs labeled images of at least 3 classes" in n for n in outcome.notes)
    assert "distilling the teachers' full features (feature_space=full)" in caplog.text
    recorded = json.loads((tmp_path / "binary" / "run.json").read_text())["spec"]["method_options"]
    assert recorded["feature_space"] == "full"


def test_unwritable_output_fails_before_training(digits_task, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises((ZooDistillError, OSError)):
        go(digits_task, blocker / "run")


def test_a_timm_that_cannot_export_is_refused_before_training(digits_task, tmp_path, monkeypatch):
    """timm < 1.0.31 has no data_config in save_config_for_hf: the run would train, then fail to export."""
    import zoo_distill.runs.export as export

    def old_save_config_for_hf(model, config_path, model_config=None, model_args=None):
        raise AssertionError("never reached")

    monkeypatch.setattr(export, "save_config_for_hf", old_save_config_for_hf)
    monkeypatch.setattr("zoo_distill.runs.run.train", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(ZooDistillError, match=r"timm>=1\.0\.31"):
        go(digits_task, tmp_path / "old-timm")
    assert not (tmp_path / "old-timm").exists()


def test_baselines_run_with_the_same_budget(digits_task, tmp_path, monkeypatch):
    """Every method takes the same optimizer steps, on as many labeled images each, under the same
    learning rate at every step: what the loop hands the optimizer, recorded per method."""
    real_lr, real_to_device = trainer_module.cosine_lr, trainer_module.to_device
    budget: dict[str, dict[str, list]] = {}

    def cosine_lr(base, step, total):
        lr = real_lr(base, step, total)
        current["lr"].append((step, total, lr))
        return lr

    def to_device(batch, *args, **kwargs):
        if isinstance(batch, dict) and "y" in batch:  # a training step's inputs
            current["labeled"].append(len(batch["y"]))
        return real_to_device(batch, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "cosine_lr", cosine_lr)
    monkeypatch.setattr(trainer_module, "to_device", to_device)
    metrics = {}
    for method in ("finetune", "fixmatch", "distill"):
        current = budget[method] = {"lr": [], "labeled": []}
        m = metrics[method] = go(digits_task, tmp_path / method, s=spec(method)).metrics
        assert m["method"] == method and len(m["history"]) == SHORT.epochs
    steps = SHORT.epochs * SHORT.steps_per_epoch
    for method, seen in budget.items():
        assert seen["labeled"] == [SHORT.batch_size] * steps, method
        per_step = sorted(set(seen["lr"]))  # one call per parameter group, the same value for each
        assert [(s, total) for s, total, _ in per_step] == [(s, steps) for s in range(steps)], method
    assert budget["fixmatch"]["lr"][0][2] > budget["fixmatch"]["lr"][-1][2]  # a schedule, not a constant
    assert (
        sorted(set(budget["finetune"]["lr"]))
        == sorted(set(budget["fixmatch"]["lr"]))
        == sorted(set(budget["distill"]["lr"]))
    )
    assert metrics["finetune"]["alpha"] == metrics["fixmatch"]["alpha"] == {} and metrics["distill"]["alpha"]
    assert "mask" in metrics["fixmatch"]["history"][0] and "loss_unsup" in metrics["fixmatch"]["history"][0]


def test_resume_with_another_worker_count_is_bit_identical(finished, digits_task, tmp_path, monkeypatch):
    """Crash after epoch 1 with the inputs made in this process, resume with 2 worker processes: the
    same history and the same weights, to the bit, as the uninterrupted run (default workers)."""
    out = tmp_path / "workers"
    real_save = trainer_module.save_checkpoint

    def crash_after_first_epoch(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt("simulated crash after epoch 1")

    monkeypatch.setattr(trainer_module, "save_checkpoint", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        go(digits_task, out, s=spec(train=replace(SHORT, workers=0)), cache_dir=finished.run_dir.parent / "cache")
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)
    resumed = go(
        digits_task,
        out,
        s=spec(train=replace(SHORT, workers=2)),
        resume=True,
        cache_dir=finished.run_dir.parent / "cache",
    )
    assert resumed.metrics["resumed_from_epoch"] == 1 and resumed.metrics["throughput"]["workers"] == 2
    strip = [
        [{k: v for k, v in row.items() if k != "seconds"} for row in m["history"]]
        for m in (resumed.metrics, finished.metrics)
    ]
    assert strip[0] == strip[1]
    from safetensors.torch import load_file

    w1, w2 = load_file(str(out / "student.safetensors")), load_file(str(finished.run_dir / "student.safetensors"))
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_metrics_json_says_what_was_evaluated_when(digits_task, tmp_path):
    s = spec("finetune", train=replace(SHORT, epochs=5, eval_every=2))
    m = go(digits_task, tmp_path / "every2", s=s).metrics
    assert m["evaluation"]["epochs"] == [2, 4, 5] and m["evaluation"]["every"] == 2
    assert m["evaluation"]["batch_size"] == SHORT.batch_size and m["evaluation"]["split"] == "test"
    assert 0 < m["evaluation"]["seconds"] < m["train_seconds"]
    assert ["test_accuracy" in row for row in m["history"]] == [False, True, False, True, True]
    assert m["test_accuracy"] == m["history"][-1]["test_accuracy"]  # the last evaluation is the final one
    assert set(m["per_class_accuracy"]) == {"0", "1", "2", "3"}
    assert json.loads((tmp_path / "every2" / "metrics.json").read_text())["evaluation"] == m["evaluation"]


def test_a_student_input_size_far_from_the_images_is_warned_about(digits_task, tmp_path, caplog):
    """resnet10t's default input is 176 px; the digits are 32 px: one line that names --input-size."""
    s = RunSpec(
        method="finetune",
        student="resnet10t",
        student_init="scratch",
        train=replace(SHORT, epochs=1, steps_per_epoch=1),
    )
    with caplog.at_level(logging.WARNING, logger="zoo_distill.runs.run"):
        outcome = go(digits_task, tmp_path / "big", s=s)
    warned = [r.getMessage() for r in caplog.records if "--input-size" in r.getMessage()]
    assert len(warned) == 1 and "\n" not in warned[0], warned
    assert "176-px" in warned[0] and "about 32 px" in warned[0] and "--input-size 32" in warned[0]
    assert warned[0] in outcome.notes
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zoo_distill.runs.run"):
        chosen = go(digits_task, tmp_path / "chosen", s=replace(s, input_size=64))  # the user's choice: no warning
    assert not [r for r in caplog.records if "--input-size" in r.getMessage()]
    assert not [note for note in chosen.notes if "--input-size" in note]

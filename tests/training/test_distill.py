import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from zoo_distill.data.pool import ImagePool
from zoo_distill.data.target import load_target
from zoo_distill.errors import ConfigError
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import get_registry
from zoo_distill.runs.run import run
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import DistillConfig, FixMatchConfig, TrainConfig
from zoo_distill.training.inputs import classify, pooled_features
from zoo_distill.training.loop import StepBatch
from zoo_distill.training.methods import distill as distill_module
from zoo_distill.training.methods.distill import Distill, active_weights, feature_loss
from zoo_distill.training.student import create_student
from zoo_distill.zoo.file import load_zoo

FAST = TrainConfig(epochs=10, batch_size=16, mu=2, seed=0)


def test_active_weights_drop_tiny_sources_and_renormalise():
    assert active_weights({"a": 0.7, "b": 0.2995, "c": 0.0005}, 1e-3) == pytest.approx({"a": 0.7 / 0.9995,
                                                                                        "b": 0.2995 / 0.9995})
    with pytest.raises(ValueError, match="every source weight is zero"):
        active_weights({"a": 0.0, "b": 0.0}, 1e-3)


def test_cosine_feature_loss():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert feature_loss("cosine", a, a * 3).item() == pytest.approx(0.0, abs=1e-6)
    assert feature_loss("cosine", a, -a).item() == pytest.approx(2.0)
    assert feature_loss("cosine", a, a.flip(1)).item() == pytest.approx(1.0)


def train_on(task, tmp_path, method, aggregator="weighted", **distill):
    registry = get_registry()
    spec = RunSpec(method=method, aggregator=aggregator, student="resnet10t", student_init="scratch",
                   input_size=32, train=FAST, distill=DistillConfig(views=4, **distill))
    return run(spec, load_target(task.target), load_zoo(task.zoo, registry), registry,
               FeatureCache(tmp_path / "cache"), tmp_path / method)


def test_distilling_a_related_teacher_beats_finetuning(digits_task, tmp_path):
    """The paper's claim in miniature: same student, same budget, distillation wins on held-out data."""
    distilled = train_on(digits_task, tmp_path, "distill").metrics
    finetuned = train_on(digits_task, tmp_path, "finetune").metrics
    assert distilled["alpha"]["digits-net"] > 0.9  # the ranking found the related teacher
    assert distilled["test_accuracy"] >= finetuned["test_accuracy"] + 0.2, (distilled["test_accuracy"],
                                                                           finetuned["test_accuracy"])
    losses = [row["loss_feat"] for row in distilled["history"]]
    assert losses[-1] < 0.5 * losses[0]  # the student learned to predict the teacher's features


# --- distillation plus FixMatch-style consistency (--unlabeled-loss fixmatch) and the lambda guards ---

TINY = TrainConfig(epochs=4, batch_size=8, mu=2, seed=0)  # 18 labeled + 10 unlabeled: 4 steps per epoch


def distill_run(target_dir, zoo, out, aggregator="weighted", student="resnet10t", fixmatch=None, train=TINY,
                **distill):
    registry = get_registry()
    spec = RunSpec(method="distill", aggregator=aggregator, student=student, student_init="scratch", input_size=32,
                   train=train, distill=DistillConfig(views=2, **distill), fixmatch=fixmatch or FixMatchConfig())
    return run(spec, load_target(target_dir), load_zoo(zoo, registry), registry, FeatureCache(out.parent / "cache"),
               out)


def never_confident() -> FixMatchConfig:
    """A threshold no softmax reaches (the config refuses it from users: thresholds live in [0, 1])."""
    config = FixMatchConfig()
    object.__setattr__(config, "threshold", 1.01)
    return config


def losses(outcome) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in outcome.metrics["history"]]


def column(outcome, key: str) -> list[float]:
    return [row[key] for row in outcome.metrics["history"]]


def test_distillation_plus_consistency_trains_and_records_its_settings(target_dir, tiny_zoo, tmp_path):
    outcome = distill_run(target_dir, tiny_zoo, tmp_path / "run", unlabeled_loss="fixmatch")
    history = outcome.metrics["history"]
    assert {"loss_ce", "loss_feat", "loss_unsup", "mask"} <= set(history[0])
    assert "lam_feat" not in history[0]  # no guard on lambda unless asked for
    assert column(outcome, "loss")[-1] < column(outcome, "loss")[0]
    assert column(outcome, "loss_ce")[-1] < 0.5 * column(outcome, "loss_ce")[0]
    assert column(outcome, "loss_feat")[-1] < 0.5 * column(outcome, "loss_feat")[0]
    assert max(column(outcome, "mask")) > 0.5 and max(column(outcome, "loss_unsup")) > 0  # pseudo-labels were used
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["spec"]
    assert spec["distill"]["unlabeled_loss"] == "fixmatch"
    assert spec["distill"]["lam_schedule"] == "constant" and spec["distill"]["lam_scale"] == "none"
    assert spec["fixmatch"]["threshold"] == 0.95 and spec["fixmatch"]["lambda_u"] == 1.0


def test_same_seed_gives_identical_losses_and_weights(target_dir, tiny_zoo, tmp_path):
    train = replace(TINY, epochs=2)
    first = distill_run(target_dir, tiny_zoo, tmp_path / "a", train=train, unlabeled_loss="fixmatch")
    torch.manual_seed(1234)  # the global torch state before a run must not matter
    second = distill_run(target_dir, tiny_zoo, tmp_path / "b", train=train, unlabeled_loss="fixmatch")
    assert losses(first) == losses(second)
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_without_confident_pseudo_labels_the_run_equals_pure_distillation(target_dir, tiny_zoo, tmp_path):
    """A student without batch-norm (test_vit): with it, the strong views in the batch shift the
    batch statistics, as in FixMatch, and the two runs differ by that alone."""
    train = replace(TINY, epochs=3)
    pure = distill_run(target_dir, tiny_zoo, tmp_path / "pure", student="test_vit", train=train,
                       unlabeled_loss="none")
    mixed = distill_run(target_dir, tiny_zoo, tmp_path / "mixed", student="test_vit", train=train,
                        unlabeled_loss="fixmatch", fixmatch=never_confident())
    assert column(mixed, "loss_unsup") == [0.0] * 3 and column(mixed, "mask") == [0.0] * 3
    for key in ("loss", "loss_ce", "loss_feat"):
        assert column(mixed, key) == pytest.approx(column(pure, key), rel=1e-5, abs=1e-6), key


@pytest.mark.parametrize("aggregator", ["nearest", "weighted", "uniform"])
def test_consistency_works_with_every_aggregator(aggregator, target_dir, tiny_zoo, tmp_path):
    outcome = distill_run(target_dir, tiny_zoo, tmp_path / aggregator, aggregator=aggregator,
                          train=replace(TINY, epochs=2), unlabeled_loss="fixmatch", lam_schedule="cosine",
                          lam_scale="knn")
    alpha = outcome.metrics["alpha"]
    assert sum(alpha.values()) == pytest.approx(1.0)
    if aggregator == "nearest":
        assert sorted(alpha.values()) == [1.0]  # the other source is dropped
    if aggregator == "uniform":
        assert alpha == pytest.approx({"teacher-a": 0.5, "teacher-b": 0.5})
    for row in outcome.metrics["history"]:
        assert all(np.isfinite(row[k]) for k in ("loss", "loss_ce", "loss_feat", "loss_unsup", "mask", "lam_feat"))
    lam_feat = column(outcome, "lam_feat")
    assert lam_feat[1] < lam_feat[0] <= 10.0  # the cosine schedule lowers lambda over the run


# --- the objective on one batch, with hand-made teacher banks ---

def make_distill(target_dir, bank: dict[str, torch.Tensor], train: TrainConfig | None = None,
                 fixmatch: FixMatchConfig | None = None, **distill) -> Distill:
    data = load_target(target_dir)
    torch.manual_seed(0)
    student = create_student("resnet10t", len(data.class_names), "scratch", 32)
    return Distill(student, ImagePool(data.train.paths), np.asarray(data.train.labels), ImagePool(data.unlabeled),
                   {s: 1.0 / len(bank) for s in bank}, bank, DistillConfig(views=2, **distill), torch.device("cpu"),
                   fixmatch=fixmatch, train=train)


def batch(epoch: int = 0, step: int = 0) -> StepBatch:
    return StepBatch(np.arange(8), np.arange(4), np.random.default_rng(0), epoch, step)


def step_loss(method: Distill, step: StepBatch):
    """The loss of one step: the inputs a DataLoader worker makes, then the model's part."""
    return method.loss(method.make_inputs(step))


def circle_bank(labels: np.ndarray, n_unlabeled: int) -> torch.Tensor:
    """[V=2, N, 2] features whose every nearest labeled neighbour is of another class."""
    classes = int(labels.max()) + 1
    rank = np.array([np.sum(labels[:i] == y) for i, y in enumerate(labels)])
    angle = 2 * np.pi * (classes * rank + labels) / len(labels)
    labeled = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    unlabeled = np.random.default_rng(0).normal(size=(n_unlabeled, 2))
    return torch.from_numpy(np.concatenate([labeled, unlabeled])).float().expand(2, -1, -1).contiguous()


def test_knn_scale_drops_a_misleading_zoo_and_leaves_consistency_training(target_dir):
    data = load_target(target_dir)
    labels = np.asarray(data.train.labels)
    misleading = {"misleading": circle_bank(labels, len(data.unlabeled))}
    guarded = make_distill(target_dir, misleading, unlabeled_loss="fixmatch", lam_scale="knn")
    assert guarded.relevance == {"misleading": 0.0}
    loss, logs = step_loss(guarded, batch())
    assert logs["lam_feat"] == 0.0 and logs["loss_feat"] > 0  # the term is there but weighs nothing
    no_teacher, _ = step_loss(make_distill(target_dir, misleading, unlabeled_loss="fixmatch", lam=0.0), batch())
    assert loss.item() == no_teacher.item()  # exactly what consistency training alone optimises

    fitting = torch.from_numpy(np.eye(3)[np.concatenate([labels, np.zeros(len(data.unlabeled), int)])]).float()
    trusted = make_distill(target_dir, {"fitting": fitting.expand(2, -1, -1).contiguous()}, lam_scale="knn",
                           unlabeled_loss="none")
    assert trusted.relevance == {"fitting": 1.0}
    loss, logs = step_loss(trusted, batch())
    assert logs["lam_feat"] == 10.0 and loss.item() == pytest.approx(logs["loss_ce"] + 10.0 * logs["loss_feat"])


def test_lambda_schedule_follows_the_global_step(target_dir):
    data = load_target(target_dir)
    bank = {"any": circle_bank(np.asarray(data.train.labels), len(data.unlabeled))}
    train = TrainConfig(epochs=4, batch_size=8, steps_per_epoch=5)
    linear = make_distill(target_dir, bank, train=train, lam_schedule="linear")
    assert [linear.lam_at(e, s) for e, s in ((0, 0), (1, 0), (2, 0), (3, 4))] == pytest.approx(
        [10.0, 7.5, 5.0, 0.5])
    _, logs = step_loss(linear, batch(2, 0))
    assert logs["lam_feat"] == pytest.approx(5.0)
    assert make_distill(target_dir, bank, train=train).lam_at(3, 4) == 10.0  # constant: today's behaviour
    with pytest.raises(ValueError, match="training length"):
        make_distill(target_dir, bank, lam_schedule="cosine")


def test_new_settings_are_validated_with_the_option_names():
    for kwargs, option in (({"unlabeled_loss": "mixmatch"}, "--unlabeled-loss"),
                           ({"lam_schedule": "step"}, "--lambda-schedule"),
                           ({"lam_scale": "logme"}, "--lambda-scale")):
        with pytest.raises(ConfigError, match=option):
            DistillConfig(**kwargs)
    # the benchmark's choice (docs/results.md); the paper's pure distillation is --unlabeled-loss none
    assert DistillConfig().unlabeled_loss == "fixmatch-teachers" and DistillConfig().teacher_probe == "joint"
    assert DistillConfig().feature_space == "class"


# --- per-class source weights (--source-weights class) ---

def expert_bank(labels: np.ndarray, n_unlabeled: int, known: set[int], seed: int) -> torch.Tensor:
    """[V=2, N, 4] features that gather the labeled images of the ``known`` classes and scatter the rest."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(labels) + n_unlabeled, 4))
    for i, y in enumerate(labels):
        if int(y) in known:
            x[i] = 0.01 * rng.normal(size=4)
            x[i, int(y)] += 5.0
    return torch.from_numpy(x).float().expand(2, -1, -1).contiguous()


def test_per_class_weights_train_each_class_on_its_own_teacher(target_dir):
    data = load_target(target_dir)
    labels = np.asarray(data.train.labels)
    bank = {"left": expert_bank(labels, len(data.unlabeled), {0}, seed=0),
            "right": expert_bank(labels, len(data.unlabeled), {1, 2}, seed=1)}
    torch.manual_seed(0)
    student = create_student("resnet10t", 3, "scratch", 32)
    method = Distill(student, ImagePool(data.train.paths), labels, ImagePool(data.unlabeled),
                     {"left": 1 / 3, "right": 2 / 3}, bank, DistillConfig(views=2, source_weights="class"),
                     torch.device("cpu"), class_alpha={"left": np.array([1.0, 0.0, 0.0]),
                                                       "right": np.array([0.0, 1.0, 1.0])})
    assert method.class_alpha.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]

    first = np.flatnonzero(labels == 0)[:4]  # labeled images of class 0 only: the right teacher weighs nothing
    loss, logs = step_loss(method, StepBatch(first, np.arange(0), np.random.default_rng(0), 0, 0))
    loss.backward()
    assert logs["loss_feat_right"] > 0 and float(method.heads["right"].weight.grad.abs().max()) == 0.0
    assert float(method.heads["left"].weight.grad.abs().max()) > 0.0

    weights = method.image_weights(torch.tensor([2, 0]), torch.zeros(3, 3))  # unsure student: mean of A's rows
    assert np.allclose(weights.numpy(), [[0.0, 1.0], [1.0, 0.0], *[[1 / 3, 2 / 3]] * 3])
    _, logs = step_loss(method, batch())  # labeled and unlabeled images: finite, and the same objective's scale
    assert 0 < logs["loss_feat"] <= 2.0
    for bad, message in (({"left": np.array([1.0, 0.0, 0.0])}, "no weights for right"),
                         ({"left": np.array([1.0, 0.5, 0.0]), "right": np.array([0.0, 1.0, 1.0])}, "sum to 1"),
                         ({"left": np.array([1.0, 0.0]), "right": np.array([0.0, 1.0])}, "3 classes")):
        with pytest.raises(ValueError, match=message):
            Distill(student, ImagePool(data.train.paths), labels, ImagePool(data.unlabeled),
                    {"left": 0.5, "right": 0.5}, bank, DistillConfig(views=2), torch.device("cpu"), class_alpha=bad)


def test_per_class_weights_through_run_with_consistency(target_dir, tiny_zoo, tmp_path):
    outcome = distill_run(target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=2),
                          unlabeled_loss="fixmatch", source_weights="class")
    alpha, per_class = outcome.metrics["alpha"], outcome.metrics["class_alpha"]
    assert sum(alpha.values()) == pytest.approx(1.0) and set(per_class) == set(alpha)
    assert np.allclose(np.sum(list(per_class.values()), axis=0), 1.0)  # every class's weights sum to 1
    assert alpha == pytest.approx({s: np.mean(w) for s, w in per_class.items()})
    assert any("per-class average precision" in note for note in outcome.notes)  # teacher-b has no head
    for row in outcome.metrics["history"]:
        assert all(np.isfinite(row[k]) for k in ("loss", "loss_ce", "loss_feat", "loss_unsup"))
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["spec"]
    assert spec["distill"]["source_weights"] == "class"
    with pytest.raises(ConfigError, match="--source-weights"):
        DistillConfig(source_weights="sample")


# --- pseudo-labels weighed by the teacher probes (--unlabeled-loss fixmatch-teachers) ---

def class_bank(target_dir) -> torch.Tensor:
    """[V=2, N, 3] one-hot features of every image's true class (the unlabeled image i is of class i % 3)."""
    data = load_target(target_dir)
    classes = np.concatenate([np.asarray(data.train.labels), np.arange(len(data.unlabeled)) % 3])
    return torch.from_numpy(np.eye(3)[classes]).float().expand(2, -1, -1).contiguous()


def record_priors(monkeypatch) -> list:
    """The ``prior`` of every consistency_loss call that distillation makes from now on."""
    priors, real = [], distill_module.consistency_loss

    def recording(weak, strong, threshold, prior=None):
        priors.append(prior)
        return real(weak, strong, threshold, prior)

    monkeypatch.setattr(distill_module, "consistency_loss", recording)
    return priors


def test_teacher_probes_give_pseudo_labels_the_untrained_student_cannot(target_dir, monkeypatch):
    bank = {"knows-the-classes": class_bank(target_dir)}
    low = FixMatchConfig(threshold=0.6)
    with_teachers = make_distill(target_dir, bank, fixmatch=low, unlabeled_loss="fixmatch-teachers")
    priors = record_priors(monkeypatch)
    step = batch()
    inputs = with_teachers.make_inputs(step)
    _, logs = with_teachers.loss(inputs)
    # the prior is the probes' prediction on the banked view of each unlabeled image of the batch (18 labeled first)
    drawn = inputs["target:knows-the-classes"][8:]
    assert torch.equal(priors[0], with_teachers.probes.probabilities({"knows-the-classes": drawn}))
    assert priors[0].argmax(dim=1).tolist() == [0, 1, 2, 0]  # unlabeled images 0-3: classes i % 3
    monkeypatch.undo()
    _, plain = step_loss(make_distill(target_dir, bank, fixmatch=low, unlabeled_loss="fixmatch"), batch())
    assert logs["mask"].item() == 1.0 and plain["mask"].item() < 1.0
    assert make_distill(target_dir, bank, unlabeled_loss="fixmatch").probes is None
    joint = make_distill(target_dir, bank, unlabeled_loss="fixmatch-teachers", teacher_probe="joint").probes
    assert joint.joint is not None and not joint.probes


def test_teacher_probes_through_run(target_dir, tiny_zoo, tmp_path, monkeypatch):
    priors = record_priors(monkeypatch)
    outcome = distill_run(target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=2),
                          unlabeled_loss="fixmatch-teachers")
    assert {"loss_unsup", "mask"} <= set(outcome.metrics["history"][0])
    assert column(outcome, "loss_ce")[-1] < column(outcome, "loss_ce")[0]
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["spec"]
    assert spec["distill"]["unlabeled_loss"] == "fixmatch-teachers"
    assert priors and all(p is not None and torch.allclose(p.sum(dim=1), torch.ones(len(p))) for p in priors)
    online = distill_run(target_dir, tiny_zoo, tmp_path / "online", train=replace(TINY, epochs=1),
                         unlabeled_loss="fixmatch-teachers", online_teachers=True)
    assert np.isfinite(column(online, "loss")[0])


# --- the teachers' discriminant subspace (--feature-space class) ---

def nuisance_bank(target_dir, seed: int = 0) -> torch.Tensor:
    """[V=2, N, 6] features: the class one-hot on dims 0-2 plus noise, and a large nuisance on dims 3-5
    that varies from image to image whatever its class."""
    rng = np.random.default_rng(seed)
    onehot = class_bank(target_dir)[0].numpy()
    x = np.concatenate([3.0 * onehot, 20.0 * rng.normal(size=(len(onehot), 3))], axis=1)
    views = np.stack([x + 0.1 * rng.normal(size=x.shape) for _ in range(2)])
    return torch.from_numpy(views).float()


def test_class_subspace_distills_the_classes_coordinates_and_probes_the_full_features(target_dir):
    bank = {"teacher": nuisance_bank(target_dir)}
    method = make_distill(target_dir, bank, unlabeled_loss="fixmatch-teachers", feature_space="class")
    subspace = method.subspaces["teacher"]
    assert subspace.dim == 2 and method.heads["teacher"].out_features == 2  # 3 classes
    assert method.probes.joint.weight.shape[1] == 6  # the probe still reads every feature
    inputs = method.make_inputs(batch())
    loss, logs = method.loss(inputs)
    assert torch.isfinite(loss) and 0 < logs["loss_feat"] <= 2.0
    loss.backward()
    assert float(method.heads["teacher"].weight.grad.abs().max()) > 0
    # the coordinates it distills tell the classes apart and ignore the nuisance
    labeled = bank["teacher"][0, :18]
    coords = subspace(labeled)
    moved = labeled.clone()
    moved[:, 3:] += 40.0
    assert (subspace(moved) - coords).norm(dim=1).mean() < 0.1 * coords.norm(dim=1).mean()
    full = make_distill(target_dir, bank, unlabeled_loss="fixmatch-teachers", feature_space="full")
    assert full.subspaces == {} and full.heads["teacher"].out_features == 6


def test_class_subspace_through_run_is_recorded(target_dir, tiny_zoo, tmp_path):
    outcome = distill_run(target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=2),
                          feature_space="class")
    assert column(outcome, "loss_ce")[-1] < column(outcome, "loss_ce")[0]
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["spec"]
    assert spec["distill"]["feature_space"] == "class"
    online = distill_run(target_dir, tiny_zoo, tmp_path / "online", train=replace(TINY, epochs=1),
                         feature_space="class", online_teachers=True, unlabeled_loss="none")
    assert np.isfinite(column(online, "loss_feat")[0])


def test_feature_space_is_validated_and_left_out_of_old_signatures():
    with pytest.raises(ConfigError, match="--feature-space"):
        DistillConfig(feature_space="pca")
    # kept runs trained before it existed (full features) keep their signatures; the default is named
    assert "feature_space" not in DistillConfig(feature_space="full").identity()
    assert DistillConfig().identity()["feature_space"] == "class"


# --- the agreement gate on the feature term (--feature-gate agreement) ---

def student_weak_classes(method: Distill, inputs) -> torch.Tensor:
    """The student's class for each unlabeled weak view of the step (what the gate compares)."""
    n_b, n_u = len(inputs["y"]), inputs["n_unlabeled"]
    with torch.no_grad():
        g = pooled_features(method.student.model, inputs["x"])
        return classify(method.student.model, g[n_b:n_b + n_u]).argmax(dim=1)


@pytest.mark.parametrize("unlabeled_loss", ["fixmatch", "none"])  # --threshold applies without consistency too
def test_the_gate_drops_the_terms_the_confident_student_contradicts(target_dir, unlabeled_loss):
    bank = {"teacher": nuisance_bank(target_dir)}
    everyone_confident = FixMatchConfig(threshold=0.0)
    method = make_distill(target_dir, bank, unlabeled_loss=unlabeled_loss, feature_space="class",
                          feature_gate="agreement", fixmatch=everyone_confident)
    inputs = method.make_inputs(batch())
    loss, logs = method.loss(inputs)
    # the teacher's LDA classes are the unlabeled images' true ones (image i is of class i % 3)
    teacher = torch.as_tensor(np.arange(4) % 3)
    expected = (student_weak_classes(method, inputs) != teacher).float().mean()
    assert float(expected) > 0  # the untrained student contradicts the teacher (on 1 to 4 of the 4 images)
    assert float(logs["gated"]) == pytest.approx(float(expected))
    assert torch.isfinite(loss)
    loss.backward()
    assert float(method.heads["teacher"].weight.grad.abs().max()) > 0  # the labeled images still distill


def test_an_unsure_student_keeps_every_term_and_the_loss_of_no_gate(target_dir):
    bank = {"teacher": nuisance_bank(target_dir)}
    losses_by_gate = {}
    for gate in ("none", "agreement"):
        method = make_distill(target_dir, bank, unlabeled_loss="fixmatch", feature_space="class",
                              feature_gate=gate, fixmatch=never_confident())
        loss, logs = method.loss(method.make_inputs(batch()))
        losses_by_gate[gate] = (float(loss.detach()), float(logs["loss_feat"]), logs.get("gated"))
    assert losses_by_gate["agreement"][2] == 0.0 and losses_by_gate["none"][2] is None
    assert losses_by_gate["agreement"][:2] == pytest.approx(losses_by_gate["none"][:2], rel=1e-5)


def test_the_gate_through_run_is_recorded_and_needs_the_class_subspace(target_dir, tiny_zoo, tmp_path):
    with pytest.raises(ConfigError, match="--feature-gate agreement.*--feature-space class"):
        DistillConfig(feature_space="full", feature_gate="agreement")
    with pytest.raises(ConfigError, match="--feature-gate"):
        DistillConfig(feature_gate="always")
    assert "feature_gate" not in DistillConfig().identity()  # kept runs keep their signatures
    outcome = distill_run(target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=2),
                          unlabeled_loss="fixmatch-teachers", feature_space="class", feature_gate="agreement")
    assert all(0.0 <= g <= 1.0 for g in column(outcome, "gated"))
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["spec"]
    assert spec["distill"]["feature_gate"] == "agreement"

"""The distill method: its objective (the sum of its terms) on hand-made banks, and through ``run``."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.render import Consumer
from zoo_distill.data.store import open_store
from zoo_distill.data.target import load_target
from zoo_distill.errors import ConfigError
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import get_registry
from zoo_distill.plugin.types import MethodSetup
from zoo_distill.runs.run import run
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.inputs import classify, pooled_features, student_consumer, student_views
from zoo_distill.training.loop import StepBatch, train
from zoo_distill.training.methods.distill import Distill, build_distill, distill_objective
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.training.methods.terms import consistency as consistency_module
from zoo_distill.training.methods.terms.consistency import ConsistencyTerm
from zoo_distill.training.methods.terms.cross_entropy import CrossEntropy
from zoo_distill.training.methods.terms.feature import FeatureTerm
from zoo_distill.training.student import create_student
from zoo_distill.zoo.file import load_zoo

FAST = TrainConfig(epochs=10, batch_size=16, mu=2, seed=0)


def train_on(task, tmp_path, method, aggregator="weighted", **options):
    registry = get_registry()
    spec = RunSpec(
        method=method,
        aggregator=aggregator,
        student="resnet10t",
        student_init="scratch",
        input_size=32,
        train=FAST,
        method_options={"views": 4, **options} if method == "distill" else {},
    )
    return run(
        spec,
        load_target(task.target),
        load_zoo(task.zoo, registry),
        registry,
        FeatureCache(tmp_path / "cache"),
        tmp_path / method,
    )


def test_distilling_a_related_teacher_beats_finetuning(digits_task, tmp_path):
    """The paper's claim in miniature: same student, same budget, distillation wins on held-out data."""
    distilled = train_on(digits_task, tmp_path, "distill").metrics
    finetuned = train_on(digits_task, tmp_path, "finetune").metrics
    assert distilled["alpha"]["digits-net"] > 0.9  # the ranking found the related teacher
    assert distilled["test_accuracy"] >= finetuned["test_accuracy"] + 0.2, (
        distilled["test_accuracy"],
        finetuned["test_accuracy"],
    )
    losses = [row["loss_feat"] for row in distilled["history"]]
    assert losses[-1] < 0.5 * losses[0]  # the student learned to predict the teacher's features


# --- through run: distillation plus FixMatch-style consistency (unlabeled_loss=fixmatch) ---

TINY = TrainConfig(epochs=4, batch_size=8, mu=2, seed=0)  # 18 labeled + 10 unlabeled: 4 steps per epoch


def distill_run(target_dir, zoo, out, aggregator="weighted", student="resnet10t", train=TINY, **options):
    registry = get_registry()
    spec = RunSpec(
        method="distill",
        aggregator=aggregator,
        student=student,
        student_init="scratch",
        input_size=32,
        train=train,
        method_options={"views": 2, **options},
    )
    return run(
        spec, load_target(target_dir), load_zoo(zoo, registry), registry, FeatureCache(out.parent / "cache"), out
    )


def losses(outcome) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in outcome.metrics["history"]]


def column(outcome, key: str) -> list[float]:
    return [row[key] for row in outcome.metrics["history"]]


def recorded_options(run_dir) -> dict:
    return json.loads((run_dir / "run.json").read_text())["spec"]["method_options"]


def test_distillation_plus_consistency_trains_and_records_its_settings(target_dir, tiny_zoo, tmp_path):
    # 6 epochs: in the teachers' class subspace the random teachers' targets are a 3-class problem to learn
    outcome = distill_run(
        target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=6), unlabeled_loss="fixmatch"
    )
    history = outcome.metrics["history"]
    assert {"loss_ce", "loss_feat", "loss_unsup", "mask"} <= set(history[0])
    assert column(outcome, "loss")[-1] < column(outcome, "loss")[0]
    assert column(outcome, "loss_ce")[-1] < 0.5 * column(outcome, "loss_ce")[0]
    assert column(outcome, "loss_feat")[-1] < 0.5 * column(outcome, "loss_feat")[0]
    assert max(column(outcome, "mask")) > 0.5 and max(column(outcome, "loss_unsup")) > 0  # pseudo-labels were used
    options = recorded_options(tmp_path / "run")
    assert options["unlabeled_loss"] == "fixmatch" and options["views"] == 2
    assert options["threshold"] == 0.95 and options["lambda_u"] == 1.0  # every option, defaults included
    assert set(options) == set(DistillOptions.__dataclass_fields__)


def test_the_bank_holds_each_teachers_features_on_the_very_views_the_student_trains_on(
    target_dir, tiny_zoo, tmp_path, monkeypatch
):
    """The student's distillation view of a step, made for each teacher's consumer and fed to the teacher,
    gives that step's bank rows: the bank and the step draw one set of view parameters."""
    steps: list[dict] = []
    loss = Distill.loss
    monkeypatch.setattr(Distill, "loss", lambda self, inputs: (steps.append(dict(inputs)), loss(self, inputs))[1])
    distill_run(target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=1), views=3)
    registry = get_registry()
    zoo = load_zoo(tiny_zoo, registry)
    teachers = {name: registry.provider(entry.provider).load(entry) for name, entry in zoo.entries.items()}
    assert len(steps) == 4
    for inputs in steps:
        for name, teacher in teachers.items():
            x = student_views(inputs, Consumer.of(teacher.data_config), ("w",))
            with torch.inference_mode():
                features, _ = teacher.forward(x)
            bank_rows = inputs[f"target:{name}"].float()
            assert F.cosine_similarity(features.float(), bank_rows, dim=1).min() > 0.9999


def test_same_seed_gives_identical_losses_and_weights(target_dir, tiny_zoo, tmp_path):
    train_config = replace(TINY, epochs=2)
    first = distill_run(target_dir, tiny_zoo, tmp_path / "a", train=train_config, unlabeled_loss="fixmatch")
    torch.manual_seed(1234)  # the global torch state before a run must not matter
    second = distill_run(target_dir, tiny_zoo, tmp_path / "b", train=train_config, unlabeled_loss="fixmatch")
    assert losses(first) == losses(second)
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("aggregator", ["nearest", "weighted", "uniform"])
def test_consistency_works_with_every_aggregator(aggregator, target_dir, tiny_zoo, tmp_path):
    outcome = distill_run(
        target_dir,
        tiny_zoo,
        tmp_path / aggregator,
        aggregator=aggregator,
        train=replace(TINY, epochs=2),
        unlabeled_loss="fixmatch",
    )
    alpha = outcome.metrics["alpha"]
    assert sum(alpha.values()) == pytest.approx(1.0)
    if aggregator == "nearest":
        assert sorted(alpha.values()) == [1.0]  # the other source is dropped
    if aggregator == "uniform":
        assert alpha == pytest.approx({"teacher-a": 0.5, "teacher-b": 0.5})
    for row in outcome.metrics["history"]:
        assert all(np.isfinite(row[k]) for k in ("loss", "loss_ce", "loss_feat", "loss_unsup", "mask"))


def test_options_are_validated_naming_the_method_opt():
    for kwargs, option in (
        ({"unlabeled_loss": "mixmatch"}, "--method-opt unlabeled_loss"),
        ({"teacher_probe": "joint-equal"}, "--method-opt teacher_probe"),  # retired
        ({"source_weights": "class-mean"}, "--method-opt source_weights"),  # retired
        ({"feature_space": "pca"}, "--method-opt feature_space"),
        ({"lam": -1}, "--method-opt lam"),
        ({"views": 0}, "--method-opt views"),
        ({"threshold": 1.5}, "--method-opt threshold"),
    ):
        with pytest.raises(ConfigError, match=option):
            DistillOptions(**kwargs)
    # the benchmark's choice (docs/results.md); the paper's pure distillation is unlabeled_loss=none, feature_space=full
    default = DistillOptions()
    assert (default.unlabeled_loss, default.teacher_probe, default.feature_space) == (
        "fixmatch-teachers",
        "joint",
        "class",
    )
    with pytest.raises(ConfigError, match="method 'distill' has no option --method-opt feature_gate"):
        get_registry().method("distill").make_options({"feature_gate": "agreement"})


# --- the objective on one batch, with hand-made teacher banks ---


def make_distill(target_dir, bank: dict[str, torch.Tensor], class_alpha=None, alpha=None, **options) -> Distill:
    data = load_target(target_dir)
    torch.manual_seed(0)
    student = create_student("resnet10t", len(data.class_names), "scratch", 32)
    return distill_objective(
        student,
        open_store(data.train.paths, 32, None),
        np.asarray(data.train.labels),
        open_store(data.unlabeled, 32, None),
        alpha or {s: 1.0 / len(bank) for s in bank},
        bank,
        torch.device("cpu"),
        DistillOptions(views=2, **options),
        class_alpha=class_alpha,
    )


def term(method: Distill, kind: type):
    found = [t for t in method.terms if isinstance(t, kind)]
    assert len(found) == 1, method.terms
    return found[0]


def batch(epoch: int = 0, step: int = 0) -> StepBatch:
    return StepBatch(np.arange(8), np.arange(4), np.random.default_rng(0), epoch, step)


def step_loss(method: Distill, step: StepBatch):
    """The loss of one step: the inputs a DataLoader worker makes, then the model's part."""
    return method.loss(method.make_inputs(step))


def class_bank(target_dir) -> torch.Tensor:
    """[V=2, N, 3] one-hot features of every image's true class (the unlabeled image i is of class i % 3)."""
    data = load_target(target_dir)
    classes = np.concatenate([np.asarray(data.train.labels), np.arange(len(data.unlabeled)) % 3])
    return torch.from_numpy(np.eye(3)[classes]).float().expand(2, -1, -1).contiguous()


def nuisance_bank(target_dir, seed: int = 0) -> torch.Tensor:
    """[V=2, N, 6] features: the class one-hot on dims 0-2 plus noise, and a large nuisance on dims 3-5
    that varies from image to image whatever its class."""
    rng = np.random.default_rng(seed)
    onehot = class_bank(target_dir)[0].numpy()
    x = np.concatenate([3.0 * onehot, 20.0 * rng.normal(size=(len(onehot), 3))], axis=1)
    views = np.stack([x + 0.1 * rng.normal(size=x.shape) for _ in range(2)])
    return torch.from_numpy(views).float()


def test_the_objective_is_its_terms_in_order(target_dir):
    bank = {"teacher": nuisance_bank(target_dir)}
    kinds = lambda method: [type(t) for t in method.terms]  # noqa: E731
    assert kinds(make_distill(target_dir, bank)) == [CrossEntropy, FeatureTerm, ConsistencyTerm]
    assert kinds(make_distill(target_dir, bank, unlabeled_loss="none")) == [CrossEntropy, FeatureTerm]
    assert term(make_distill(target_dir, bank, unlabeled_loss="fixmatch"), ConsistencyTerm).probes is None
    method = make_distill(target_dir, bank)
    assert set(method.modules()) == {"student", "heads"}  # the heads are checkpointed with the student


def reference_loss(
    method: Distill, inputs, subspace, alpha: float, lam: float, threshold: float, lambda_u: float, probe
) -> torch.Tensor:
    """The default objective written out by hand, for one source:
    CE + lam * alpha * mean(1 - cos(h(g), P(phi))) + lambda_u * mean(mask * CE(strong, pseudo))."""
    model, n_b, n_u = method.student.model, len(inputs["y"]), inputs["n_unlabeled"]
    x = student_views(inputs, student_consumer(method.student), ("w", "s"), 10)  # as the loss makes them
    g = pooled_features(model, x)
    logits = classify(model, g)
    ce = F.cross_entropy(logits[:n_b], inputs["y"])
    target = subspace(inputs["target:teacher"])
    head = term(method, FeatureTerm).heads["teacher"]
    feature = (1 - F.cosine_similarity(head(g[: n_b + n_u]), target, dim=1)).mean()
    weak, strong = logits[n_b : n_b + n_u].detach(), logits[n_b + n_u :]
    p = torch.softmax(
        torch.log_softmax(weak, dim=1)
        + probe.probabilities({"teacher": inputs["target:teacher"][n_b : n_b + n_u]}).clamp_min(1e-12).log(),
        dim=1,
    )
    confidence, pseudo = p.max(dim=1)
    mask = (confidence >= threshold).float()
    unsup = (F.cross_entropy(strong, pseudo, reduction="none") * mask).mean()
    return ce + lam * alpha * feature + lambda_u * unsup


def test_the_default_objective_equals_the_hand_written_loss_on_one_batch(target_dir):
    """The terms' sum is the loss the default trained before they were terms: CE, the class-subspace
    feature term and consistency whose pseudo-labels are weighed by the joint teacher probe."""
    bank = {"teacher": nuisance_bank(target_dir)}
    method = make_distill(target_dir, bank, threshold=0.4, lam=3.0, lambda_u=0.7)
    inputs = method.make_inputs(batch())
    loss, logs = method.loss(inputs)
    feature, consistency = term(method, FeatureTerm), term(method, ConsistencyTerm)
    expected = reference_loss(method, inputs, feature.project["teacher"], 1.0, 3.0, 0.4, 0.7, consistency.probes)
    assert float(logs["mask"]) > 0  # the consistency part is not trivially zero
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.item() == pytest.approx(
        float(logs["loss_ce"] + 3.0 * logs["loss_feat"] + 0.7 * logs["loss_unsup"]), rel=1e-6
    )


def test_without_confident_pseudo_labels_training_equals_pure_distillation(target_dir):
    """A student without batch-norm (test_vit): with it, the strong views in the batch shift the batch
    statistics, as in FixMatch, and the two differ by that alone. threshold 1.0: the untrained student's
    softmax never reaches it, so consistency adds exactly nothing."""
    data = load_target(target_dir)
    bank = {"teacher": nuisance_bank(target_dir)}

    def history(**options):
        torch.manual_seed(0)
        student = create_student("test_vit", len(data.class_names), "scratch", 32)
        method = distill_objective(
            student,
            open_store(data.train.paths, 32, None),
            np.asarray(data.train.labels),
            open_store(data.unlabeled, 32, None),
            {"teacher": 1.0},
            bank,
            torch.device("cpu"),
            DistillOptions(views=2, **options),
        )
        return train(
            method, TrainConfig(epochs=3, batch_size=8, workers=0), len(data.train), len(data.unlabeled), None
        ).history

    pure, mixed = history(unlabeled_loss="none"), history(unlabeled_loss="fixmatch", threshold=1.0)
    assert [row["mask"] for row in mixed] == [0.0] * 3 and [row["loss_unsup"] for row in mixed] == [0.0] * 3
    for key in ("loss", "loss_ce", "loss_feat"):
        assert [row[key] for row in mixed] == pytest.approx([row[key] for row in pure], rel=1e-5, abs=1e-6), key


# --- per-class source weights (source_weights=class) ---


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
    bank = {
        "left": expert_bank(labels, len(data.unlabeled), {0}, seed=0),
        "right": expert_bank(labels, len(data.unlabeled), {1, 2}, seed=1),
    }
    table = {"left": np.array([1.0, 0.0, 0.0]), "right": np.array([0.0, 1.0, 1.0])}
    method = make_distill(
        target_dir,
        bank,
        class_alpha=table,
        alpha={"left": 1 / 3, "right": 2 / 3},
        source_weights="class",
        unlabeled_loss="none",
        feature_space="full",
    )
    feature = term(method, FeatureTerm)
    assert feature.table.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    first = np.flatnonzero(labels == 0)[:4]  # labeled images of class 0 only: the right teacher weighs nothing
    loss, logs = step_loss(method, StepBatch(first, np.arange(0), np.random.default_rng(0), 0, 0))
    loss.backward()
    assert logs["loss_feat_right"] > 0 and float(feature.heads["right"].weight.grad.abs().max()) == 0.0
    assert float(feature.heads["left"].weight.grad.abs().max()) > 0.0
    _, logs = step_loss(method, batch())  # labeled and unlabeled images: finite, and the same objective's scale
    assert 0 < logs["loss_feat"] <= 2.0


def test_per_class_weights_through_run_with_consistency(target_dir, tiny_zoo, tmp_path):
    outcome = distill_run(
        target_dir,
        tiny_zoo,
        tmp_path / "run",
        train=replace(TINY, epochs=2),
        unlabeled_loss="fixmatch",
        source_weights="class",
    )
    alpha, per_class = outcome.metrics["alpha"], outcome.metrics["class_alpha"]
    assert sum(alpha.values()) == pytest.approx(1.0) and set(per_class) == set(alpha)
    assert np.allclose(np.sum(list(per_class.values()), axis=0), 1.0)  # every class's weights sum to 1
    assert alpha == pytest.approx({s: np.mean(w) for s, w in per_class.items()})
    assert any("per-class average precision" in note for note in outcome.notes)  # teacher-b has no head
    for row in outcome.metrics["history"]:
        assert all(np.isfinite(row[k]) for k in ("loss", "loss_ce", "loss_feat", "loss_unsup"))
    assert recorded_options(tmp_path / "run")["source_weights"] == "class"


# --- pseudo-labels weighed by the teacher probes (unlabeled_loss=fixmatch-teachers) ---


def record_priors(monkeypatch) -> list:
    """The ``prior`` of every consistency_loss call that distillation makes from now on."""
    priors, real = [], consistency_module.consistency_loss

    def recording(weak, strong, threshold, prior=None):
        priors.append(prior)
        return real(weak, strong, threshold, prior)

    monkeypatch.setattr(consistency_module, "consistency_loss", recording)
    return priors


def test_teacher_probes_give_pseudo_labels_the_untrained_student_cannot(target_dir, monkeypatch):
    bank = {"knows-the-classes": class_bank(target_dir)}
    with_teachers = make_distill(
        target_dir,
        bank,
        threshold=0.6,
        unlabeled_loss="fixmatch-teachers",
        teacher_probe="mixture",
        feature_space="full",
    )
    priors = record_priors(monkeypatch)
    inputs = with_teachers.make_inputs(batch())
    _, logs = with_teachers.loss(inputs)
    # the prior is the probes' prediction on the banked view of each unlabeled image of the batch (8 labeled first)
    drawn = inputs["target:knows-the-classes"][8:]
    probes = term(with_teachers, ConsistencyTerm).probes
    assert torch.equal(priors[0], probes.probabilities({"knows-the-classes": drawn}))
    assert priors[0].argmax(dim=1).tolist() == [0, 1, 2, 0]  # unlabeled images 0-3: classes i % 3
    monkeypatch.undo()
    _, plain = step_loss(
        make_distill(target_dir, bank, threshold=0.6, unlabeled_loss="fixmatch", feature_space="full"), batch()
    )
    assert logs["mask"].item() == 1.0 and plain["mask"].item() < 1.0
    joint = term(make_distill(target_dir, bank, feature_space="full"), ConsistencyTerm).probes
    assert joint.joint is not None and not joint.probes


def test_teacher_probes_through_run(target_dir, tiny_zoo, tmp_path, monkeypatch):
    priors = record_priors(monkeypatch)
    outcome = distill_run(target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=2))
    assert {"loss_unsup", "mask"} <= set(outcome.metrics["history"][0])
    assert column(outcome, "loss_ce")[-1] < column(outcome, "loss_ce")[0]
    assert recorded_options(tmp_path / "run")["unlabeled_loss"] == "fixmatch-teachers"
    assert priors and all(p is not None and torch.allclose(p.sum(dim=1), torch.ones(len(p))) for p in priors)


# --- the teachers' discriminant subspace (feature_space=class) ---


def test_class_subspace_distills_the_classes_coordinates_and_probes_the_full_features(target_dir):
    bank = {"teacher": nuisance_bank(target_dir)}
    method = make_distill(target_dir, bank, unlabeled_loss="fixmatch-teachers", feature_space="class")
    feature = term(method, FeatureTerm)
    subspace = feature.project["teacher"]
    assert subspace.dim == 2 and feature.heads["teacher"].out_features == 2  # 3 classes
    assert term(method, ConsistencyTerm).probes.joint.weight.shape[1] == 6  # the probe still reads every feature
    loss, logs = step_loss(method, batch())
    assert torch.isfinite(loss) and 0 < logs["loss_feat"] <= 2.0
    loss.backward()
    assert float(feature.heads["teacher"].weight.grad.abs().max()) > 0
    # the coordinates it distills tell the classes apart and ignore the nuisance
    labeled = bank["teacher"][0, :18]
    coords = subspace(labeled)
    moved = labeled.clone()
    moved[:, 3:] += 40.0
    assert (subspace(moved) - coords).norm(dim=1).mean() < 0.1 * coords.norm(dim=1).mean()
    full = term(make_distill(target_dir, bank, feature_space="full"), FeatureTerm)
    assert full.project == {} and full.heads["teacher"].out_features == 6


def test_two_labeled_classes_distill_the_full_features_and_say_so(target_dir):
    data = load_target(target_dir)
    labels = np.asarray(data.train.labels)
    keep = np.flatnonzero(labels < 2)
    bank = {"teacher": nuisance_bank(target_dir)[:, np.concatenate([keep, np.arange(18, 28)])]}
    torch.manual_seed(0)
    student = create_student("resnet10t", 3, "scratch", 32)
    setup = MethodSetup(
        student,
        open_store([data.train.paths[i] for i in keep], 32, None),
        labels[keep],
        open_store(data.unlabeled, 32, None),
        torch.device("cpu"),
        TINY,
        ViewPolicy(),
        DistillOptions(views=2),
        alpha={"teacher": 1.0},
        bank=bank,
    )
    method = build_distill(setup)
    assert method.options.feature_space == "full" and term(method, FeatureTerm).project == {}
    assert any("feature_space=class needs labeled images of at least 3 classes" in n for n in setup.notes)


def test_every_split_is_decoded_once_per_size(target_dir, tiny_zoo, tmp_path):
    """Ranking, the bank, training and evaluation read one image store per split and size: the bank
    joins the labeled and unlabeled splits' stores, it does not decode them again into one of its own."""
    from safetensors import safe_open

    distill_run(target_dir, tiny_zoo, tmp_path / "run", train=replace(TINY, epochs=1))
    files = sorted((tmp_path / "cache" / "images").glob("*.safetensors"))
    stores = []  # (side, images) of every store file
    for path in files:
        with safe_open(str(path), "np") as f:
            stores.append((path.stem.rsplit("-", 1)[1], f.get_slice("offsets").get_shape()[0]))
    assert {images for _, images in stores} <= {18, 10, 12}, stores  # labeled, unlabeled, test: no 28 of both
    assert len(stores) == len(set(stores)), stores

import pytest
import torch

from zoo_distill.features.cache import FeatureCache
from zoo_distill.data.target import load_target
from zoo_distill.training.methods.distill import active_weights, feature_loss
from zoo_distill.training.config import DistillConfig
from zoo_distill.plugin.manager import get_registry
from zoo_distill.runs.run import run
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.config import TrainConfig
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

"""The feature term: lambda times the alpha- (or per-image class-) weighted cosine distance per source."""

import numpy as np
import pytest
import torch

from tests.training.methods.test_cross_entropy import Linear
from zoo_distill.training.methods.terms.feature import FeatureTerm, class_table, cosine_distance
from zoo_distill.training.methods.terms.step import StudentStep


def test_cosine_distance():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert cosine_distance(a, a * 3).tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert cosine_distance(a, -a).tolist() == pytest.approx([2.0, 2.0])
    assert cosine_distance(a, a.flip(1)).tolist() == pytest.approx([1.0, 1.0])


def make_step(n_labeled: int = 3, n_unlabeled: int = 2, dims: dict | None = None):
    gen = torch.Generator().manual_seed(0)
    n = n_labeled + n_unlabeled
    x = torch.randn(n + n_unlabeled, 4, generator=gen)  # labeled, weak, strong
    targets = {s: torch.randn(n, d, generator=gen) for s, d in (dims or {"a": 5, "b": 2}).items()}
    inputs = {"x": x, "y": torch.tensor([0, 2, 1][:n_labeled]), "n_unlabeled": n_unlabeled}
    return StudentStep(Linear(), inputs, targets)


def test_the_term_is_lambda_times_the_alpha_weighted_mean_distance():
    step = make_step()
    torch.manual_seed(0)
    feature = FeatureTerm({"a": 0.25, "b": 0.75}, 4, {"a": 5, "b": 2}, lam=3.0)
    loss, logs = feature(step)
    by_source = {s: cosine_distance(feature.heads[s](step.g[:5]), step.targets[s]).mean() for s in ("a", "b")}
    assert loss.item() == pytest.approx(3.0 * (0.25 * by_source["a"] + 0.75 * by_source["b"]).item(), rel=1e-6)
    assert logs["loss_feat_a"].item() == pytest.approx(by_source["a"].item())
    assert logs["loss_feat"].item() == pytest.approx(loss.item() / 3.0, rel=1e-6)
    assert set(feature.modules()) == {"heads"}
    assert feature.heads["a"].out_features == 5 and feature.heads["b"].out_features == 2


def test_a_projection_changes_what_the_student_reproduces():
    step = make_step(dims={"a": 5})
    torch.manual_seed(0)
    first_two = FeatureTerm({"a": 1.0}, 4, {"a": 2}, lam=1.0, project={"a": lambda t: t[:, :2]})
    loss, _ = first_two(step)
    expected = cosine_distance(first_two.heads["a"](step.g[:5]), step.targets["a"][:, :2]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_per_class_weights_follow_the_label_and_the_weak_prediction():
    table = class_table({"a": np.array([1.0, 0.0, 0.5]), "b": np.array([0.0, 1.0, 0.5])}, {"a": 0.5, "b": 0.5}, 3)
    step = make_step()
    torch.manual_seed(0)
    feature = FeatureTerm({"a": 0.5, "b": 0.5}, 4, {"a": 5, "b": 2}, lam=2.0, table=table)
    weights = feature.image_weights(step)
    soft = step.weak_logits.detach().softmax(dim=1) @ table
    assert torch.allclose(weights[:3], table[step.y]) and torch.allclose(weights[3:], soft)
    loss, logs = feature(step)
    expected = sum(
        (weights[:, k] * cosine_distance(feature.heads[s](step.g[:5]), step.targets[s])).mean()
        for k, s in enumerate(("a", "b"))
    )
    assert loss.item() == pytest.approx(2.0 * expected.item(), rel=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"a": np.array([1.0, 0.0, 0.0])}, "no weights for b"),
        ({"a": np.array([1.0, 0.5, 0.0]), "b": np.array([0.0, 1.0, 1.0])}, "sum to 1"),
        ({"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}, "3 classes"),
    ],
)
def test_the_class_table_is_checked(bad, message):
    with pytest.raises(ValueError, match=message):
        class_table(bad, {"a": 0.5, "b": 0.5}, 3)

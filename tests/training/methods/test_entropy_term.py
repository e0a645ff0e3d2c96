"""The entropy-minimisation term: the weak views' mean entropy, weighted; nothing at weight 0."""

import math

import pytest
import torch

from tests.training.methods.test_cross_entropy import Linear
from zoo_distill.training.methods.terms.entropy import EntropyMinimisation
from zoo_distill.training.methods.terms.step import StudentStep


def _step(n_unlabeled: int = 2) -> tuple[Linear, torch.Tensor, StudentStep]:
    """3 labeled images, then ``n_unlabeled`` weak views, then as many strong views."""
    x = torch.randn(3 + 2 * n_unlabeled, 4, generator=torch.Generator().manual_seed(1))
    model = Linear()
    return model, x, StudentStep(model, {"x": x, "y": torch.tensor([0, 2, 1]), "n_unlabeled": n_unlabeled}, {})


def test_the_weighted_mean_entropy_of_the_weak_views_only():
    model, x, step = _step()
    loss, logs = EntropyMinimisation(0.5)(step)
    p = model.fc(x[3:5]).softmax(dim=1)  # the weak views; not the labeled images, not the strong views
    expected = -(p * p.log()).sum(dim=1).mean()
    assert loss.item() == pytest.approx(0.5 * expected.item(), rel=1e-6)
    assert logs == {"loss_ent": pytest.approx(expected.item(), rel=1e-6)}
    loss.backward()
    assert model.fc.weight.grad.abs().sum() > 0  # the gradient goes through the weak views' logits


def test_confident_predictions_have_less_entropy_than_uniform_ones():
    _, _, step = _step()
    step._unlabeled = torch.tensor([[20.0, 0.0, 0.0], [0.0, 0.0, 0.0]] * 2)  # weak: one certain, one uniform
    loss, _ = EntropyMinimisation(1.0)(step)
    assert loss.item() == pytest.approx(math.log(3) / 2, rel=1e-4)


@pytest.mark.parametrize(("weight", "n_unlabeled"), [(0.0, 2), (1.0, 0)])
def test_nothing_at_weight_0_or_without_unlabeled_images(weight, n_unlabeled):
    _, _, step = _step(n_unlabeled)
    assert EntropyMinimisation(weight)(step) is None
    assert step._unlabeled is None  # the unlabeled logits were not computed


def test_a_negative_weight_is_refused():
    with pytest.raises(ValueError, match="weight must be >= 0"):
        EntropyMinimisation(-1.0)
    assert EntropyMinimisation().modules() == {}

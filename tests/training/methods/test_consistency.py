"""FixMatch's strong views and consistency term, shared by the baseline and distillation."""

import numpy as np
import pytest
import torch

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.training.methods.consistency import StrongViews, consistency_loss
from zoo_distill.training.methods.options import FixMatchOptions

SIZES = np.array([[32, 32]] * 6)


def test_strong_views_depend_on_the_step_generator_only():
    strong = StrongViews(ViewPolicy(), FixMatchOptions())
    torch.manual_seed(1)
    first = strong.draw(np.random.default_rng(7), SIZES)
    torch.manual_seed(2)  # another global torch state: the draw must not read it
    state = torch.get_rng_state()
    second = strong.draw(np.random.default_rng(7), SIZES)
    assert np.array_equal(first.ops, second.ops) and np.array_equal(first.box, second.box)
    assert np.array_equal(first.cutout, second.cutout) and np.array_equal(first.signs, second.signs)
    assert torch.equal(torch.get_rng_state(), state)  # and must not advance it
    other = strong.draw(np.random.default_rng(8), SIZES)
    assert not np.array_equal(first.ops, other.ops)
    assert first.ops.shape == (6, FixMatchOptions().randaugment_ops) and (first.cutout[:, 2] > 0).any()


def test_consistency_loss_is_masked_cross_entropy_on_confident_weak_predictions():
    weak = torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.1, 0.0]])  # confident class 0; unsure
    strong = torch.tensor([[0.0, 2.0, 0.0], [5.0, 0.0, 0.0]], requires_grad=True)
    unsup, mask = consistency_loss(weak, strong, threshold=0.95)
    assert mask.tolist() == [1.0, 0.0]
    expected = torch.nn.functional.cross_entropy(strong[:1].detach(), torch.tensor([0])) / 2  # mean over both
    assert unsup.item() == pytest.approx(expected.item())
    unsup.backward()
    assert torch.all(strong.grad[1] == 0) and torch.any(strong.grad[0] != 0)


def test_consistency_loss_is_exactly_zero_without_confident_pseudo_labels():
    weak = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    strong = torch.randn(5, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    unsup, mask = consistency_loss(weak, strong, threshold=1.01)
    assert unsup.item() == 0.0 and mask.sum().item() == 0.0
    unsup.backward()
    assert torch.all(strong.grad == 0)


def test_a_prior_supplies_labels_the_student_is_unsure_of_and_vetoes_those_it_contradicts():
    weak = torch.tensor(
        [
            [0.0, 0.0, 0.0],  # unsure student
            [4.0, 0.0, 0.0],  # confident student (0.965)
            [4.0, 0.0, 0.0],
        ]
    )  # confident student
    prior = torch.tensor(
        [
            [0.01, 0.98, 0.01],  # a confident teacher: its label
            [0.02, 0.96, 0.02],  # a teacher that disagrees: no label
            [1 / 3, 1 / 3, 1 / 3],
        ]
    )  # an indifferent teacher: the student's label
    strong = torch.zeros(3, 3, requires_grad=True)
    unsup, mask = consistency_loss(weak, strong, threshold=0.95, prior=prior)
    assert mask.tolist() == [1.0, 0.0, 1.0]
    unsup.backward()
    assert strong.grad[0].argmin().item() == 1 and strong.grad[2].argmin().item() == 0  # the labels pulled up
    assert torch.all(strong.grad[1] == 0)
    plain, plain_mask = consistency_loss(weak, strong.detach(), threshold=0.95)
    assert plain_mask.tolist() == [0.0, 1.0, 1.0]  # without the prior: FixMatch

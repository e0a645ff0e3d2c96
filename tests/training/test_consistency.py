"""FixMatch's strong views and consistency term, shared by the baseline and distillation."""

import numpy as np
import pytest
import torch
from PIL import Image

from zoo_distill.data.views import ViewPolicy
from zoo_distill.training.config import FixMatchConfig
from zoo_distill.training.methods.consistency import StrongViews, consistency_loss


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(6)]


def pixels(views):
    return np.stack([np.asarray(v) for v in views])


def test_seeded_strong_views_depend_on_the_step_generator_only(images):
    strong = StrongViews(ViewPolicy(), FixMatchConfig())
    torch.manual_seed(1)
    first = pixels(strong.seeded(images, np.random.default_rng(7)))
    torch.manual_seed(2)  # another global torch state: RandAugment must not read it
    state = torch.get_rng_state()
    second = pixels(strong.seeded(images, np.random.default_rng(7)))
    assert np.array_equal(first, second)
    assert torch.equal(torch.get_rng_state(), state)  # and must not advance it
    other = pixels(strong.seeded(images, np.random.default_rng(8)))
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, pixels(images))  # they are augmented


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

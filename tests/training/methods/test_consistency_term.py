"""The consistency term: lambda_u times FixMatch's masked loss, with or without the teachers' probe."""

import pytest
import torch

from tests.training.methods.test_cross_entropy import Linear
from zoo_distill.training.methods.consistency import consistency_loss
from zoo_distill.training.methods.terms.consistency import ConsistencyTerm
from zoo_distill.training.methods.terms.step import StudentStep


class FixedProbe:
    """Stands in for TeacherProbes: a fixed prediction, and a record of the features it was given."""

    def __init__(self, p: torch.Tensor) -> None:
        self.p, self.seen = p, None

    def probabilities(self, features):
        self.seen = features
        return self.p


def make_step(n_unlabeled: int = 2) -> StudentStep:
    gen = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(3 + 2 * n_unlabeled, 4, generator=gen)
    targets = {"t": torch.arange((3 + n_unlabeled) * 2, dtype=torch.float32).reshape(-1, 2)}
    return StudentStep(Linear(), {"x": x, "y": torch.tensor([0, 2, 1]), "n_unlabeled": n_unlabeled}, targets)


def test_without_the_probe_it_is_fixmatch_weighted_by_lambda_u():
    step = make_step()
    loss, logs = ConsistencyTerm(threshold=0.0, lambda_u=0.5)(step)
    logits = step.model.fc(step.g[3:])
    unsup, mask = consistency_loss(logits[:2], logits[2:], 0.0)
    assert loss.item() == pytest.approx(0.5 * unsup.item()) and unsup.item() > 0
    assert logs["mask"].item() == mask.mean().item() == 1.0


def test_the_probe_reads_the_unlabeled_rows_of_the_bank_and_moves_the_pseudo_labels():
    step = make_step()
    weak = step.model.fc(step.g[3:5]).detach()
    against = torch.nn.functional.one_hot(weak.argmin(dim=1), 3).float() * 0.98 + 0.01  # sure of another class
    probe = FixedProbe(against)
    _, logs = ConsistencyTerm(threshold=0.0, lambda_u=1.0, probes=probe)(step)
    assert torch.equal(probe.seen["t"], step.targets["t"][3:5])  # the weak views' teacher features
    with_probe, _ = consistency_loss(weak, step.model.fc(step.g[5:]), 0.0, against)
    assert logs["loss_unsup"].item() == pytest.approx(with_probe.item())
    without, _ = consistency_loss(weak, step.model.fc(step.g[5:]), 0.0)
    assert with_probe.item() != pytest.approx(without.item())


def test_a_step_without_unlabeled_images_adds_nothing():
    assert ConsistencyTerm(threshold=0.95, lambda_u=1.0)(make_step(n_unlabeled=0)) is None

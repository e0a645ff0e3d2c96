"""The cross-entropy term: CE on the labeled images' logits, nothing else."""

import torch
import torch.nn.functional as F

from zoo_distill.training.methods.terms.cross_entropy import CrossEntropy
from zoo_distill.training.methods.terms.step import StudentStep


class Linear(torch.nn.Module):
    """A stand-in student with timm's two entry points: features, then the classifier on them."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(4, 3)

    def forward_features(self, x):
        return x

    def forward_head(self, x, pre_logits=False):
        return x if pre_logits else self.fc(x)

    def get_classifier(self):
        return self.fc


def test_cross_entropy_reads_the_labeled_logits_only():
    x = torch.randn(7, 4, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2, 1])
    model = Linear()
    step = StudentStep(model, {"x": x, "y": y, "n_unlabeled": 2}, {})
    loss, logs = CrossEntropy()(step)
    assert loss.item() == F.cross_entropy(model.fc(x[:3]), y).item()
    assert logs == {"loss_ce": loss.detach()} and CrossEntropy().modules() == {}
    loss.backward()
    assert model.fc.weight.grad.abs().sum() > 0

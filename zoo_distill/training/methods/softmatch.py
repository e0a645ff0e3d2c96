"""SoftMatch's truncated-Gaussian weighting and distribution alignment (Chen et al., ICLR 2023), as USB
defines them.

FixMatch's hard threshold trades quantity of pseudo-labels against their quality; SoftMatch keeps every
pseudo-label and weighs it by how its confidence compares with the model's current confidence:

    p          = DA(softmax(weak)):  p * p_target / p~ normalised, p~ the EMA of the mean prediction on the
                 unlabeled weak views and p_target uniform (USB's dist_uniform)
    mu_t, s2_t = EMA of the mean and the (unbiased) variance of max p               (start 1/C and 1)
    w(x)       = exp(-min(max p - mu_t, 0)^2 / (2 s2_t / n_sigma^2))                   (n_sigma = 2)

so an image at or above the mean confidence counts fully and less confident ones fade smoothly. The
unlabeled loss is mean_x w(x) * CE(strong(x), argmax p). The EMAs are buffers: checkpointed and resumed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SoftMatchWeights"]


class SoftMatchWeights(torch.nn.Module):
    """The confidence statistics and distribution-alignment state for ``num_classes`` classes."""

    # buffers (register_buffer), declared so that they read as tensors rather than nn.Module attributes
    mean_prediction: torch.Tensor
    confidence_mean: torch.Tensor
    confidence_var: torch.Tensor

    def __init__(self, num_classes: int, ema: float = 0.999, n_sigma: float = 2.0) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"SoftMatch needs at least 2 classes, got {num_classes}")
        if not 0 <= ema < 1 or not n_sigma > 0:
            raise ValueError(f"SoftMatch needs an EMA momentum in [0, 1) and n_sigma > 0, got {ema}, {n_sigma}")
        self.ema, self.n_sigma = float(ema), float(n_sigma)
        self.register_buffer("mean_prediction", torch.full((num_classes,), 1.0 / num_classes))
        self.register_buffer("confidence_mean", torch.tensor(1.0 / num_classes))
        self.register_buffer("confidence_var", torch.tensor(1.0))

    @torch.no_grad()
    def align(self, probs: torch.Tensor) -> torch.Tensor:
        """Distribution alignment towards uniform classes, after folding the batch into the EMA of p~."""
        m = self.ema
        self.mean_prediction.mul_(m).add_((1 - m) * probs.mean(dim=0))
        aligned = probs / self.mean_prediction  # times a uniform target, which normalisation removes
        return aligned / aligned.sum(dim=1, keepdim=True)

    @torch.no_grad()
    def weights(self, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights [n] in (0, 1], pseudo-labels [n]) of aligned probabilities, after the EMA update."""
        confidence, pseudo = probs.max(dim=1)
        m = self.ema
        var = confidence.var(unbiased=True) if len(confidence) > 1 else confidence.new_zeros(())
        self.confidence_mean.mul_(m).add_((1 - m) * confidence.mean())
        self.confidence_var.mul_(m).add_((1 - m) * var)
        below = (confidence - self.confidence_mean).clamp(max=0.0)
        return torch.exp(-(below**2) / (2 * self.confidence_var / self.n_sigma**2)), pseudo

    def losses(self, weak_logits: torch.Tensor, strong_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step: align, weigh, and the weighted consistency term (``loss_unsup``, ``mask`` = the weights)."""
        probs = self.align(weak_logits.detach().float().softmax(dim=1))
        weight, pseudo = self.weights(probs)
        unsup = (F.cross_entropy(strong_logits.float(), pseudo, reduction="none") * weight).mean()
        return {"loss_unsup": unsup, "mask": weight}

"""FreeMatch's self-adaptive thresholds and class fairness (Wang et al., ICLR 2023), as USB defines them.

FixMatch keeps one fixed confidence threshold (0.95), which at very few labels admits almost nothing
early and lets confident mistakes in later. FreeMatch lets the threshold follow the model:

    tau_t      = EMA of the mean max-probability on the unlabeled weak views  (global, starts at 1/C)
    p~_t(c)    = EMA of the mean probability of class c on them              (local, starts at 1/C)
    threshold  = tau_t * p~_t(c) / max_c p~_t(c)   for an image whose pseudo-label is c

and a fairness term over the masked strong predictions, with the pseudo-label histogram h~_t (EMA) and the
batch's histogram of strong predictions h_s:

    L_f = sum_c SumNorm(p~_t / h~_t)(c) * log SumNorm(mean_s p_s / h_s)(c)

which is USB's ``entropy_loss``, added with weight ``lambda_f`` (0.01 in USB's configs) only when some image
passes the mask. The EMAs are buffers, so a checkpoint holds them and a resumed run continues them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["FreeMatchThresholds"]


def _sum_norm(values: torch.Tensor) -> torch.Tensor:
    return values / values.sum(dim=-1, keepdim=True)


def _inverse(values: torch.Tensor) -> torch.Tensor:
    """1 / values with 0 where a class has no mass (USB: nan_to_num of the reciprocal)."""
    return torch.where(values > 0, 1.0 / values.clamp_min(1e-38), torch.zeros_like(values))


class FreeMatchThresholds(torch.nn.Module):
    """The self-adaptive threshold state and FreeMatch's unlabeled terms for ``num_classes`` classes."""

    # buffers (register_buffer), declared so that they read as tensors rather than nn.Module attributes
    global_threshold: torch.Tensor
    class_confidence: torch.Tensor
    label_histogram: torch.Tensor

    def __init__(self, num_classes: int, ema: float = 0.999) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"FreeMatch needs at least 2 classes, got {num_classes}")
        if not 0 <= ema < 1:
            raise ValueError(f"FreeMatch's EMA momentum must be in [0, 1), got {ema}")
        self.ema = float(ema)
        uniform = torch.full((num_classes,), 1.0 / num_classes)
        self.register_buffer("global_threshold", torch.tensor(1.0 / num_classes))
        self.register_buffer("class_confidence", uniform.clone())
        self.register_buffer("label_histogram", uniform.clone())

    @torch.no_grad()
    def update(self, probs: torch.Tensor) -> None:
        """Fold one batch of weak-view probabilities ``[n, C]`` into the EMAs."""
        confidence, pseudo = probs.max(dim=1)
        histogram = torch.bincount(pseudo, minlength=probs.shape[1]).to(probs.dtype) / len(pseudo)
        m = self.ema
        self.global_threshold.mul_(m).add_((1 - m) * confidence.mean())
        self.class_confidence.mul_(m).add_((1 - m) * probs.mean(dim=0))
        self.label_histogram.mul_(m).add_((1 - m) * histogram)

    def mask(self, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask [n] of 0/1, pseudo-labels [n]) under the current thresholds."""
        confidence, pseudo = probs.max(dim=1)
        local = self.class_confidence / self.class_confidence.max()
        return (confidence >= self.global_threshold * local[pseudo]).to(probs.dtype), pseudo

    def fairness(self, mask: torch.Tensor, strong_logits: torch.Tensor) -> torch.Tensor:
        """USB's fairness term on the masked strong predictions (0 when the mask is empty)."""
        kept = strong_logits[mask.bool()]
        if len(kept) == 0:
            return strong_logits.new_zeros(())
        probs = kept.float().softmax(dim=-1)
        histogram = torch.bincount(probs.argmax(dim=-1), minlength=probs.shape[1]).to(probs.dtype)
        histogram = histogram / histogram.sum()
        model = _sum_norm(self.class_confidence * _inverse(self.label_histogram)).detach()
        batch = _sum_norm(probs.mean(dim=0) * _inverse(histogram).detach())
        return (model * torch.log(batch + 1e-12)).sum()

    def losses(self, weak_logits: torch.Tensor, strong_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step: update the state from the weak views, then the masked consistency term, the fairness
        term and the mask (``loss_unsup``, ``loss_fair``, ``mask``)."""
        probs = weak_logits.detach().float().softmax(dim=1)
        self.update(probs)
        mask, pseudo = self.mask(probs)
        unsup = (F.cross_entropy(strong_logits.float(), pseudo, reduction="none") * mask).mean()
        return {"loss_unsup": unsup, "loss_fair": self.fairness(mask, strong_logits), "mask": mask}

"""Frozen timm teachers: their preprocessing, pooled features and source logits."""

from __future__ import annotations

from typing import Any, Mapping

import timm
import torch
from timm.data import resolve_data_config

__all__ = ["PREPROCESSING_KEYS", "TimmTeacher", "create_timm_model", "expected_data_config", "preprocessing"]

PREPROCESSING_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


def preprocessing(config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a timm data config that change what a model sees, JSON-normalised."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items() if k in PREPROCESSING_KEYS}


def expected_data_config(arch: str, overlay: Mapping[str, Any] | None) -> dict[str, Any]:
    """The data config ``create_timm_model(arch, ..., overlay)`` will carry, without building it."""
    from dataclasses import asdict

    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    base = asdict(cfg) if cfg is not None else {}
    merged = {**base, **{k: tuple(v) if isinstance(v, list) else v for k, v in (overlay or {}).items()}}
    return preprocessing(resolve_data_config({}, pretrained_cfg=merged))


class TimmTeacher:
    """A timm model in eval mode with gradients off, exposing features and logits.

    Features are what the model feeds its classifier (``forward_head(pre_logits=True)``),
    so metrics see the same representation the source classes were learned on.
    """

    def __init__(self, name: str, model: torch.nn.Module, digest: str, has_head: bool) -> None:
        self.name = name
        # a timm model: num_classes, forward_head and get_classifier are timm's, which nn.Module does not declare
        self.model: Any = model.eval().requires_grad_(False)
        self._digest = digest
        self.has_head = has_head
        self.data_config: Mapping[str, Any] = preprocessing(resolve_data_config(model=model))  # as Teacher reads it
        self.num_source_classes = int(getattr(model, "num_classes")) if has_head else 0
        with torch.inference_mode():
            probe = torch.zeros(1, *self.data_config["input_size"])
            self.feature_dim = int(self._pooled(probe).shape[-1])

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> "TimmTeacher":
        self.model.to(device)
        return self

    def _pooled(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(images), pre_logits=True)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        pooled = self._pooled(images)
        logits = self.model.get_classifier()(pooled) if self.has_head else None
        return pooled, logits

    __call__ = forward


def create_timm_model(
    arch: str,
    num_classes: int,
    pretrained_cfg: Mapping[str, Any] | None = None,
    model_args: Mapping[str, Any] | None = None,
) -> torch.nn.Module:
    """Build an architecture without weights, carrying preprocessing from ``pretrained_cfg``."""
    overlay = {k: tuple(v) if isinstance(v, list) else v for k, v in (pretrained_cfg or {}).items()}
    return timm.create_model(
        arch, pretrained=False, num_classes=num_classes, pretrained_cfg_overlay=overlay, **dict(model_args or {})
    )

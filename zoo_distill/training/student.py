"""Students: any timm architecture, initialised from timm's pretrained weights, a local
safetensors file (with its timm ``config.json`` if present), or from scratch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import timm
import torch

from zoo_distill.errors import ZooDistillError
from zoo_distill.training.init_config import PRETRAINED, SCRATCH, init_weights_file, read_init_config
from zoo_distill.zoo.teacher import preprocessing
from zoo_distill.zoo.weights import load_state_dict

__all__ = ["Student", "create_student", "init_weights_file"]


@dataclass
class Student:
    """A timm model for the target classes plus the preprocessing it expects."""

    model: torch.nn.Module
    arch: str
    init: str
    data_config: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_dim(self) -> int:
        return int(getattr(self.model, "head_hidden_size", None) or getattr(self.model, "num_features"))

    @property
    def num_classes(self) -> int:
        """The classifier's outputs (timm's attribute, which ``nn.Module`` does not declare)."""
        return int(getattr(self.model, "num_classes"))


def _classifier_prefixes(model: torch.nn.Module) -> tuple[str, ...]:
    names = getattr(model, "pretrained_cfg").get("classifier") or ()  # timm's, not nn.Module's
    return tuple(names) if isinstance(names, (list, tuple)) else (names,)


def _load_backbone(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load everything but the classifier (the target has its own classes)."""
    prefixes = _classifier_prefixes(model)
    own = model.state_dict()
    kept = {k: v for k, v in state.items() if not any(k == p or k.startswith(p + ".") for p in prefixes)}
    mismatched = [k for k, v in kept.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        raise ZooDistillError(f"student init {source}: shapes differ for {', '.join(mismatched[:3])}")
    result = model.load_state_dict(kept, strict=False)
    missing = [k for k in result.missing_keys if not any(k == p or k.startswith(p + ".") for p in prefixes)]
    if missing or result.unexpected_keys:
        raise ZooDistillError(
            f"student init {source} does not fit {type(model).__name__}: missing {missing[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}"
        )


def create_student(arch: str, num_classes: int, init: str = PRETRAINED, input_size: int | None = None) -> Student:
    """Build the student with a fresh classifier for ``num_classes`` target classes."""
    pretrained_cfg: dict[str, Any] = {}
    state = None
    if init == PRETRAINED:
        from zoo_distill.zoo.providers import timm_pretrained_weights

        weights, pretrained_cfg = timm_pretrained_weights(arch, who=f"student {arch!r}")
        state = load_state_dict(weights, f"student {arch!r}")
    elif init != SCRATCH:
        weights, config = read_init_config(Path(init))  # every field it uses checked, the file named
        state = load_state_dict(weights, f"student init {init}")
        pretrained_cfg = dict(config.get("pretrained_cfg") or {})
    overlay = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in pretrained_cfg.items()
        if k in ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")
    }
    if input_size:
        overlay["input_size"] = (3, input_size, input_size)
    try:
        model = timm.create_model(
            arch.split(".")[0] if init == PRETRAINED else arch,
            pretrained=False,
            num_classes=num_classes,
            pretrained_cfg_overlay=overlay,
        )
    except RuntimeError as exc:
        raise ZooDistillError(f"unknown student architecture {arch!r}: {exc}; see timm.list_models()") from None
    if state is not None:
        _load_backbone(model, state, init if init != PRETRAINED else f"timm weights for {arch!r}")
    config = preprocessing(timm.data.resolve_data_config(model=model))
    return Student(model, arch.split(".")[0] if init == PRETRAINED else arch, init, config)

"""The Teacher the core sees for a transformers model: frozen, eval mode, features and source logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo_distill.errors import ProviderUnavailable
from zoo_distill.plugin.types import TeacherIdentity

__all__ = ["TransformersTeacher"]

_HEADS = ("classifier", "head", "fc")  # where transformers' image classifiers keep their head


def _head(model: torch.nn.Module) -> torch.nn.Module | None:
    return next(
        (getattr(model, name) for name in _HEADS if isinstance(getattr(model, name, None), torch.nn.Module)), None
    )


class TransformersTeacher:
    """``forward(pixel_values) -> (features, logits)``.

    A classifier's features are the input of its head (caught by a forward pre-hook, flattened), so
    the metrics see the representation its classes were learned on; a backbone's are its pooled output
    (``pooler_output``, else the mean of ``last_hidden_state`` over tokens or positions).
    """

    def __init__(
        self, name: str, model: torch.nn.Module, kind: str, identity: TeacherIdentity, num_classes: int
    ) -> None:
        self.name, self.model, self.kind = name, model.eval().requires_grad_(False), kind
        self.data_config = dict(identity.data_config)
        self._digest = identity.digest
        self.num_source_classes = num_classes if kind == "classifier" else 0
        self._caught: list[torch.Tensor] = []
        head = _head(model) if kind == "classifier" else None
        if kind == "classifier":
            if head is None:
                raise ProviderUnavailable(
                    f"source {name!r}: {type(model).__name__} has no classification head "
                    f"({', '.join(_HEADS)}); use kind backbone"
                )
            head.register_forward_pre_hook(lambda _module, args: self._caught.append(args[0]))
        size = self.data_config["input_size"]
        with torch.inference_mode():
            features, _ = self.forward(torch.zeros(1, *size))
        self.feature_dim = int(features.shape[1])

    @classmethod
    def from_folder(cls, name: str, folder: Path, kind: str, identity: TeacherIdentity, where: str) -> Any:
        import transformers

        auto = transformers.AutoModelForImageClassification if kind == "classifier" else transformers.AutoModel
        try:
            model = auto.from_pretrained(
                str(folder), local_files_only=True, use_safetensors=True, trust_remote_code=False
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ProviderUnavailable(f"source {name!r}: transformers cannot load {where}: {first}") from None
        num_classes = int(getattr(model.config, "num_labels", 0) or 0)
        return cls(name, model, kind, identity, num_classes)

    @property
    def digest(self) -> str:
        return self._digest

    def to(self, device: Any) -> TransformersTeacher:
        self.model.to(device)
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._caught.clear()
        out = self.model(pixel_values=images)
        if self.kind == "classifier":
            return self._caught[-1].flatten(1).float(), out.logits.float()
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            hidden = out.last_hidden_state
            pooled = hidden.mean(dim=1) if hidden.dim() == 3 else hidden.mean(dim=(2, 3))
        return pooled.flatten(1).float(), None

"""The Teacher the core sees for an open_clip model: image embeddings, and zero-shot logits over the target."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from zoo_distill.errors import ProviderUnavailable
from zoo_distill.plugin.types import TeacherIdentity

__all__ = ["OpenClipTeacher"]


class OpenClipTeacher:
    """``forward(images) -> (encode_image(images), logit_scale * cos(image, class text) or None)``.

    The zero-shot head is built once, at load: each class's text through every template, embedded,
    normalised and averaged (open_clip's ``build_zero_shot_classifier``); only the image tower runs per batch.
    """

    def __init__(self, name: str, model: torch.nn.Module, identity: TeacherIdentity, head: torch.Tensor | None) -> None:
        self.name, self.model = name, model.eval().requires_grad_(False)
        self.data_config = dict(identity.data_config)
        self._digest = identity.digest
        self.head = head  # [D, classes] or None
        self.num_source_classes = 0 if head is None else int(head.shape[1])
        with torch.inference_mode():
            self.feature_dim = int(self.model.encode_image(torch.zeros(1, *self.data_config["input_size"])).shape[1])

    @classmethod
    def build(
        cls,
        name: str,
        folder: Path,
        weights: Path,
        identity: TeacherIdentity,
        prompts: list[str] | None,
        templates: list[str],
        where: str,
    ) -> Any:
        import open_clip
        from open_clip.zero_shot_classifier import build_zero_shot_classifier
        from safetensors.torch import load_file

        logging.disable(logging.WARNING)  # open_clip warns on the root logger that no weights were loaded: we load them
        try:
            model = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
            model.load_state_dict(load_file(str(weights)))
            tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ProviderUnavailable(f"source {name!r}: open_clip cannot load {where}: {first}") from None
        finally:
            logging.disable(logging.NOTSET)
        head = None
        if prompts:
            with torch.inference_mode():
                head = build_zero_shot_classifier(
                    model.eval(), tokenizer, prompts, templates, num_classes_per_batch=32, device="cpu"
                ).float()
        return cls(name, model, identity, head)

    @property
    def digest(self) -> str:
        return self._digest

    def to(self, device: Any) -> OpenClipTeacher:
        self.model.to(device)
        if self.head is not None:
            self.head = self.head.to(device)
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        features = self.model.encode_image(images).float()
        if self.head is None:
            return features, None
        return features, self.model.logit_scale.exp().float() * F.normalize(features, dim=-1) @ self.head

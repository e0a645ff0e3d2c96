"""Provider ``open_clip``: a CLIP image tower as a frozen teacher, speaking the target's own classes.

A zoo entry names a Hub repo (``repo`` + pinned ``revision``) or a local folder (``path``) in open_clip's
Hub format: ``open_clip_config.json`` (``model_cfg``, ``preprocess_cfg``) and ``open_clip_model.safetensors``.
Features are the image embeddings (``encode_image``). With ``zero_shot`` (the default) the source logits are
a zero-shot classifier over the **target's classes**, built from their names (``target_classes``, which the
core gives providers that declare ``class_names``) and prompt ``templates``, so LEEP, NCE, the aggregators and
the teacher probe see a teacher that already speaks the target's labels. The digest folds in the prompts:
other classes or templates are other cached logits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo_distill.errors import ProviderUnavailable, UnsafeWeightsError
from zoo_distill.plugin.types import EntryFieldError, HubFiles, LocalFile, TeacherIdentity, ZooEntry
from zoo_distill.zoo.repo_source import availability, fetch, fetch_json, validate_location, where
from zoo_distill.zoo.repo_source import files as location_files

__all__ = [
    "CONFIG",
    "TEMPLATES",
    "WEIGHTS",
    "class_prompts",
    "data_config_of",
    "files",
    "identify",
    "is_available",
    "load",
    "validate",
]

CONFIG, WEIGHTS = "open_clip_config.json", "open_clip_model.safetensors"
#: A few of CLIP's ImageNet templates: generic enough for any class name.
TEMPLATES = ("a photo of a {}.", "a close-up photo of a {}.", "a photo of the {}.", "a picture of a {}.")
_RESIZE_MODES = {"shortest": "center", "squash": "squash", "longest": "border"}
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def validate(entry: ZooEntry) -> None:
    o = entry.options
    validate_location(entry, "open_clip_config.json and open_clip_model.safetensors")
    templates = o.get("templates", TEMPLATES)
    if (
        not isinstance(templates, (list, tuple))
        or not templates
        or not all(isinstance(t, str) and t.count("{}") == 1 for t in templates)
    ):
        raise EntryFieldError("templates", "must be a list of prompt texts, each with one {} for the class name")
    if not isinstance(o.get("zero_shot", True), bool):
        raise EntryFieldError("zero_shot", f"must be true or false, got {o.get('zero_shot')!r}")


def _weights(entry: ZooEntry) -> Path:
    try:
        return fetch(entry, WEIGHTS)
    except ProviderUnavailable as exc:
        if f"has no {WEIGHTS}" not in str(exc):
            raise
    raise UnsafeWeightsError(
        f"source {entry.name!r}: {where(entry)} has no {WEIGHTS}; pickle checkpoints "
        "(open_clip_pytorch_model.bin) are refused: save the model's state_dict with "
        "safetensors.torch.save_file once where you trust the file"
    )


def _config(entry: ZooEntry) -> dict[str, Any]:
    config = fetch_json(entry, CONFIG)
    if not isinstance(config.get("model_cfg"), dict):
        raise ProviderUnavailable(f"source {entry.name!r}: {CONFIG} of {where(entry)} has no model_cfg object")
    if "hf_tokenizer_name" in (config["model_cfg"].get("text_cfg") or {}):
        raise ProviderUnavailable(
            f"source {entry.name!r}: {where(entry)} uses a Hugging Face tokenizer "
            f"({config['model_cfg']['text_cfg']['hf_tokenizer_name']!r}); only open_clip's own "
            "tokenizer is supported"
        )
    return config


def data_config_of(config: Mapping[str, Any], entry: ZooEntry) -> dict[str, Any]:
    """open_clip's eval preprocessing as a timm data config (resize_mode shortest = centre crop of the
    shorter side, squash = resize to the size, longest = fit and pad)."""
    from zoo_distill.zoo.providers import check_cfg_value

    pre = dict(config.get("preprocess_cfg") or {})
    vision = config["model_cfg"].get("vision_cfg") or {}
    size = pre.get("size", vision.get("image_size", 224))
    side = (size, size) if isinstance(size, (int, float)) and not isinstance(size, bool) else tuple(size or ())
    mode = pre.get("resize_mode", "shortest")
    out = {
        "input_size": [3, *[int(v) for v in side]] if len(side) == 2 else size,
        "mean": list(pre.get("mean", _OPENAI_MEAN)),
        "std": list(pre.get("std", _OPENAI_STD)),
        "interpolation": pre.get("interpolation", "bicubic"),
        "crop_pct": 1.0,
        "crop_mode": _RESIZE_MODES.get(mode, mode),
    }
    for key, value in out.items():
        problem = check_cfg_value(key, value)
        if problem:
            raise ProviderUnavailable(
                f"source {entry.name!r}: preprocess_cfg of {where(entry)}: {key} {problem}, got {value!r}"
            )
    return out


def class_prompts(entry: ZooEntry) -> list[str] | None:
    """The target's class texts the core handed over, or None (no zero-shot head: no target, or turned off)."""
    if not entry.options.get("zero_shot", True):
        return None
    given = entry.options.get("target_classes")
    return [str(c["prompt"]) for c in given] if given else None


def _digest(weights: Path, prompts: list[str] | None, templates: list[str]) -> str:
    from zoo_distill.zoo.weights import file_digest

    head = json.dumps({"classes": prompts, "templates": templates}, ensure_ascii=False) if prompts else "no head"
    return hashlib.sha256(f"open_clip:{file_digest(weights)}:{head}".encode()).hexdigest()


def identify(entry: ZooEntry) -> TeacherIdentity:
    config = _config(entry)
    templates = list(entry.options.get("templates", TEMPLATES))
    return TeacherIdentity(_digest(_weights(entry), class_prompts(entry), templates), data_config_of(config, entry))


def load(entry: ZooEntry):
    from .teacher import OpenClipTeacher

    identity = identify(entry)
    weights = _weights(entry)
    return OpenClipTeacher.build(
        entry.name,
        weights.parent,
        weights,
        identity,
        class_prompts(entry),
        list(entry.options.get("templates", TEMPLATES)),
        where(entry),
    )


def files(entry: ZooEntry) -> HubFiles | LocalFile:
    return location_files(entry, (CONFIG, WEIGHTS), WEIGHTS)


def is_available(entry: ZooEntry) -> str | None:
    return availability(entry, (CONFIG, WEIGHTS))

"""Provider ``transformers``: a Hugging Face ``transformers`` image model as a frozen zoo-distill teacher.

A zoo entry names a Hub repo (``repo`` + a pinned ``revision``) or a local folder (``path``) holding
``config.json``, ``preprocessor_config.json`` and ``model.safetensors``, as ``save_pretrained`` writes
them. Files come through huggingface_hub's own cache (``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, ``HF_HOME``
honoured, as for every zoo-distill source); transformers then loads the folder with
``local_files_only`` and ``use_safetensors``, so it never reaches the network and never unpickles.

- ``kind: classifier`` (an ``...ForImageClassification`` model): features are what its classifier
  sees (the head's input, caught by a hook), source logits its head's output;
- ``kind: backbone`` (an ``...Model``, or a classifier whose head is ignored): features only, no
  logits (the metrics that need pseudo-labels say so); ``auto`` (the default) reads ``architectures``.

The image processor's settings are mapped onto timm's data config (``input_size``, ``mean``, ``std``,
``interpolation``, ``crop_pct``, ``crop_mode``), so the feature cache keys and the views of the core
work unchanged; see ``data_config_of``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo_distill.errors import ProviderUnavailable, UnsafeWeightsError
from zoo_distill.plugin.types import EntryFieldError, HubFiles, LocalFile, TeacherIdentity, ZooEntry
from zoo_distill.zoo.repo_source import availability, fetch, fetch_json, validate_location, where
from zoo_distill.zoo.repo_source import files as location_files

__all__ = [
    "CONFIG",
    "KINDS",
    "PROCESSOR",
    "WEIGHTS",
    "data_config_of",
    "files",
    "identify",
    "is_available",
    "load",
    "validate",
]

CONFIG, PROCESSOR, WEIGHTS = "config.json", "preprocessor_config.json", "model.safetensors"
KINDS = ("auto", "classifier", "backbone")
# PIL's resampling codes, as image processors store them (an int, or a name in newer releases)
_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def validate(entry: ZooEntry) -> None:
    """``repo`` or ``path`` (``zoo_distill.zoo.repo_source``), and a known ``kind`` (no file is read)."""
    validate_location(entry, "config.json, preprocessor_config.json and model.safetensors from save_pretrained")
    if entry.options.get("kind", "auto") not in KINDS:
        raise EntryFieldError("kind", f"must be one of {', '.join(KINDS)}, got {entry.options.get('kind')!r}")


def _json(entry: ZooEntry, filename: str, missing: str) -> dict[str, Any]:
    try:
        return fetch_json(entry, filename)
    except ProviderUnavailable as exc:
        if f"has no {filename}" in str(exc):
            raise ProviderUnavailable(f"source {entry.name!r}: {where(entry)} has no {filename}: {missing}") from None
        raise


def _weights(entry: ZooEntry) -> Path:
    """``model.safetensors``; a repo or folder with only a pickle checkpoint is refused with the conversion."""
    try:
        return fetch(entry, WEIGHTS)
    except (UnsafeWeightsError, ProviderUnavailable) as exc:
        if isinstance(exc, ProviderUnavailable) and f"has no {WEIGHTS}" not in str(exc):
            raise
        raise UnsafeWeightsError(
            f"source {entry.name!r}: {where(entry)} has no {WEIGHTS}; pickle checkpoints (pytorch_model.bin) are "
            f'refused. Convert it once where you trust the file: python -c "from transformers import AutoModel; '
            f"AutoModel.from_pretrained('<repo or folder>').save_pretrained('converted')\" (writes safetensors), "
            f"then point 'path' at the folder"
        ) from None


def _kind(entry: ZooEntry, config: Mapping[str, Any]) -> str:
    """classifier or backbone, from the entry's ``kind`` and the config's ``architectures``."""
    if config.get("auto_map"):
        raise ProviderUnavailable(
            f"source {entry.name!r}: {where(entry)} needs custom model code (auto_map), which zoo-distill never runs"
        )
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    if any(a.endswith("ForImageClassification") for a in archs):
        found = "classifier"
    elif any(a.endswith("Model") for a in archs):
        found = "backbone"
    else:
        what = archs[0] if archs else f"model_type {config.get('model_type')!r} with no architectures"
        raise ProviderUnavailable(
            f"source {entry.name!r}: {where(entry)} is a {what}, not an image classifier "
            "(...ForImageClassification) or an image backbone (...Model)"
        )
    asked = entry.options.get("kind", "auto")
    if asked == "classifier" and found != "classifier":
        raise ProviderUnavailable(
            f"source {entry.name!r}: kind classifier, but {where(entry)} is a {archs[0]} "
            "with no classification head; use kind backbone"
        )
    return found if asked == "auto" else asked


def _pair(value: Any, field: str, entry: ZooEntry) -> tuple[int, int]:
    """(height, width) from an image processor's ``size`` / ``crop_size`` (a dict, a number or a pair)."""
    if isinstance(value, dict) and "height" in value and "width" in value:
        value = (value["height"], value["width"])
    elif isinstance(value, dict) and "shortest_edge" in value:
        value = (value["shortest_edge"], value["shortest_edge"])
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ProviderUnavailable(
            f"source {entry.name!r}: {PROCESSOR} of {where(entry)}: {field} must be "
            f"{{height, width}} or {{shortest_edge}} of positive numbers, got {value!r}"
        )
    return int(value[0]), int(value[1])


def data_config_of(processor: Mapping[str, Any], entry: ZooEntry) -> dict[str, Any]:
    """The image processor's preprocessing as a timm data config.

    resize to (height, width) [+ centre crop]  ->  crop_mode squash, crop_pct = crop / size;
    resize the shorter edge [+ centre crop]    ->  crop_mode center, crop_pct = crop / shorter edge;
    ConvNeXt's ``crop_pct`` below 384 px       ->  crop_mode center with that crop_pct.
    Rescaling must be to [0, 1] (``rescale_factor`` 1/255), as timm's tensors are.
    """
    from zoo_distill.zoo.providers import check_cfg_value

    who = f"source {entry.name!r}: {PROCESSOR} of {where(entry)}"
    if processor.get("do_rescale", True) and abs(float(processor.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-6:
        raise ProviderUnavailable(f"{who}: rescale_factor {processor.get('rescale_factor')!r} is not 1/255")
    normalise = processor.get("do_normalize", True)
    mean = processor.get("image_mean", (0.5, 0.5, 0.5)) if normalise else (0.0, 0.0, 0.0)
    std = processor.get("image_std", (0.5, 0.5, 0.5)) if normalise else (1.0, 1.0, 1.0)
    resample = processor.get("resample", 2)
    interpolation = _RESAMPLE.get(resample, resample.lower() if isinstance(resample, str) else None)
    size = processor.get("size", 224)
    shortest = isinstance(size, dict) and "shortest_edge" in size and "height" not in size
    side = _pair(size, "size", entry)
    crop = (
        _pair(processor["crop_size"], "crop_size", entry)
        if processor.get("do_center_crop") and processor.get("crop_size") is not None
        else None
    )
    if crop is not None:
        config = {
            "input_size": [3, *crop],
            "crop_pct": min(1.0, crop[0] / side[0]),
            "crop_mode": "center" if shortest else "squash",
        }
    elif shortest and processor.get("crop_pct") and side[0] < 384:  # ConvNeXt's processor
        config = {"input_size": [3, *side], "crop_pct": float(processor["crop_pct"]), "crop_mode": "center"}
    else:
        config = {"input_size": [3, *side], "crop_pct": 1.0, "crop_mode": "squash"}
    config.update(mean=[float(v) for v in mean], std=[float(v) for v in std], interpolation=interpolation)
    for key, value in config.items():
        problem = check_cfg_value(key, value)
        if problem:
            raise ProviderUnavailable(f"{who}: {key} {problem}, got {value!r}")
    return config


def _digest(weights: Path, kind: str) -> str:
    """The weights' sha256, with the kind: a backbone view of a classifier caches no logits."""
    from zoo_distill.zoo.weights import file_digest

    return hashlib.sha256(f"transformers:{kind}:{file_digest(weights)}".encode()).hexdigest()


def identify(entry: ZooEntry) -> TeacherIdentity:
    """Digest and preprocessing from the three files, without building the model."""
    config = _json(entry, CONFIG, "not a transformers model folder")
    kind = _kind(entry, config)
    processor = _json(
        entry,
        PROCESSOR,
        "the image-processor config says how to preprocess images; save it with "
        "AutoImageProcessor.save_pretrained next to the model",
    )
    return TeacherIdentity(_digest(_weights(entry), kind), data_config_of(processor, entry))


def load(entry: ZooEntry):
    """The frozen teacher (transformers imported here, only when such a source is used)."""
    from .teacher import TransformersTeacher

    identity = identify(entry)
    config = _json(entry, CONFIG, "")
    folder = _weights(entry).parent  # the folder (or Hub cache snapshot) holding all three files
    return TransformersTeacher.from_folder(entry.name, folder, _kind(entry, config), identity, where(entry))


def files(entry: ZooEntry) -> HubFiles | LocalFile:
    return location_files(entry, (CONFIG, PROCESSOR, WEIGHTS), WEIGHTS)


def is_available(entry: ZooEntry) -> str | None:
    return availability(entry, (CONFIG, PROCESSOR, WEIGHTS))

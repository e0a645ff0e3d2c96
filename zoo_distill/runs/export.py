"""Trained students saved in timm's own format, so timm alone can load them.

A run directory holds ``student.safetensors`` (the timm model's state dict) and ``config.json``
(written by timm's ``save_config_for_hf``, the format ``push_to_hf_hub`` uploads). timm's
``local-dir:`` loader looks for ``model.safetensors`` first and otherwise takes the first
``*.safetensors`` in sorted order, which in a run directory would be the training
``checkpoint.safetensors``. So the same bytes are also named ``model.safetensors`` (a hard
link, or a copy where the filesystem cannot link); both names are rewritten on every save.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from timm.models import PretrainedCfg
from timm.models._hub import save_config_for_hf

from zoo_distill.errors import ZooDistillError
from zoo_distill.training.checkpoint import non_finite
from zoo_distill.util.atomic import atomic_write
from zoo_distill.util.regular import NotARegularFile, read_regular
from zoo_distill.zoo.providers import check_cfg_value
from zoo_distill.zoo.teacher import PREPROCESSING_KEYS
from zoo_distill.zoo.weights import check_safetensors, file_digest, load_into

__all__ = [
    "CONFIG_FILE",
    "MAX_CLASSES",
    "TIMM_WEIGHTS_FILE",
    "WEIGHTS_FILE",
    "check_export_support",
    "load_student",
    "save_student",
]

WEIGHTS_FILE = "student.safetensors"
TIMM_WEIGHTS_FILE = "model.safetensors"  # the name timm's ``local-dir:`` loader prefers
CONFIG_FILE = "config.json"
MAX_CLASSES = 100_000  # a larger head is a damaged config.json, and would exhaust memory when built

# Keys timm itself writes at the top level of config.json; ``extra`` may not overwrite them.
_RESERVED = (
    "architecture",
    "num_classes",
    "num_features",
    "global_pool",
    "label_names",
    "label_descriptions",
    "model_args",
    "pretrained_cfg",
)
# Where weights come from is decided by the loader, never by a saved config.
_SOURCE_KEYS = ("url", "file", "hf_hub_id", "hf_hub_filename", "source", "state_dict", "architecture")
_CFG_FIELDS = frozenset(f.name for f in dataclasses.fields(PretrainedCfg))


def check_export_support() -> None:
    """Refuse, before any training, a timm whose ``save_config_for_hf`` cannot record the student's
    preprocessing (``data_config``, new in timm 1.0.31): otherwise a run would train to the end and
    then fail to write its config.json."""
    if "data_config" not in inspect.signature(save_config_for_hf).parameters:
        raise ZooDistillError(
            f"timm {timm.__version__} cannot export a trained student (its save_config_for_hf "
            "has no data_config); upgrade it: pip install 'timm>=1.0.31'"
        )


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; some platforms cannot open a directory, which is harmless."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Give ``src``'s bytes a second name atomically: a hard link, else a copy."""

    def write(tmp: str) -> None:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)

    atomic_write(dst, write)


def _tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies of the state dict; tied tensors are cloned (safetensors refuses shared storage)."""
    out, seen = {}, set()
    for key, value in model.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        ptr = (tensor.untyped_storage().data_ptr(), tensor.storage_offset()) if tensor.numel() else None
        if ptr is not None and ptr in seen:
            tensor = tensor.clone()
        elif ptr is not None:
            seen.add(ptr)
        out[key] = tensor
    return out


def _build(
    arch: str, num_classes: int, model_args: Mapping[str, Any], overlay: Mapping[str, Any] | None = None
) -> torch.nn.Module:
    kwargs = {**dict(model_args), "num_classes": num_classes}
    return timm.create_model(arch, pretrained=False, pretrained_cfg_overlay=dict(overlay or {}), **kwargs)


def _check_rebuildable(config: Mapping[str, Any], state: Mapping[str, torch.Tensor], who: str) -> None:
    """The saved weights must fit what timm builds from the saved config (e.g. no extra distillation heads)."""
    try:
        with torch.device("meta"):
            fresh = _build(config["architecture"], config["num_classes"], config.get("model_args") or {})
    except Exception as exc:  # noqa: BLE001 - any failure means timm cannot rebuild this export
        raise ZooDistillError(f"{who}: timm cannot rebuild {config['architecture']!r} from its config: {exc}") from None
    expected = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    extra = sorted(set(state) - set(expected))
    missing = sorted(set(expected) - set(state))
    shapes = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != expected[k])
    if extra or missing or shapes:
        raise ZooDistillError(
            f"{who}: the model's state dict does not match timm's {config['architecture']!r}: "
            f"extra {extra[:3]}, missing {missing[:3]}, shape differs {shapes[:3]}"
        )


def save_student(
    run_dir: Path,
    model: torch.nn.Module,
    arch: str,
    num_classes: int,
    pretrained_cfg: Mapping,
    label_names: Sequence[str],
    extra: Mapping | None = None,
) -> Path:
    """Write ``student.safetensors`` (+ ``model.safetensors``) and timm's ``config.json``; returns the weights path.

    ``pretrained_cfg`` overrides the model's own preprocessing (input_size, mean, std, ...);
    ``extra`` adds top-level config keys (timm ignores them) but may not replace timm's own.
    """
    run_dir = Path(run_dir)
    who = f"export to {run_dir}"
    if not hasattr(model, "pretrained_cfg"):
        raise ZooDistillError(f"{who}: {type(model).__name__} is not a timm model (no pretrained_cfg)")
    architecture = getattr(model, "pretrained_cfg").get("architecture")  # checked above: a timm model
    if architecture != arch.split(".")[0]:
        raise ZooDistillError(f"{who}: arch {arch!r} does not match the model's architecture {architecture!r}")
    if int(getattr(model, "num_classes", -1)) != num_classes:
        raise ZooDistillError(
            f"{who}: num_classes={num_classes} but the model has {getattr(model, 'num_classes', None)} outputs"
        )
    label_names = [str(name) for name in label_names]
    if len(label_names) != num_classes:
        raise ZooDistillError(f"{who}: {len(label_names)} label_names for {num_classes} classes")
    clash = sorted(set(extra or {}) & set(_RESERVED))
    if clash:
        raise ZooDistillError(f"{who}: extra config keys {clash} would replace timm's own fields")
    unknown = sorted(k for k in pretrained_cfg if k not in _CFG_FIELDS)
    if unknown:
        raise ZooDistillError(f"{who}: pretrained_cfg keys {unknown} are not timm PretrainedCfg fields")
    overlay = {k: v for k, v in pretrained_cfg.items() if k not in _SOURCE_KEYS}
    data_config = {k: tuple(v) if isinstance(v, list) else v for k, v in overlay.items() if k in PREPROCESSING_KEYS}
    model_config = {
        "num_classes": num_classes,
        "label_names": label_names,
        "pretrained_cfg": overlay,
        **dict(extra or {}),
    }

    config_path = run_dir / CONFIG_FILE
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_config = tempfile.mkstemp(dir=run_dir, prefix=f".{CONFIG_FILE}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise ZooDistillError(f"{who}: cannot write {config_path}: {exc}") from None
    try:
        try:
            save_config_for_hf(model, tmp_config, model_config=model_config, data_config=data_config)
        except (ValueError, TypeError, OSError) as exc:
            raise ZooDistillError(f"{who}: cannot write {config_path}: {exc}") from None
        config = json.loads(Path(tmp_config).read_text())
        state = _tensors(model)
        _check_rebuildable(config, state, who)
        bad = non_finite(state)
        if bad:
            raise ZooDistillError(
                f"{who}: not saving a student whose weights hold NaN or inf values "
                f"({', '.join(bad[:3])}); training diverged, lower --lr"
            )
        weights = run_dir / WEIGHTS_FILE
        try:
            atomic_write(weights, lambda tmp: save_file(state, tmp))
            _link_or_copy(weights, run_dir / TIMM_WEIGHTS_FILE)
            with open(tmp_config, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_config, config_path)  # last: a complete config.json marks a complete export
        except (OSError, SafetensorError) as exc:
            raise ZooDistillError(f"{who}: cannot write the student: {exc}") from None
    finally:
        if os.path.exists(tmp_config):
            os.unlink(tmp_config)
    _fsync_dir(run_dir)
    return weights


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ZooDistillError(f"student export: {path} does not exist")
    try:
        config = json.loads(read_regular(path).decode("utf-8"))  # a FIFO is refused, never waited on
    except (NotARegularFile, IsADirectoryError) as exc:
        raise ZooDistillError(f"student export: {path} {exc.strerror}") from None
    except OSError as exc:
        raise ZooDistillError(f"student export: {path} cannot be read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ZooDistillError(f"student export: {path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ZooDistillError(f"student export: {path} must hold a JSON object")
    if not isinstance(config.get("architecture"), str):
        raise ZooDistillError(f"student export: {path}: field 'architecture' must be a string")
    n = config.get("num_classes")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_CLASSES:
        raise ZooDistillError(
            f"student export: {path}: field 'num_classes' must be a non-negative integer "
            f"(at most {MAX_CLASSES}), got {n!r}"
        )
    for field in ("pretrained_cfg", "model_args"):
        if not isinstance(config.get(field, {}), dict):
            raise ZooDistillError(f"student export: {path}: field {field!r} must be an object")
    _check_label_names(config.get("label_names"), n, path)
    for key, value in (config.get("pretrained_cfg") or {}).items():
        problem = check_cfg_value(key, value) if key in PREPROCESSING_KEYS else None
        if problem:
            raise ZooDistillError(f"student export: {path}: field 'pretrained_cfg': {key}: {problem}, got {value!r}")
    return config


def _check_label_names(names: Any, num_classes: int, path: Path) -> None:
    """``label_names`` (optional) name each class once, as text: eval, predict and the model card use them."""
    if names is None:
        return
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ZooDistillError(f"student export: {path}: field 'label_names' must be a list of strings")
    if len(names) != num_classes:
        raise ZooDistillError(
            f"student export: {path}: field 'label_names' has {len(names)} names for num_classes {num_classes}"
        )
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ZooDistillError(f"student export: {path}: field 'label_names' repeats {repeated[:3]}")


def _weights_file(run_dir: Path) -> Path:
    """``student.safetensors`` (or timm's ``model.safetensors``); every weights name present must be safe and agree."""
    present = [run_dir / name for name in (WEIGHTS_FILE, TIMM_WEIGHTS_FILE) if (run_dir / name).exists()]
    if not present:
        raise ZooDistillError(f"student export: {run_dir} has neither {WEIGHTS_FILE} nor {TIMM_WEIGHTS_FILE}")
    for path in present:
        check_safetensors(path, "student export")
    if len(present) == 2 and not os.path.samefile(*present) and file_digest(present[0]) != file_digest(present[1]):
        raise ZooDistillError(
            f"student export: {present[0]} and {present[1]} hold different weights; "
            "timm would load the second, zoo_distill the first"
        )
    return present[0]


def load_student(run_dir: Path) -> tuple[torch.nn.Module, dict]:
    """Rebuild an exported student from its ``config.json`` and safetensors weights, in eval mode."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ZooDistillError(f"student export: run directory {run_dir} does not exist")
    config_path = run_dir / CONFIG_FILE
    config = _read_config(config_path)
    weights = _weights_file(run_dir)
    cfg = dict(config.get("pretrained_cfg") or {})
    if config.get("label_names"):
        cfg["label_names"] = config["label_names"]
    overlay = {
        k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k in _CFG_FIELDS and k not in _SOURCE_KEYS
    }
    arch = config["architecture"]
    if not timm.is_model(arch):
        raise ZooDistillError(
            f"student export: {config_path}: unknown timm architecture {arch!r} (timm {timm.__version__})"
        )
    try:
        model = _build(arch, config["num_classes"], config.get("model_args") or {}, overlay)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ZooDistillError(f"student export: {config_path}: cannot build {arch!r}: {exc}") from None
    load_into(model, weights, f"student export {run_dir}")
    bad = non_finite(model.state_dict())
    if bad:
        raise ZooDistillError(
            f"student export: {weights} holds NaN or inf values ({', '.join(bad[:3])}); "
            f"its predictions would be NaN: retrain it (training diverged; lower --lr)"
        )
    return model.eval(), config

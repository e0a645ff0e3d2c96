"""A local ``--student-init``: which files it names, and its ``config.json`` checked like user input.

The folder's timm ``config.json`` gives the student's preprocessing. A hand-edited one (``std: [0,0,0]``,
``input_size: "foo"``) used to crash in a DataLoader worker once training had started; here every
field the student uses is checked when the run starts, with the file and the field named, by the same
rules as a zoo entry's ``pretrained_cfg`` (``zoo.providers.check_cfg_value``). No torch at import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo_distill.errors import ConfigError
from zoo_distill.util.regular import NotARegularFile, read_regular
from zoo_distill.zoo.providers import PRETRAINED_CFG_KEYS, check_cfg_value

__all__ = ["PRETRAINED", "SCRATCH", "check_student_init", "init_weights_file", "read_init_config"]

SCRATCH, PRETRAINED = "scratch", "pretrained"
MAX_CONFIG_BYTES = 1 << 20  # a timm config.json is a few KB


def init_weights_file(init: Path) -> Path:
    """The weights file a local ``--student-init`` names: the file itself, or a folder's
    ``model.safetensors`` (a timm/Hub folder), else its ``student.safetensors`` (a run directory)."""
    if not init.is_dir():
        return init
    weights = init / "model.safetensors"
    return weights if weights.exists() else init / "student.safetensors"


def _fail(path: Path, message: str) -> ConfigError:
    return ConfigError(f"--student-init: {path}: {message}")


def _load_json(path: Path) -> Any:
    try:
        data = read_regular(path, MAX_CONFIG_BYTES)
    except NotARegularFile as exc:
        raise _fail(path, f"{exc.strerror}") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise _fail(path, f"is larger than {MAX_CONFIG_BYTES // 1024} KiB; a timm config.json is a few KB")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(path, f"is not valid JSON: {exc}") from None


def read_init_config(init: Path) -> tuple[Path, dict[str, Any]]:
    """``(weights file, config)`` of a local init, the config ``{}`` when there is no ``config.json``;
    a ConfigError naming the file and the field when a field the student uses is unusable."""
    weights = init_weights_file(init)
    path = weights.with_name("config.json")
    if not path.exists() and not path.is_symlink():
        return weights, {}
    config = _load_json(path)
    if not isinstance(config, dict):
        raise _fail(path, f"must hold a JSON object, got {type(config).__name__}")
    for key in ("architecture",):
        if key in config and not isinstance(config[key], str):
            raise _fail(path, f"field {key!r} must be a string, got {config[key]!r}")
    n = config.get("num_classes")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise _fail(path, f"field 'num_classes' must be an integer >= 0, got {n!r}")
    cfg = config.get("pretrained_cfg")
    if cfg is not None and not isinstance(cfg, dict):
        raise _fail(path, f"field 'pretrained_cfg' must be an object, got {cfg!r}")
    for key, value in (cfg or {}).items():
        problem = check_cfg_value(key, value) if key in PRETRAINED_CFG_KEYS else None
        if problem:
            raise _fail(path, f"field 'pretrained_cfg.{key}' {problem}, got {value!r}")
    return weights, config


def check_student_init(init: str) -> None:
    """Check a local ``--student-init`` (its weights file and ``config.json``) before any work starts;
    'scratch' and 'pretrained' need nothing here."""
    if init in (SCRATCH, PRETRAINED):
        return
    from zoo_distill.zoo.weights import weights_file_problem

    path = Path(init)
    if not path.exists() and not path.is_symlink():
        raise ConfigError(
            f"--student-init {init!r} is not 'pretrained', 'scratch' nor an existing safetensors file or folder"
        )
    problem = weights_file_problem(init_weights_file(path))
    if problem:
        raise ConfigError(f"--student-init: {problem}")
    read_init_config(path)

"""Built-in source providers: ``local`` (safetensors file), ``hf-hub`` (timm-format Hub repo), ``timm``.

torch, timm and huggingface_hub (through ``zoo.hub``) are imported inside the functions that use
them, not here: the plugin registry imports this module, and listing plugins must not pay for them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from zoo_distill.errors import ProviderUnavailable, ZooDistillError
from zoo_distill.plugin.types import EntryFieldError, HubFiles, LocalFile, SourceProvider, TeacherIdentity, ZooEntry
from zoo_distill.zoo.architectures import is_timm_architecture

if TYPE_CHECKING:
    from zoo_distill.zoo.teacher import TimmTeacher

__all__ = [
    "MAX_INPUT_SIDE",
    "PRETRAINED_CFG_KEYS",
    "PROVIDERS",
    "check_cfg_value",
    "hf_hub_files",
    "identify_hub_repo",
    "identify_local",
    "identify_timm",
    "load_hf_hub",
    "load_hub_repo",
    "load_local",
    "load_timm",
    "local_files",
    "timm_files",
    "timm_pretrained_weights",
]

PRETRAINED_CFG_KEYS = {"input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode"}


MAX_INPUT_SIDE = 4096  # pixels; larger inputs are a typo, and would fail later for lack of memory


def _numbers(value: object, n: int) -> TypeGuard[list[float] | tuple[float, ...]]:
    """Whether ``value`` is a list or tuple of ``n`` finite numbers (and, for the checker, one of numbers)."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == n
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )


def check_cfg_value(key: str, value: object) -> str | None:
    """Why a preprocessing value is unusable (None if it is fine), checked before any model is built.

    Shared by zoo entries and by exported students (``config.json`` of a run directory).
    """
    if key == "input_size":
        return (
            None
            if _numbers(value, 3)
            and all(int(v) == v and v > 0 for v in value)
            and value[0] <= 4
            and max(value[1:]) <= MAX_INPUT_SIDE
            else "must be [channels, height, width] of positive integers "
            f"(at most 4 channels, sides <= {MAX_INPUT_SIDE})"
        )
    if key in ("mean", "std"):
        return (
            None
            if _numbers(value, 3) and (key == "mean" or all(v > 0 for v in value))
            else "must be a list of 3 numbers" + (" > 0" if key == "std" else "") + " (finite)"
        )
    if key == "interpolation":
        return (
            None
            if value in ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos", "random")
            else "must be one of nearest, bilinear, bicubic, box, hamming, lanczos"
        )
    if key == "crop_pct":
        return (
            None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1
            else "must be a number in (0, 1]"
        )
    if key == "crop_mode":
        return None if value in ("center", "squash", "border") else "must be center, squash or border"
    return None


def _validate_common(entry: ZooEntry) -> None:
    cfg = entry.options.get("pretrained_cfg")
    if cfg is not None:
        if not isinstance(cfg, dict):
            raise EntryFieldError("pretrained_cfg", f"must be a mapping, got {cfg!r}")
        unknown = {str(k) for k in cfg} - PRETRAINED_CFG_KEYS
        if unknown:
            raise EntryFieldError(
                "pretrained_cfg", f"unknown key(s) {sorted(unknown)}; allowed: {sorted(PRETRAINED_CFG_KEYS)}"
            )
        for key, value in cfg.items():
            problem = check_cfg_value(key, value)
            if problem:
                raise EntryFieldError("pretrained_cfg", f"{key}: {problem}, got {value!r}")
    args = entry.options.get("model_args")
    if args is not None and not isinstance(args, dict):
        raise EntryFieldError("model_args", f"must be a mapping, got {args!r}")
    revision = entry.options.get("revision")
    if revision is not None and not isinstance(revision, str):
        raise EntryFieldError("revision", f"must be a string (branch, tag or commit), got {revision!r}")


def _require_str(entry: ZooEntry, field: str) -> None:
    value = entry.options.get(field)
    if not isinstance(value, str) or not value.strip():
        raise EntryFieldError(field, f"must be a non-empty string, got {value!r}")


# --- local ---------------------------------------------------------------------------------------


def _local_weights(entry: ZooEntry) -> Path:
    path = Path(entry.options["weights"]).expanduser()
    if not path.is_absolute() and entry.base_dir:
        path = Path(entry.base_dir) / path
    return path


def _validate_local(entry: ZooEntry) -> None:
    _require_str(entry, "weights")
    _require_str(entry, "arch")
    if not is_timm_architecture(entry.options["arch"]):
        raise EntryFieldError("arch", f"{entry.options['arch']!r} is not a timm architecture (see timm.list_models())")
    n = entry.options.get("num_classes")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise EntryFieldError("num_classes", f"must be an integer >= 0 (0: no classifier head), got {n!r}")
    _validate_common(entry)


def local_files(entry: ZooEntry) -> LocalFile:
    return LocalFile(_local_weights(entry))


def _local_available(entry: ZooEntry) -> str | None:
    from zoo_distill.zoo.weights import weights_file_problem

    problem = weights_file_problem(_local_weights(entry))
    return None if problem is None else f"source {entry.name!r}: {problem}"


def _check_local_file(entry: ZooEntry) -> Path:
    """The entry's weights path, or ProviderUnavailable naming the source and what is wrong with it."""
    from zoo_distill.zoo.weights import weights_file_problem

    path = _local_weights(entry)
    problem = weights_file_problem(path)
    if problem is not None:
        raise ProviderUnavailable(f"source {entry.name!r} ({entry.origin}): {problem}")
    return path


def load_local(entry: ZooEntry) -> TimmTeacher:
    from zoo_distill.zoo.teacher import TimmTeacher
    from zoo_distill.zoo.weights import file_digest, load_into

    path = _check_local_file(entry)
    who = f"source {entry.name!r} ({entry.origin})"
    model = _build(entry, entry.options["arch"], int(entry.options["num_classes"]), {})
    load_into(model, path, who)
    return TimmTeacher(entry.name, model, file_digest(path), has_head=int(entry.options["num_classes"]) > 0)


def identify_local(entry: ZooEntry) -> TeacherIdentity:
    from zoo_distill.zoo.architectures import expected_data_config
    from zoo_distill.zoo.weights import file_digest

    path = _check_local_file(entry)
    return TeacherIdentity(
        file_digest(path), expected_data_config(entry.options["arch"], entry.options.get("pretrained_cfg"))
    )


def _build(entry: ZooEntry, arch: str, num_classes: int, base_cfg: dict[str, Any]) -> Any:
    from zoo_distill.zoo.teacher import create_timm_model

    cfg = {**base_cfg, **(entry.options.get("pretrained_cfg") or {})}
    try:
        return create_timm_model(arch, num_classes, cfg, entry.options.get("model_args"))
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise ZooDistillError(f"source {entry.name!r} ({entry.origin}): field 'arch': {exc}") from None


# --- hf-hub --------------------------------------------------------------------------------------


def _validate_hub(entry: ZooEntry) -> None:
    _require_str(entry, "repo")
    from zoo_distill.zoo.hub import repo_id_problem

    problem = repo_id_problem(entry.options["repo"])
    if problem:
        raise EntryFieldError("repo", problem)
    _validate_common(entry)


def _read_timm_config(entry: ZooEntry, path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
        arch = config["architecture"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProviderUnavailable(
            f"source {entry.name!r}: {path.name} of repo {entry.options['repo']!r} is not a timm config "
            f"(needs 'architecture'): {exc}"
        ) from None
    return {
        "arch": arch,
        "num_classes": int(config.get("num_classes", 0)),
        "pretrained_cfg": {k: v for k, v in config.get("pretrained_cfg", {}).items() if k in PRETRAINED_CFG_KEYS},
    }


def load_hub_repo(entry: ZooEntry, repo: str, revision: str | None) -> TimmTeacher:
    """A timm-format Hub repo: ``config.json`` + ``model.safetensors`` at a pinned revision."""
    from zoo_distill.zoo.hub import CONFIG_FILE, WEIGHTS_FILE, download
    from zoo_distill.zoo.teacher import TimmTeacher
    from zoo_distill.zoo.weights import file_digest, load_into

    config = _read_timm_config(entry, download(entry.name, repo, CONFIG_FILE, revision))
    weights = download(entry.name, repo, WEIGHTS_FILE, revision)
    model = _build(entry, config["arch"], config["num_classes"], config["pretrained_cfg"])
    load_into(model, weights, f"source {entry.name!r} (Hub repo {repo!r})")
    return TimmTeacher(entry.name, model, file_digest(weights), has_head=config["num_classes"] > 0)


def identify_hub_repo(entry: ZooEntry, repo: str, revision: str | None) -> TeacherIdentity:
    from zoo_distill.zoo.architectures import expected_data_config
    from zoo_distill.zoo.hub import CONFIG_FILE, WEIGHTS_FILE, cached_path, download
    from zoo_distill.zoo.weights import file_digest

    config = _read_timm_config(entry, download(entry.name, repo, CONFIG_FILE, revision))
    weights = cached_path(repo, WEIGHTS_FILE, revision) or download(entry.name, repo, WEIGHTS_FILE, revision)
    overlay = {**config["pretrained_cfg"], **(entry.options.get("pretrained_cfg") or {})}
    return TeacherIdentity(file_digest(weights), expected_data_config(config["arch"], overlay))


def hf_hub_files(entry: ZooEntry) -> HubFiles:
    from zoo_distill.zoo.hub import CONFIG_FILE, WEIGHTS_FILE

    return HubFiles(entry.options["repo"], entry.options.get("revision"), (CONFIG_FILE, WEIGHTS_FILE), WEIGHTS_FILE)


def _hub_available(entry: ZooEntry) -> str | None:
    from zoo_distill.zoo.hub import availability

    return availability(entry.name, entry.options["repo"], entry.options.get("revision"))


def load_hf_hub(entry: ZooEntry) -> TimmTeacher:
    return load_hub_repo(entry, entry.options["repo"], entry.options.get("revision"))


# --- timm ----------------------------------------------------------------------------------------


def _validate_timm(entry: ZooEntry) -> None:
    _require_str(entry, "model")
    _validate_common(entry)


def _timm_hub_id(entry: ZooEntry) -> str:
    from timm.models import get_pretrained_cfg

    name = entry.options["model"]
    try:
        cfg = get_pretrained_cfg(name, allow_unregistered=False) if "." in name else get_pretrained_cfg(name)
    except RuntimeError as exc:  # timm: "Invalid pretrained tag (x) for resnet18."
        raise ProviderUnavailable(f"source {entry.name!r}: field 'model': {exc}") from None
    if cfg is None:
        raise ProviderUnavailable(f"source {entry.name!r}: field 'model': timm has no pretrained weights {name!r}")
    if not cfg.hf_hub_id:
        raise ProviderUnavailable(
            f"source {entry.name!r}: timm weights {name!r} are not on the Hub as safetensors (URL/pickle only)"
        )
    return cfg.hf_hub_id


def timm_files(entry: ZooEntry) -> HubFiles:
    """Weights only: timm's own pretrained_cfg gives the preprocessing."""
    from zoo_distill.zoo.hub import WEIGHTS_FILE

    return HubFiles(_timm_hub_id(entry), entry.options.get("revision"), (WEIGHTS_FILE,), WEIGHTS_FILE)


def load_timm(entry: ZooEntry) -> TimmTeacher:
    """timm pretrained weights, fetched as ``model.safetensors`` from their Hub repo (never pickle)."""
    from timm.models import get_pretrained_cfg

    from zoo_distill.zoo.hub import WEIGHTS_FILE, download
    from zoo_distill.zoo.teacher import TimmTeacher
    from zoo_distill.zoo.weights import file_digest, load_into

    name = entry.options["model"]
    repo = _timm_hub_id(entry)
    revision = entry.options.get("revision")
    weights = download(entry.name, repo, WEIGHTS_FILE, revision)
    cfg = get_pretrained_cfg(name)
    assert cfg is not None  # _timm_hub_id above refused a name timm has no pretrained config for
    arch = cfg.architecture or name.split(".")[0]
    base_cfg = {k: getattr(cfg, k) for k in PRETRAINED_CFG_KEYS if getattr(cfg, k, None) is not None}
    model = _build(entry, arch, int(cfg.num_classes or 0), base_cfg)
    load_into(model, weights, f"source {entry.name!r} (timm {name!r})")
    return TimmTeacher(entry.name, model, file_digest(weights), has_head=bool(cfg.num_classes))


def identify_timm(entry: ZooEntry) -> TeacherIdentity:
    from timm.models import get_pretrained_cfg

    from zoo_distill.zoo.hub import WEIGHTS_FILE, download
    from zoo_distill.zoo.teacher import expected_data_config
    from zoo_distill.zoo.weights import file_digest

    name = entry.options["model"]
    weights = download(entry.name, _timm_hub_id(entry), WEIGHTS_FILE, entry.options.get("revision"))
    cfg = get_pretrained_cfg(name)
    assert cfg is not None  # _timm_hub_id above refused a name timm has no pretrained config for
    base = {k: getattr(cfg, k) for k in PRETRAINED_CFG_KEYS if getattr(cfg, k, None) is not None}
    overlay = {**base, **(entry.options.get("pretrained_cfg") or {})}
    return TeacherIdentity(file_digest(weights), expected_data_config(cfg.architecture or name.split(".")[0], overlay))


def timm_pretrained_weights(model_name: str, who: str, revision: str | None = None) -> tuple[Path, dict[str, Any]]:
    """timm's pretrained safetensors for ``model_name`` (through the Hub cache) and its preprocessing."""
    from timm.models import get_pretrained_cfg

    from zoo_distill.zoo.hub import WEIGHTS_FILE, download

    entry = ZooEntry(name=who, provider="timm", options={"model": model_name, "revision": revision})
    weights = download(who, _timm_hub_id(entry), WEIGHTS_FILE, revision)
    cfg = get_pretrained_cfg(model_name)
    return weights, {k: getattr(cfg, k) for k in PRETRAINED_CFG_KEYS if getattr(cfg, k, None) is not None}


def _timm_available(entry: ZooEntry) -> str | None:
    from zoo_distill.zoo.hub import availability

    try:
        return availability(entry.name, _timm_hub_id(entry), entry.options.get("revision"))
    except ProviderUnavailable as exc:
        return str(exc)


PROVIDERS = [
    SourceProvider(
        name="local",
        load=load_local,
        required=("weights", "arch", "num_classes"),
        optional=("pretrained_cfg", "model_args"),
        is_available=_local_available,
        validate=_validate_local,
        identify=identify_local,
        files=local_files,
        description="a timm architecture with weights from a local safetensors file",
    ),
    SourceProvider(
        name="hf-hub",
        load=load_hf_hub,
        required=("repo",),
        optional=("revision", "pretrained_cfg", "model_args"),
        is_available=_hub_available,
        validate=_validate_hub,
        identify=lambda e: identify_hub_repo(e, e.options["repo"], e.options.get("revision")),
        files=hf_hub_files,
        description="a timm-format Hub repo (config.json + model.safetensors) at a pinned revision",
    ),
    SourceProvider(
        name="timm",
        load=load_timm,
        required=("model",),
        optional=("revision", "pretrained_cfg", "model_args"),
        is_available=_timm_available,
        validate=_validate_timm,
        identify=identify_timm,
        files=timm_files,
        description="a timm model name with its pretrained weights (safetensors from the Hub)",
    ),
]

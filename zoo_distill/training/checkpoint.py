"""Training checkpoints as safetensors (never pickle): module weights, optimizer tensors,
and everything else as JSON in the header. Written atomically; never with a NaN or inf in it.

Resuming reads the header first: a checkpoint of another run (other method, classes, data,
teachers or settings) is refused before any of its weights are loaded into this run's modules,
and the refusal names the parts that differ (``parts``: a digest per part, kept in the header).

Every checkpoint carries a checksum (sha256 of its JSON header and of every tensor's bytes, in
the header under ``zoo_distill_sha256``), verified when it is loaded: a damaged file is an error
naming it, never weights resumed from flipped bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from zoo_distill.errors import ZooDistillError
from zoo_distill.util.atomic import atomic_write

__all__ = ["load_checkpoint", "module_tensors", "non_finite", "save_checkpoint", "tensors_digest"]

_META = "zoo_distill_checkpoint"
_SUM = "zoo_distill_sha256"


def tensors_digest(header: str, tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 of the JSON header and of each tensor (by name: its name, dtype, shape and bytes)."""
    digest = hashlib.sha256(header.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode() + b"\0")
        digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _split_optimizer(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, plain = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, slots in state["state"].items():
        plain["state"][str(idx)] = {}
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain["state"][str(idx)][name] = value
    return tensors, plain


def _join_optimizer(tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(slots) for i, slots in plain["state"].items()}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": plain["param_groups"]}


def non_finite(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    return [
        name
        for name, t in tensors.items()
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all())
    ]


def module_tensors(modules: Mapping[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Every module's state (weights and buffers) under ``module.<name>.<key>``, as CPU tensors."""
    return {
        f"module.{name}.{k}": v.detach().cpu().contiguous()
        for name, module in modules.items()
        for k, v in module.state_dict().items()
    }


def save_checkpoint(
    path: Path, modules: Mapping[str, torch.nn.Module], optimizer: torch.optim.Optimizer, meta: Mapping[str, Any]
) -> None:
    """Everything needed to continue training exactly where it stopped.

    Refuses non-finite tensors (a diverged run must not be resumed as if it were fine) and turns a
    failed write (a full disk) into a one-line error; the previous checkpoint is kept whole.
    """
    tensors = module_tensors(modules)
    optim_tensors, optim_plain = _split_optimizer(optimizer.state_dict())
    tensors.update(optim_tensors)
    bad = non_finite(tensors)
    if bad:
        raise ZooDistillError(
            f"not saving checkpoint {path}: {', '.join(bad[:3])} hold NaN or inf values (training diverged; lower --lr)"
        )
    plain = json.dumps({**meta, "optimizer": optim_plain}, default=str)
    header = {_META: plain, _SUM: tensors_digest(plain, tensors)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    except (OSError, SafetensorError) as exc:
        raise ZooDistillError(
            f"cannot write checkpoint {path}: {exc}; the previous checkpoint (if any) is unchanged"
        ) from None


def _changed(meta: Mapping[str, Any], parts: Mapping[str, str] | None) -> str:
    """What differs between this run and the checkpoint's, e.g. " (changed: teacher a's weights)"."""
    theirs = meta.get("parts")
    if not parts or not isinstance(theirs, dict):
        return " (other method, classes, data, teachers or settings)"
    changed = [name for name in parts if theirs.get(name) != parts[name]]
    changed += [name for name in theirs if name not in parts]
    return f" (changed since it was written: {', '.join(changed)})" if changed else ""


def load_checkpoint(
    path: Path,
    modules: Mapping[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    signature: str | None = None,
    parts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Restore modules and optimizer in place; returns the checkpoint's metadata.

    With ``signature``, a checkpoint written by another run is refused before anything is loaded;
    ``parts`` (a digest per part of the signature, by a readable name) lets the refusal name what changed.
    A checkpoint whose checksum does not match its contents is refused, naming the file.
    """
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata()
            meta = json.loads(header[_META])
            if not isinstance(meta, dict):
                raise TypeError("its metadata is not an object")
            if signature is not None and meta.get("signature") != signature:
                raise ZooDistillError(
                    f"--resume: checkpoint {path} belongs to a different run{_changed(meta, parts)}; use another "
                    f"--out, --overwrite to start over, or drop --resume"
                )
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise ZooDistillError(f"cannot read checkpoint {path}: {exc}") from None
    if _SUM in header and header[_SUM] != tensors_digest(header[_META], tensors):  # none: an older version's
        raise ZooDistillError(
            f"--resume: checkpoint {path} is damaged (its contents do not match the checksum "
            f"written with it); restore it, or pass --overwrite to start over"
        )
    try:
        for name, module in modules.items():
            prefix = f"module.{name}."
            module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
        optimizer.load_state_dict(
            _join_optimizer({k: v for k, v in tensors.items() if k.startswith("optim.")}, meta.pop("optimizer"))
        )
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZooDistillError(f"--resume: checkpoint {path} does not fit this run: {first}") from None
    return meta

"""Training checkpoints as safetensors (never pickle): module weights, optimizer tensors,
and everything else as JSON in the header. Written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from zoo_distill.errors import ZooDistillError
from zoo_distill.util.atomic import atomic_write

_META = "zoo_distill_checkpoint"


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


def save_checkpoint(path: Path, modules: Mapping[str, torch.nn.Module], optimizer: torch.optim.Optimizer,
                    meta: Mapping[str, Any]) -> None:
    """Everything needed to continue training exactly where it stopped."""
    tensors = {f"module.{name}.{k}": v.detach().cpu().contiguous()
               for name, module in modules.items() for k, v in module.state_dict().items()}
    optim_tensors, optim_plain = _split_optimizer(optimizer.state_dict())
    tensors.update(optim_tensors)
    header = {_META: json.dumps({**meta, "optimizer": optim_plain}, default=str)}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))


def load_checkpoint(path: Path, modules: Mapping[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore modules and optimizer in place; returns the checkpoint's metadata."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads(fh.metadata()[_META])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise ZooDistillError(f"cannot read checkpoint {path}: {exc}") from None
    for name, module in modules.items():
        prefix = f"module.{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    optimizer.load_state_dict(_join_optimizer({k: v for k, v in tensors.items() if k.startswith("optim.")},
                                              meta.pop("optimizer")))
    return meta

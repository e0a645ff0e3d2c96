"""Which device a setting names, checked once for every stage (ranking, extraction, training, runs).

``check_device`` is what a setting is validated with when it is made (``TrainConfig``, ``rank``): the
name's form without importing torch, and for anything but ``cpu`` whether this machine has it, so a
missing GPU fails before any work. ``resolve_device`` turns the name into a ``torch.device``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from zoo_distill.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["AUTO", "auto_device", "check_device", "pick_device", "resolve_device"]

#: The default of ``rank``, ``run`` and the baselines: CUDA when this machine has it, else the CPU.
AUTO = "auto"

_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps")


#: Called once with (device, why) when ``auto`` is first resolved in this process: the CLI prints it as
#: a line of its own. ``auto`` is resolved only where a device is used, so a ``rank`` served from the
#: cache never imports torch to find out.
announce: Callable[[str, str], None] | None = None
_announced = False


def auto_device() -> tuple[str, str]:
    """What ``auto`` means here, and why (for the line that says so)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", f"auto: CUDA device {torch.cuda.get_device_name(0)}"
    return "cpu", "auto: no CUDA device"


def pick_device(value: str | None) -> str:
    """``value``, or for ``auto`` / ``None`` the device ``auto_device`` picks (announced once)."""
    global _announced
    if value not in (None, AUTO):
        return value
    picked, why = auto_device()
    if announce is not None and not _announced:
        _announced = True
        announce(picked, why)
    return picked


def check_device(value: str, option: str = "--device") -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``, present on this machine (``cpu`` checked without torch)."""
    if not isinstance(value, str) or not (value == AUTO or _DEVICE.fullmatch(value)):
        raise ConfigError(f"{option} must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
    if value not in ("cpu", AUTO):
        resolve_device(value, option)
    return value


def resolve_device(device: str, option: str = "--device") -> torch.device:
    """The ``torch.device`` of ``device``, with a one-line error if CUDA is asked for but missing."""
    import torch

    device = pick_device(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{option} {device}: CUDA is not available on this machine; use {option} cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"{option} {device!r} is not a valid device: {exc}") from None

"""The student's inference cost, so methods are compared at equal deployment budget."""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from zoo_distill.util.units import human_size

__all__ = ["StudentCost", "count_macs", "format_cost", "measure_cost"]


@dataclass
class StudentCost:
    """Parameters, multiply-accumulates and CPU latency of one batch-1 forward pass."""

    params: int
    macs: int
    latency_ms: float
    input_size: tuple[int, int, int]
    threads: int


def _input_size(model: torch.nn.Module) -> tuple[int, int, int]:
    """The model's own nominal input size (timm ``pretrained_cfg``), else ImageNet's 224."""
    size = (getattr(model, "pretrained_cfg", None) or {}).get("input_size") or (3, 224, 224)
    return tuple(int(v) for v in size)  # type: ignore[return-value]  # the config holds [C, H, W]: three


def count_macs(model: torch.nn.Module, example: torch.Tensor) -> int:
    """MACs as torch's FlopCounterMode counts them (FLOPs / 2); ops it has no formula for count 0."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(example)
    return int(counter.get_total_flops()) // 2


def _median_latency_ms(model: torch.nn.Module, example: torch.Tensor, runs: int, warmup: int) -> float:
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            began = time.perf_counter()
            model(example)
            if i >= warmup:
                times.append((time.perf_counter() - began) * 1000.0)
    return float(statistics.median(times))


def measure_cost(
    model: torch.nn.Module,
    input_size: tuple[int, int, int] | None = None,
    latency_runs: int = 20,
    warmup: int = 3,
    threads: int | None = None,
) -> StudentCost:
    """Params, MACs (batch 1, eval) and median CPU latency; the model's mode and device are left as they were.

    A model on an accelerator is timed on a CPU copy: the report is about CPU deployment cost.
    ``threads`` pins ``torch.set_num_threads`` for the timing only.
    """
    if latency_runs < 1 or warmup < 0:
        raise ValueError(f"latency_runs must be >= 1 and warmup >= 0, got {latency_runs} and {warmup}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    size = tuple(int(v) for v in (input_size or _input_size(model)))
    if len(size) != 3:
        raise ValueError(f"input_size must be (channels, height, width), got {input_size}")
    first = next(iter(model.parameters()), None)
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    on_cpu = all(t.device.type == "cpu" for t in list(model.parameters()) + list(model.buffers()))
    cpu_model = model if on_cpu else copy.deepcopy(model).cpu()
    params = sum(p.numel() for p in model.parameters())
    modes = [(m, m.training) for m in model.modules()]  # restored per module (e.g. frozen BatchNorm)
    previous_threads = torch.get_num_threads()
    try:
        cpu_model.eval()
        example = torch.zeros(1, *size, dtype=dtype)
        macs = count_macs(cpu_model, example)
        if threads is not None:
            torch.set_num_threads(threads)
        used_threads = torch.get_num_threads()
        latency = _median_latency_ms(cpu_model, example, latency_runs, warmup)
    finally:
        torch.set_num_threads(previous_threads)
        for module, training in modes:
            module.training = training
    return StudentCost(
        params=params,
        macs=macs,
        latency_ms=latency,
        input_size=size,
        threads=used_threads,
    )


def format_cost(cost: StudentCost) -> str:
    """One line, e.g. ``11.2M params, 0.56 GMACs, 3.1 ms/img (CPU, 2 threads)``."""
    if cost.macs >= 1e8:
        macs = f"{cost.macs / 1e9:.2f} GMACs"
    elif cost.macs >= 1e4:
        macs = f"{cost.macs / 1e6:.2f} MMACs"
    else:
        macs = f"{cost.macs} MACs"
    plural = "thread" if cost.threads == 1 else "threads"
    return (
        f"{human_size(cost.params, unit='')} params, {macs}, {cost.latency_ms:.1f} ms/img "
        f"(CPU, {cost.threads} {plural})"
    )

"""Views made as batched tensor ops on the device: one crop-and-resize call for the whole batch, then
flips, colour jitter, RandAugment grouped by op, Cutout and each consumer's normalisation.

Inputs are a padded uint8 batch from the store (``ImageStore.read``) and ``ViewParams`` (drawn on the
CPU, ``data/view_params.py``). The same code runs on CPU tensors, so a CPU run gains too. Pixels are
made in float32 outside autocast, so a bf16 run trains on the same views as an fp32 one.

**Geometry.** A consumer (the student, a teacher) sees what its timm eval preprocessing would make of
the view: the view's box resized so its shorter side is ``input / crop_pct``, then the centre
``input`` crop. Both steps are one box in the stored image, so ``torchvision.ops.roi_align`` (bilinear,
``aligned=True``, its adaptive sampling averaging several samples per output pixel when it shrinks)
makes every view of the batch in one call; a box covering an image at its own size copies it exactly.

**Colour** follows Pillow's ``ImageEnhance`` (brightness: blend with black; contrast: with the mean
grey; saturation: with the grey image), clamped to [0, 1] after each. RandAugment's ops and
magnitudes are torchvision's (``RandAugment(num_ops, magnitude)``, 31 bins), each applied with
``torchvision.transforms.v2.functional`` to all the views that drew it at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.ops import roi_align

from zoo_distill.data.view_params import RANDAUGMENT_OPS, ViewParams

__all__ = ["Consumer", "render", "render_all", "to_float", "view_tensors"]

_BINS = 31
_GREY = (0.299, 0.587, 0.114)  # Pillow's L conversion


@dataclass(frozen=True)
class Consumer:
    """What a model's eval preprocessing asks of a view: its input size, centre-crop fraction and normalisation."""

    height: int
    width: int
    crop_pct: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def of(cls, data_config: Mapping[str, Any]) -> Consumer:
        """From a timm data config (``input_size``, ``crop_pct``, ``mean``, ``std``)."""
        _, height, width = (int(s) for s in data_config["input_size"])
        mean = tuple(float(v) for v in data_config.get("mean", (0.5, 0.5, 0.5)))
        std = tuple(float(v) for v in data_config.get("std", (0.5, 0.5, 0.5)))
        return cls(height, width, float(data_config.get("crop_pct") or 1.0), mean, std)  # type: ignore[arg-type]


def to_float(pixels: torch.Tensor) -> torch.Tensor:
    """A padded uint8 ``[B, H, W, 3]`` batch as float ``[B, 3, H, W]`` in [0, 1]."""
    return pixels.permute(0, 3, 1, 2).float().div_(255)


def view_tensors(inputs: Mapping[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """The ``ViewParams`` arrays of ``inputs`` stored under ``prefix`` (as ``ViewParams.arrays`` named them)."""
    return {key.split(":", 1)[1]: value for key, value in inputs.items() if key.startswith(prefix + ":")}


def _boxes(params: Mapping[str, torch.Tensor], sizes: torch.Tensor, consumer: Consumer) -> torch.Tensor:
    """``[K, 5]`` roi_align boxes: the view's box, then the consumer's centre crop inside it, in stored pixels."""
    rows = params["image"].long()
    hw = sizes[rows].to(torch.float32)  # stored height, width of each view's image
    h, w = hw[:, 0], hw[:, 1]
    box = params["box"].to(torch.float32) * torch.stack([w, h, w, h], 1)
    scale_h = math.floor(consumer.height / consumer.crop_pct)
    scale_w = math.floor(consumer.width / consumer.crop_pct)
    short = torch.minimum(h, w)
    # the eval resize brings the image's shorter side to the scale size; the centre crop keeps input pixels of it
    fx = (consumer.width * short / max(scale_w, 1) / w).clamp(max=1.0)
    fy = (consumer.height * short / max(scale_h, 1) / h).clamp(max=1.0)
    bw, bh = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    x0, y0 = box[:, 0] + (1 - fx) / 2 * bw, box[:, 1] + (1 - fy) / 2 * bh
    return torch.stack([rows.to(torch.float32), x0, y0, x0 + fx * bw, y0 + fy * bh], 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_GREY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation per view (factors ``[K, 3]``), each clamped as Pillow's."""
    b, c, s = (factors[:, k].to(x.dtype).view(-1, 1, 1, 1) for k in range(3))
    x = (x * b).clamp_(0, 1)
    mean = _grey(x).mean(dim=(2, 3), keepdim=True)
    x = (mean + c * (x - mean)).clamp_(0, 1)
    grey = _grey(x)
    return (grey + s * (x - grey)).clamp_(0, 1)


def _magnitude(op: str, height: int, width: int, magnitude: int) -> float:
    """torchvision RandAugment's magnitude of ``op`` at bin ``magnitude`` of 31 (unsigned)."""
    k = magnitude / (_BINS - 1)
    return {
        "ShearX": 0.3 * k,
        "ShearY": 0.3 * k,
        "TranslateX": 150.0 / 331.0 * width * k,
        "TranslateY": 150.0 / 331.0 * height * k,
        "Rotate": 30.0 * k,
        "Brightness": 0.9 * k,
        "Color": 0.9 * k,
        "Contrast": 0.9 * k,
        "Sharpness": 0.9 * k,
        "Posterize": float(8 - int(round(magnitude / ((_BINS - 1) / 4)))),
        "Solarize": 1.0 - k,
    }.get(op, 0.0)


def _op(name: str, value: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The batched op ``name`` at the signed magnitude ``value`` (as torchvision's ``_apply_op``)."""
    nearest = TF.InterpolationMode.NEAREST
    geometric: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "ShearX": lambda x: TF.affine(
            x, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(value)), 0.0],
            interpolation=nearest, center=[0, 0],
        ),
        "ShearY": lambda x: TF.affine(
            x, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, math.degrees(math.atan(value))],
            interpolation=nearest, center=[0, 0],
        ),
        "TranslateX": lambda x: TF.affine(
            x, angle=0.0, translate=[int(value), 0], scale=1.0, shear=[0.0, 0.0], interpolation=nearest
        ),
        "TranslateY": lambda x: TF.affine(
            x, angle=0.0, translate=[0, int(value)], scale=1.0, shear=[0.0, 0.0], interpolation=nearest
        ),
        "Rotate": lambda x: TF.rotate(x, value, interpolation=nearest),
    }  # fmt: skip
    colour: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "Brightness": lambda x: TF.adjust_brightness(x, 1.0 + value),
        "Color": lambda x: TF.adjust_saturation(x, 1.0 + value),
        "Contrast": lambda x: TF.adjust_contrast(x, 1.0 + value),
        "Sharpness": lambda x: TF.adjust_sharpness(x, 1.0 + value),
        "Posterize": lambda x: TF.posterize(x, int(value)),
        "Solarize": lambda x: TF.solarize(x, value),
        "AutoContrast": TF.autocontrast,
        "Equalize": TF.equalize,
        "Identity": lambda x: x,
    }
    return {**geometric, **colour}[name]


def _randaugment(x: torch.Tensor, ops: torch.Tensor, signs: torch.Tensor, magnitude: int) -> torch.Tensor:
    """Each view's ops in order, every (op, sign) group of one position applied to its views at once."""
    if ops.numel() == 0 or bool((ops < 0).all()):
        return x
    height, width = x.shape[-2:]
    for position in range(ops.shape[1]):
        column, sign = ops[:, position], signs[:, position]
        for op in torch.unique(column[column >= 0]).tolist():
            name = RANDAUGMENT_OPS[op]
            for s in (-1.0, 1.0):
                picked = torch.nonzero((column == op) & (sign == s)).flatten()
                if picked.numel():
                    value = _magnitude(name, height, width, magnitude)
                    signed = value * s if name not in ("Posterize", "Solarize") else value
                    x[picked] = _op(name, signed)(x[picked]).clamp_(0, 1)
    return x


def _cutout(x: torch.Tensor, squares: torch.Tensor) -> torch.Tensor:
    """A grey (0.5) square per view: centre and side as fractions of the view (side 0: none)."""
    if squares.numel() == 0 or bool((squares[:, 2] <= 0).all()):
        return x
    height, width = x.shape[-2:]
    side = (squares[:, 2] * min(height, width)).floor()
    cx, cy = (squares[:, 0] * width).floor(), (squares[:, 1] * height).floor()
    half = (side / 2).floor()
    xs = torch.arange(width, device=x.device, dtype=torch.float32).view(1, 1, -1)
    ys = torch.arange(height, device=x.device, dtype=torch.float32).view(1, -1, 1)
    inside = (
        (xs >= (cx - half).view(-1, 1, 1))
        & (xs <= (cx + half).view(-1, 1, 1))
        & (ys >= (cy - half).view(-1, 1, 1))
        & (ys <= (cy + half).view(-1, 1, 1))
        & (side >= 1).view(-1, 1, 1)
    )
    return torch.where(inside.unsqueeze(1), torch.full_like(x, 0.5), x)


def render(
    images: torch.Tensor,
    sizes: torch.Tensor,
    params: Mapping[str, torch.Tensor] | ViewParams,
    consumer: Consumer,
    magnitude: int = 9,
) -> torch.Tensor:
    """``[K, 3, h, w]`` normalised inputs of ``consumer``: the views ``params`` of ``images``.

    ``images``: ``to_float`` of a store batch (on the device the views are made on); ``sizes``: ``[B, 2]``
    stored height and width of its images; ``magnitude``: RandAugment's bin, for the strong views."""
    if isinstance(params, ViewParams):
        params = {k.split(":", 1)[1]: torch.as_tensor(v) for k, v in params.arrays("v").items()}
    device = images.device
    p = {k: v.to(device) for k, v in params.items()}
    with torch.autocast(device_type=device.type, enabled=False):
        if len(p["image"]) == 0:
            return torch.zeros((0, 3, consumer.height, consumer.width), device=device)
        boxes = _boxes(p, sizes.to(device), consumer)
        x = roi_align(images, boxes, (consumer.height, consumer.width), 1.0, -1, True)
        x = torch.where(p["flip"].bool().view(-1, 1, 1, 1), x.flip(-1), x)
        if bool((p["jitter"] != 1).any()):
            x = _jitter(x, p["jitter"])
        x = _randaugment(x, p["ops"], p["signs"], magnitude)
        x = _cutout(x, p["cutout"])
        mean = torch.tensor(consumer.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(consumer.std, device=device).view(1, 3, 1, 1)
        return (x - mean) / std


def render_all(
    pixels: torch.Tensor, sizes: torch.Tensor, parts: Sequence[Mapping[str, torch.Tensor]], consumer: Consumer,
    magnitude: int = 9,
) -> torch.Tensor:  # fmt: skip
    """Several groups of views of one store batch, concatenated in order (the batch converted once)."""
    images = to_float(pixels)
    return torch.cat([render(images, sizes, part, consumer, magnitude) for part in parts])

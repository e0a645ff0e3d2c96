"""Views made as batched tensor ops on the device: the crops, then flips, colour jitter, RandAugment
grouped by op, Cutout and each consumer's normalisation, each over the whole batch.

Inputs are a padded uint8 batch from the store (``ImageStore.read``) and ``ViewParams`` (drawn on the
CPU, ``data/view_params.py``). The same code runs on CPU tensors, so a CPU run gains too. Pixels are
made in float32 outside autocast, so a bf16 run trains on the same views as an fp32 one.

**Geometry.** A consumer (the student, a teacher) sees what its timm eval preprocessing would make of
the view: the view's box resized so its shorter side is ``input / crop_pct``, then the centre
``input`` crop. Both steps are one box in the stored image, rounded to whole pixels, resized to the
input (bilinear, antialiased, as Pillow and timm resize); on the CPU the resize runs on the uint8 bytes
(torch's vectorised kernel). A box covering an image at its own size copies it exactly. (A single
``torchvision.ops.roi_align`` call over the batch was measured at 6x the cost on the CPU.)

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
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from zoo_distill.data.view_params import RANDAUGMENT_OPS, ViewParams

__all__ = ["Consumer", "render", "render_all", "view_tensors"]

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


def view_tensors(inputs: Mapping[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """The ``ViewParams`` arrays of ``inputs`` stored under ``prefix`` (as ``ViewParams.arrays`` named them)."""
    return {key.split(":", 1)[1]: value for key, value in inputs.items() if key.startswith(prefix + ":")}


def _boxes(params: Mapping[str, torch.Tensor], sizes: torch.Tensor, consumer: Consumer) -> torch.Tensor:
    """``[K, 5]`` boxes (batch row, x0, y0, x1, y1): the view's box, then the consumer's centre crop inside
    it, in stored pixels."""
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


def _crop_resize(pixels: torch.Tensor, boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Each box of the uint8 batch ``pixels`` ``[B, H, W, 3]``, rounded to whole pixels (as timm's crop
    is), resized to ``height`` x ``width`` (bilinear, antialiased when it shrinks, as Pillow's resize), as
    float ``[K, 3, height, width]`` in [0, 1]. On the CPU the resize runs on the uint8 bytes in their
    channels-last layout (torch's vectorised kernel, several times the float one's speed); elsewhere on
    floats. One resize call per view: the crops differ in size, and each call costs its pixels only."""
    whole = boxes[:, 1:].round().long()
    x0, y0 = whole[:, 0].clamp(min=0), whole[:, 1].clamp(min=0)
    x1, y1 = torch.maximum(whole[:, 2], x0 + 1), torch.maximum(whole[:, 3], y0 + 1)
    on_cpu = pixels.device.type == "cpu"
    out = torch.empty(
        (len(boxes), 3, height, width), dtype=torch.uint8 if on_cpu else torch.float32, device=pixels.device
    )
    for k, (row, a, b, c, d) in enumerate(torch.stack([boxes[:, 0].long(), x0, y0, x1, y1], 1).tolist()):
        crop = pixels[row, b:d, a:c].permute(2, 0, 1).unsqueeze(0)
        crop = crop if on_cpu else crop.float()
        out[k] = F.interpolate(crop, size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]
    return out.float().div_(255) if on_cpu else out.div_(255).clamp_(0, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """Pillow's L conversion ``[K, 1, H, W]``, as three multiply-adds (no ``[K, 3, H, W]`` temporary)."""
    grey = x[:, 0:1] * _GREY[0]
    return grey.add_(x[:, 1:2], alpha=_GREY[1]).add_(x[:, 2:3], alpha=_GREY[2])


def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation per view (factors ``[K, 3]``), each clamped as Pillow's."""
    b, c, s = (factors[:, k].to(x.dtype).view(-1, 1, 1, 1) for k in range(3))
    x = x.mul_(b).clamp_(0, 1)
    weights = torch.tensor(_GREY, dtype=x.dtype, device=x.device)
    mean = (x.mean(dim=(2, 3)) @ weights).view(-1, 1, 1, 1)  # the grey image's mean, from the channels' means
    x = x.sub_(mean).mul_(c).add_(mean).clamp_(0, 1)
    grey = _grey(x)
    return x.sub_(grey).mul_(s).add_(grey).clamp_(0, 1)


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


def _sharpness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Pillow's SHARPEN blend as torchvision's ``adjust_sharpness`` makes it (kernel 1 1 1 / 1 5 1 / 1 1 1
    over 13, the border pixels kept), the kernel written as a 3 x 3 box sum plus 4 x the centre, so it
    runs as one ``avg_pool2d``: torchvision's depthwise ``conv2d`` costs 20x that on the CPU."""
    if x.shape[-1] < 3 or x.shape[-2] < 3:
        return x
    blurred = x.clone()
    inner = F.avg_pool2d(x, 3, 1).mul_(9).add_(x[..., 1:-1, 1:-1], alpha=4).div_(13)
    blurred[..., 1:-1, 1:-1] = inner
    return blurred.lerp_(x, factor).clamp_(0, 1)  # torchvision's blend: factor * x + (1 - factor) * blurred


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
        "Sharpness": lambda x: _sharpness(x, 1.0 + value),
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
            if name == "Identity":
                continue
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
    x0, x1 = (cx - half).clamp(min=0), (cx + half + 1).clamp(max=width)
    y0, y1 = (cy - half).clamp(min=0), (cy + half + 1).clamp(max=height)
    for k, (a, b, c, d, s) in enumerate(torch.stack([x0, x1, y0, y1, side], 1).long().tolist()):
        if s >= 1:
            x[k, :, c:d, a:b] = 0.5
    return x


def render(
    pixels: torch.Tensor,
    sizes: torch.Tensor,
    params: Mapping[str, torch.Tensor] | ViewParams,
    consumer: Consumer,
    magnitude: int = 9,
) -> torch.Tensor:
    """``[K, 3, h, w]`` normalised inputs of ``consumer``: the views ``params`` of ``images``.

    ``pixels``: a uint8 store batch ``[B, H, W, 3]`` (on the device the views are made on); ``sizes``: ``[B, 2]``
    stored height and width of its images; ``magnitude``: RandAugment's bin, for the strong views."""
    if isinstance(params, ViewParams):
        params = {k.split(":", 1)[1]: torch.as_tensor(v) for k, v in params.arrays("v").items()}
    device = pixels.device
    p = {k: v.to(device) for k, v in params.items()}
    with torch.autocast(device_type=device.type, enabled=False):
        if len(p["image"]) == 0:
            return torch.zeros((0, 3, consumer.height, consumer.width), device=device)
        x = _crop_resize(pixels, _boxes(p, sizes.to(device), consumer), consumer.height, consumer.width)
        flipped = torch.nonzero(p["flip"].bool()).flatten()
        if flipped.numel():
            x[flipped] = x[flipped].flip(-1)
        jittered = torch.nonzero((p["jitter"] != 1).any(1)).flatten()  # views of factors 1 stay as they are
        if jittered.numel() == len(x):
            x = _jitter(x, p["jitter"])
        elif jittered.numel():
            x[jittered] = _jitter(x[jittered], p["jitter"][jittered])
        x = _randaugment(x, p["ops"], p["signs"], magnitude)
        x = _cutout(x, p["cutout"])
        mean = torch.tensor(consumer.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(consumer.std, device=device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)


def render_all(
    pixels: torch.Tensor, sizes: torch.Tensor, parts: Sequence[Mapping[str, torch.Tensor]], consumer: Consumer,
    magnitude: int = 9,
) -> torch.Tensor:  # fmt: skip
    """Several groups of views of one store batch, in order: their parameters joined (RandAugment's op
    columns padded with none), so the views are made in one pass, not made apart and then copied together."""
    if len(parts) == 1:
        return render(pixels, sizes, parts[0], consumer, magnitude)
    width = max(part["ops"].shape[1] for part in parts)

    def padded(part: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = width - part["ops"].shape[1]
        if not missing:
            return dict(part)
        rows = part["ops"].shape[0]
        ops = torch.cat([part["ops"], torch.full((rows, missing), -1, dtype=part["ops"].dtype)], 1)
        signs = torch.cat([part["signs"], torch.ones((rows, missing), dtype=part["signs"].dtype)], 1)
        return {**part, "ops": ops, "signs": signs}

    joined = [padded(part) for part in parts]
    return render(pixels, sizes, {key: torch.cat([p[key] for p in joined]) for key in joined[0]}, consumer, magnitude)

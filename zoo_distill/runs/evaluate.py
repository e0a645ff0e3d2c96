"""Evaluating and using a finished run directory (the student as timm loads it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo_distill.data.target import scan_labeled
from zoo_distill.errors import DataError, ZooDistillError
from zoo_distill.runs.run import accuracy_of
from zoo_distill.training.student import Student
from zoo_distill.util.checks import check_int

__all__ = ["MAX_TOP", "evaluate_run", "predict_images", "preprocess_images", "run_student", "torch_logits"]

MAX_TOP = 1_000_000


def run_student(run_dir: Path) -> tuple[Student, list[str]]:
    """The run's student as timm rebuilds it, with its preprocessing and class names."""
    from zoo_distill.runs.export import load_student

    model, config = load_student(Path(run_dir))
    from timm.data import resolve_data_config

    from zoo_distill.zoo.teacher import preprocessing

    if config["num_classes"] < 1:
        raise ZooDistillError(
            f"student export: {Path(run_dir) / 'config.json'}: num_classes is 0; "
            "a model without a classifier head cannot classify"
        )
    names = list(config.get("label_names") or [str(i) for i in range(config["num_classes"])])
    return Student(model, config["architecture"], str(run_dir), preprocessing(resolve_data_config(model=model))), names


def _is_onnx(path: Path) -> bool:
    """An exported student (``zoo-distill export``) rather than a run directory."""
    return Path(path).suffix.lower() == ".onnx"


def _classifier(run_dir: Path) -> tuple[dict[str, Any], list[str], Callable[[torch.Tensor], np.ndarray]]:
    """(preprocessing, class names, logits of preprocessed inputs) of a run directory or an ONNX file."""
    if _is_onnx(run_dir):
        from zoo_distill.runs.onnx import OnnxStudent

        exported = OnnxStudent.load(Path(run_dir))
        return exported.data_config(), exported.label_names, exported.logits
    student, names = run_student(run_dir)

    def logits(inputs: torch.Tensor) -> np.ndarray:
        return torch_logits(student.model, inputs)

    return student.data_config, names, logits


@torch.inference_mode()
def torch_logits(model: torch.nn.Module, inputs: torch.Tensor, batch: int = 64) -> np.ndarray:
    """``[N, classes]`` float32 logits on the CPU, in batches (so a large split does not go through at once)."""
    model.eval()
    parts = [model(inputs[i : i + batch]).float().numpy() for i in range(0, len(inputs), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def preprocess_images(config: dict[str, Any], paths: Iterable[Path]) -> torch.Tensor:
    """The student's eval inputs of image files (``config``: its timm data config), on the CPU: decoded into
    a scratch image store and their eval views made as in training and evaluation (``data/render.py``)."""
    from zoo_distill.data.render import Consumer, render
    from zoo_distill.data.store import open_store, store_side
    from zoo_distill.data.view_params import eval_views

    store = open_store([Path(p) for p in paths], store_side(config), None)
    consumer, parts = Consumer.of(config), []
    for start in range(0, len(store), 64):
        index = np.arange(start, min(start + 64, len(store)))
        sizes = torch.from_numpy(store.sizes[index].copy())
        parts.append(render(torch.from_numpy(store.read(index)), sizes, eval_views(len(index)), consumer))
    _, height, width = (int(s) for s in config["input_size"])
    return torch.cat(parts) if parts else torch.zeros((0, 3, height, width))


def evaluate_run(run_dir: Path, data: Path) -> dict[str, Any]:
    """Accuracy on ``data/test`` (or ``data`` itself when it holds class folders), of a run's student
    or of its ONNX export."""
    config, names, logits = _classifier(run_dir)
    data = Path(data)
    if (data / "test").is_dir():
        split = scan_labeled(data / "test", "test", tuple(names))
    elif (data / "train").is_dir() and not (data / "test").exists():
        raise DataError(f"{data} has no test/ split to evaluate on")
    else:
        split = scan_labeled(data, "evaluation", tuple(names))
    pred = logits(preprocess_images(config, split.paths)).argmax(1)
    report = accuracy_of(pred, np.asarray(split.labels), names)
    return {**report, "images": len(split), "run_dir": str(run_dir)}


def predict_images(run_dir: Path, images: list[Path], top: int = 1) -> list[dict[str, Any]]:
    check_int("--top", top, 1, MAX_TOP)
    config, names, logits = _classifier(run_dir)
    for path in images:
        if not Path(path).exists():
            raise DataError(f"image {path} does not exist")
        if not Path(path).is_file():
            raise DataError(f"image {path} is not a file")
    probs = torch.softmax(torch.as_tensor(logits(preprocess_images(config, images))), dim=1)
    rows = []
    for path, p in zip(images, probs):
        values, idx = p.topk(min(top, len(names)))
        rows.append({"image": str(path), "top": [(names[int(i)], float(v)) for v, i in zip(values, idx)]})
    return rows

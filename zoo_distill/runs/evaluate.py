"""Evaluating and using a finished run directory (the student as timm loads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo_distill.data.target import load_rgb, scan_labeled
from zoo_distill.errors import DataError, ZooDistillError
from zoo_distill.runs.run import accuracy_report
from zoo_distill.training.inputs import StudentInputs
from zoo_distill.training.student import Student
from zoo_distill.util.checks import check_int

__all__ = ["MAX_TOP", "evaluate_run", "predict_images"]

MAX_TOP = 1_000_000


def _student(run_dir: Path) -> tuple[Student, list[str]]:
    from zoo_distill.runs.export import load_student

    model, config = load_student(Path(run_dir))
    from timm.data import resolve_data_config

    from zoo_distill.zoo.teacher import preprocessing

    if config["num_classes"] < 1:
        raise ZooDistillError(f"student export: {Path(run_dir) / 'config.json'}: num_classes is 0; "
                              "a model without a classifier head cannot classify")
    names = list(config.get("label_names") or [str(i) for i in range(config["num_classes"])])
    return Student(model, config["architecture"], str(run_dir), preprocessing(resolve_data_config(model=model))), names


def evaluate_run(run_dir: Path, data: Path) -> dict[str, Any]:
    """Accuracy on ``data/test`` (or ``data`` itself when it holds class folders)."""
    student, names = _student(run_dir)
    data = Path(data)
    if (data / "test").is_dir():
        split = scan_labeled(data / "test", "test", tuple(names))
    elif (data / "train").is_dir() and not (data / "test").exists():
        raise DataError(f"{data} has no test/ split to evaluate on")
    else:
        split = scan_labeled(data, "evaluation", tuple(names))
    inputs = StudentInputs(student, torch.device("cpu"))(load_rgb(p) for p in split.paths)
    report = accuracy_report(student.model, inputs, np.asarray(split.labels), names, torch.device("cpu"))
    return {**report, "images": len(split), "run_dir": str(run_dir)}


def predict_images(run_dir: Path, images: list[Path], top: int = 1) -> list[dict[str, Any]]:
    check_int("--top", top, 1, MAX_TOP)
    student, names = _student(run_dir)
    for path in images:
        if not Path(path).exists():
            raise DataError(f"image {path} does not exist")
        if not Path(path).is_file():
            raise DataError(f"image {path} is not a file")
    inputs = StudentInputs(student, torch.device("cpu"))(load_rgb(Path(p)) for p in images)
    with torch.inference_mode():
        probs = torch.softmax(student.model.eval()(inputs).float(), dim=1)
    rows = []
    for path, p in zip(images, probs):
        values, idx = p.topk(min(top, len(names)))
        rows.append({"image": str(path), "top": [(names[int(i)], float(v)) for v, i in zip(values, idx)]})
    return rows

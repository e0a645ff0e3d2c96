"""The student as ONNX, for the places it is deployed (phones, edge boxes, CPUs without torch).

``export_onnx`` writes ``student.onnx`` (a dynamic batch axis) and ``preprocessing.json`` (what
an image must go through before the graph) into ``RUN/onnx/``, then checks the graph with
onnxruntime against torch on the run's test images, so a user never ships a graph that disagrees
with the student they measured. ``int8=True`` adds a statically quantised copy (onnxruntime's QDQ
quantisation, calibrated on the run's labeled images, never on its test images) and reports its
accuracy and CPU latency beside the fp32 graph's. Every figure is stored in ``export.json``.

onnx, onnxscript and onnxruntime are an optional extra (``pip install 'zoo-distill[export]'``),
imported only here and only when an export or an ONNX file is used.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo_distill._version import __version__
from zoo_distill.data.target import scan_labeled
from zoo_distill.errors import ConfigError, ZooDistillError
from zoo_distill.util.atomic import atomic_write, atomic_write_json

__all__ = [
    "EXPORT_DIR",
    "FORMATS",
    "INT8_FILE",
    "ONNX_FILE",
    "PREPROCESSING_FILE",
    "REPORT_FILE",
    "OnnxStudent",
    "export_onnx",
    "require_export_extra",
]

FORMATS = ("onnx",)
EXPORT_DIR = "onnx"
ONNX_FILE = "student.onnx"
INT8_FILE = "student.int8.onnx"
PREPROCESSING_FILE = "preprocessing.json"
REPORT_FILE = "export.json"
OPSET = 18
_INPUT, _OUTPUT = "input", "logits"
_BATCH = 64  # images per session.run call when checking a split
_CALIBRATION_IMAGES = 256
_INSTALL = "pip install 'zoo-distill[export]'"


def require_export_extra() -> None:
    """Fail with the install line, not an ImportError, when the export extra is missing."""
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ZooDistillError(f"ONNX export and ONNX files need {', '.join(missing)}: {_INSTALL}")


def _session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the quantiser's graphs make ORT warn about unused initialisers
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise ZooDistillError(f"ONNX file {path} cannot be loaded by onnxruntime: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


@dataclass
class OnnxStudent:
    """An exported student read back: the graph in onnxruntime plus the preprocessing recorded beside it."""

    path: Path
    session: Any
    preprocessing: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> OnnxStudent:
        require_export_extra()
        path = Path(path)
        if not path.is_file():
            raise ZooDistillError(
                f"ONNX file {path} does not exist" if not path.exists() else f"ONNX file {path} is not a file"
            )
        pre_path = path.with_name(PREPROCESSING_FILE)
        try:
            pre = json.loads(pre_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ZooDistillError(
                f"ONNX file {path}: no {PREPROCESSING_FILE} beside it; export it with "
                f"`zoo-distill export RUN --format onnx`, which writes both"
            ) from None
        except (OSError, ValueError) as exc:
            raise ZooDistillError(f"{pre_path} cannot be read: {exc}") from None
        from zoo_distill.zoo.providers import check_cfg_value

        if not isinstance(pre, dict) or not isinstance(pre.get("label_names"), list):
            raise ZooDistillError(f"{pre_path}: field 'label_names' must be a list of class names")
        for key in ("input_size", "mean", "std", "interpolation", "crop_pct"):
            problem = check_cfg_value(key, pre.get(key)) if key in pre else "is missing"
            if problem:
                raise ZooDistillError(f"{pre_path}: field {key!r} {problem}")
        return cls(path, _session(path), pre)

    @property
    def label_names(self) -> list[str]:
        return [str(n) for n in self.preprocessing["label_names"]]

    def data_config(self) -> dict[str, Any]:
        keys = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
        return {k: tuple(v) if isinstance(v, list) else v for k, v in self.preprocessing.items() if k in keys}

    def logits(self, inputs: torch.Tensor) -> np.ndarray:
        """``[N, classes]`` float32 logits of preprocessed ``inputs``, in batches."""
        name = self.session.get_inputs()[0].name
        parts = [
            self.session.run(None, {name: inputs[i : i + _BATCH].numpy()})[0] for i in range(0, len(inputs), _BATCH)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.label_names)), np.float32)


def _export_graph(model: torch.nn.Module, input_size: Sequence[int], path: Path, arch: str) -> None:
    """torch.onnx's dynamo exporter with a dynamic batch axis; its progress prints and warnings kept quiet,
    and any failure one line naming the architecture and the exporter's reason (often the op)."""
    example = torch.zeros(2, *input_size)  # a batch of 2: a batch of 1 would be specialised away
    batch = torch.export.Dim("batch", min=1, max=65536)

    def write(tmp: str) -> None:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (example,),
                None,
                input_names=[_INPUT],
                output_names=[_OUTPUT],
                dynamic_shapes=({0: batch},),
                dynamo=True,
                opset_version=OPSET,
                external_data=False,
                verbose=False,
            )
            assert program is not None  # dynamo=True with no file returns the program
            program.save(tmp)

    try:
        atomic_write(path, write)
    except ZooDistillError:
        raise
    except Exception as exc:  # the exporter raises many types (torch._dynamo, onnxscript, export errors)
        raise ZooDistillError(f"ONNX export of the student {arch!r} failed: {_first_line(exc)}") from None


def _test_split(run_dir: Path, data: Path | None, names: list[str]):
    """The images the export is checked on: ``data``'s test split, else the run's own (run.json)."""
    if data is None:
        test = _recorded_split(run_dir, "test")
        if not test:
            raise ConfigError(f"{run_dir}: run.json records no test split to check the export on; pass --data")
        root = Path(test)
    else:
        root = Path(data) / "test" if (Path(data) / "test").is_dir() else Path(data)
    if not root.is_dir():
        raise ConfigError(f"the test split {root} to check the export on does not exist; pass --data")
    return scan_labeled(root, "test", tuple(names))


def _latency_ms(session: Any, single: np.ndarray, runs: int) -> float:
    """Median wall time of one batch-1 call, after warm-up calls."""
    name = session.get_inputs()[0].name
    for _ in range(5):
        session.run(None, {name: single})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {name: single})
        times.append((time.perf_counter() - start) * 1000)
    return float(statistics.median(times))


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over preprocessed labeled images, one at a time."""

    def __init__(self, inputs: torch.Tensor) -> None:
        self._rows = iter(inputs.split(1))

    def get_next(self) -> dict[str, np.ndarray] | None:
        row = next(self._rows, None)
        return None if row is None else {_INPUT: row.numpy()}


def _quantize(fp32: Path, out: Path, calibration: torch.Tensor) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    def write(tmp: str) -> None:
        prepared = tmp + ".pre.onnx"
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quant_pre_process(str(fp32), prepared, skip_symbolic_shape=True)
                quantize_static(
                    prepared,
                    tmp,
                    _Calibration(calibration),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                )
        finally:
            if os.path.exists(prepared):
                os.unlink(prepared)

    try:
        atomic_write(out, write)
    except ZooDistillError:
        raise
    except Exception as exc:  # the quantiser raises plain Exceptions and onnx errors
        raise ZooDistillError(f"int8 quantisation of {fp32} failed: {_first_line(exc)}") from None


def _accuracy(pred: np.ndarray, labels: np.ndarray) -> float | None:
    return float((pred == labels).mean()) if len(labels) else None


def export_onnx(
    run_dir: Path,
    out: Path | None = None,
    *,
    data: Path | None = None,
    int8: bool = False,
    latency_runs: int = 50,
    threads: int = 1,
) -> dict[str, Any]:
    """Export the run's student to ``out`` (default ``RUN/onnx``), check it, and return the report."""
    from zoo_distill.runs.evaluate import preprocess_images, run_student, torch_logits

    require_export_extra()
    if latency_runs < 1:
        raise ConfigError(f"latency runs must be at least 1, got {latency_runs}")
    run_dir = Path(run_dir)
    student, names = run_student(run_dir)
    split = _test_split(run_dir, data, names)
    out = Path(out) if out is not None else run_dir / EXPORT_DIR
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooDistillError(f"export folder {out} cannot be created: {exc.strerror or exc}") from None
    config = dict(student.data_config)
    _export_graph(student.model, config["input_size"], out / ONNX_FILE, student.arch)
    atomic_write_json(
        out / PREPROCESSING_FILE,
        {
            "format": "onnx",
            "opset": OPSET,
            "input": _INPUT,
            "output": _OUTPUT,
            "layout": "NCHW float32, RGB",
            "steps": "resize the shorter side to input_size / crop_pct with interpolation, centre crop to input_size, "
            "scale to [0, 1], subtract mean and divide by std per channel",
            **{k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
            "architecture": student.arch,
            "num_classes": len(names),
            "label_names": names,
            "zoo_distill": __version__,
        },
    )

    inputs = preprocess_images(config, split.paths)
    labels = np.asarray(split.labels)
    reference = torch_logits(student.model, inputs)
    exported = OnnxStudent.load(out / ONNX_FILE)
    logits = exported.logits(inputs)
    report: dict[str, Any] = {
        "run_dir": str(run_dir),
        "test_images": len(labels),
        "test_split": str(split.root),
        "onnx": {
            "file": str(out / ONNX_FILE),
            "bytes": (out / ONNX_FILE).stat().st_size,
            "max_abs_logit_diff": float(np.abs(logits - reference).max()) if len(labels) else 0.0,
            "top1_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()) if len(labels) else 1.0,
            "test_accuracy": _accuracy(logits.argmax(1), labels),
            "torch_test_accuracy": _accuracy(reference.argmax(1), labels),
        },
        "latency": {"batch": 1, "runs": latency_runs, "threads": threads},
    }
    single = inputs[:1].numpy() if len(inputs) else np.zeros((1, *config["input_size"]), np.float32)
    report["onnx"]["cpu_latency_ms"] = _latency_ms(_session(out / ONNX_FILE, threads), single, latency_runs)
    if int8:
        labeled = scan_labeled(_labeled_root(run_dir), "train", tuple(names))
        calibration = preprocess_images(config, labeled.paths[:_CALIBRATION_IMAGES])
        _quantize(out / ONNX_FILE, out / INT8_FILE, calibration)
        quantized = OnnxStudent(out / INT8_FILE, _session(out / INT8_FILE), exported.preprocessing)
        q_logits = quantized.logits(inputs)
        report["int8"] = {
            "file": str(out / INT8_FILE),
            "bytes": (out / INT8_FILE).stat().st_size,
            "calibration_images": len(calibration),
            "test_accuracy": _accuracy(q_logits.argmax(1), labels),
            "top1_agreement": float((q_logits.argmax(1) == reference.argmax(1)).mean()) if len(labels) else 1.0,
            "cpu_latency_ms": _latency_ms(_session(out / INT8_FILE, threads), single, latency_runs),
        }
    atomic_write_json(out / REPORT_FILE, report)
    return report


def _recorded_split(run_dir: Path, split: str) -> str | None:
    """Where the run's ``split`` came from, as its run.json records it (None when it does not)."""
    from zoo_distill.util.regular import read_regular_text

    try:
        target = json.loads(read_regular_text(run_dir / "run.json")).get("target")
    except (OSError, ValueError, AttributeError):
        return None
    value = target.get(split) if isinstance(target, dict) else None
    return value if isinstance(value, str) else None


def _labeled_root(run_dir: Path) -> Path:
    """The run's labeled split (run.json), the images int8 calibration may use."""
    labeled = _recorded_split(run_dir, "labeled")
    if labeled is None:
        raise ConfigError(f"{run_dir}: run.json records no labeled split to calibrate int8 on")
    return Path(labeled)

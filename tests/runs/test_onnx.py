"""ONNX export of a run's student: parity with torch, the int8 copy, eval/predict of the .onnx file, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

from zoo_distill import api  # noqa: E402
from zoo_distill.cli.app import app  # noqa: E402
from zoo_distill.errors import ZooDistillError  # noqa: E402
from zoo_distill.runs.onnx import INT8_FILE, ONNX_FILE, PREPROCESSING_FILE, REPORT_FILE  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished fine-tune run of timm's tiny resnet (3 classes) with a test split of 12 images."""
    from tests.conftest import write_split

    root = tmp_path_factory.mktemp("onnx-run")
    write_split(root / "target" / "train", 3, 6, seed=1)
    write_split(root / "target" / "test", 3, 4, seed=2)
    result = api.run(
        root / "target",
        None,
        method="finetune",
        student="test_resnet",
        student_init="scratch",
        input_size=32,
        epochs=2,
        steps_per_epoch=3,
        batch_size=6,
        out=root / "run",
    )
    return result.run_dir, root / "target"


def test_export_matches_torch_on_the_test_images(finished_run):
    run_dir, target = finished_run
    report = api.export(run_dir, latency_runs=5)
    out = run_dir / "onnx"
    assert (out / ONNX_FILE).is_file() and (out / PREPROCESSING_FILE).is_file()
    assert json.loads((out / REPORT_FILE).read_text()) == json.loads(json.dumps(report))
    assert report["test_images"] == 12
    assert report["onnx"]["max_abs_logit_diff"] <= 1e-4
    assert report["onnx"]["top1_agreement"] >= 0.999
    assert report["onnx"]["test_accuracy"] == report["onnx"]["torch_test_accuracy"]
    assert report["onnx"]["cpu_latency_ms"] > 0
    pre = json.loads((out / PREPROCESSING_FILE).read_text())
    assert pre["input_size"] == [3, 32, 32] and pre["label_names"] == ["class_0", "class_1", "class_2"]
    assert "int8" not in report


def test_the_batch_axis_is_dynamic(finished_run):
    import onnxruntime as ort

    run_dir, _ = finished_run
    api.export(run_dir, latency_runs=1)
    session = ort.InferenceSession(str(run_dir / "onnx" / ONNX_FILE), providers=["CPUExecutionProvider"])
    for batch in (1, 3, 17):
        (logits,) = session.run(None, {"input": np.zeros((batch, 3, 32, 32), np.float32)})
        assert logits.shape == (batch, 3)


def test_eval_and_predict_accept_the_onnx_file(finished_run):
    run_dir, target = finished_run
    api.export(run_dir, latency_runs=1)
    onnx_file = run_dir / "onnx" / ONNX_FILE
    assert api.evaluate(onnx_file, target) == {**api.evaluate(run_dir, target), "run_dir": str(onnx_file)}
    images = sorted((target / "test" / "class_1").iterdir())[:3]
    from_onnx, from_torch = api.predict(onnx_file, images, top=2), api.predict(run_dir, images, top=2)
    for a, b in zip(from_onnx, from_torch):
        assert [name for name, _ in a["top"]] == [name for name, _ in b["top"]]
        assert np.allclose([p for _, p in a["top"]], [p for _, p in b["top"]], atol=1e-5)


def test_int8_copy_reports_accuracy_and_latency(finished_run, tmp_path):
    run_dir, _ = finished_run
    report = api.export(run_dir, out=tmp_path / "exported", int8=True, latency_runs=5)
    q = report["int8"]
    assert (tmp_path / "exported" / INT8_FILE).is_file()
    assert 0 <= q["test_accuracy"] <= 1 and q["cpu_latency_ms"] > 0
    assert q["calibration_images"] == 18  # the labeled images, never the test images
    assert q["bytes"] < report["onnx"]["bytes"]
    # the quantised graph reads the same preprocessing and answers for every test image
    assert api.evaluate(tmp_path / "exported" / INT8_FILE, finished_run[1])["images"] == 12


def test_cli_export_prints_the_figures_and_strict_json(finished_run, tmp_path):
    run_dir, _ = finished_run
    result = CliRunner().invoke(
        app, ["export", str(run_dir), "--out", str(tmp_path / "x"), "--latency-runs", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert report["onnx"]["top1_agreement"] >= 0.999
    table = CliRunner().invoke(app, ["export", str(run_dir), "--out", str(tmp_path / "y"), "--latency-runs", "2"])
    assert table.exit_code == 0 and "top-1 agreement" in table.stdout and "fp32" in table.stdout


def test_errors_are_one_line_naming_what_is_wrong(finished_run, tmp_path, monkeypatch):
    import torch

    run_dir, _ = finished_run
    with pytest.raises(ZooDistillError, match="--format must be onnx"):
        api.export(run_dir, "tflite")
    with pytest.raises(ZooDistillError, match="run directory .* does not exist"):
        api.export(tmp_path / "nowhere")
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(b"not a graph")
    with pytest.raises(ZooDistillError, match="no preprocessing.json beside it"):
        api.evaluate(lone, finished_run[1])
    (tmp_path / PREPROCESSING_FILE).write_text(
        json.dumps(
            {
                "label_names": ["a"],
                "input_size": [3, 32, 32],
                "mean": [0, 0, 0],
                "std": [1, 1, 1],
                "interpolation": "bilinear",
                "crop_pct": 1.0,
            }
        )
    )
    with pytest.raises(ZooDistillError, match="lone.onnx cannot be loaded by onnxruntime"):
        api.evaluate(lone, finished_run[1])

    def unsupported(*args, **kwargs):
        raise RuntimeError("Unsupported operator aten::weird_op\nmore lines of exporter detail")

    monkeypatch.setattr(torch.onnx, "export", unsupported)
    with pytest.raises(ZooDistillError) as err:
        api.export(run_dir, out=tmp_path / "z")
    assert str(err.value) == "ONNX export of the student 'test_resnet' failed: Unsupported operator aten::weird_op"
    assert not list((tmp_path / "z").glob("*.onnx"))  # nothing half-written left behind


def test_a_missing_extra_names_the_install_line(monkeypatch, finished_run):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ZooDistillError, match=r"need onnxruntime: pip install 'zoo-distill\[export\]'"):
        api.export(finished_run[0])

"""Publishing a trained student on the Hugging Face Hub as a timm-format repo (``zoo-distill push``).

The repo gets exactly what timm's ``create_model("hf-hub:ORG/NAME", pretrained=True)`` and zoo-distill's
``hf-hub`` provider read, plus a model card:

* ``config.json`` – timm's own config, as exported with the run;
* ``model.safetensors`` – the student's weights (safetensors; never a pickle);
* ``README.md`` – a generated model card: method, test accuracy, source weights, student cost, data
  sizes, and the timm snippet that loads the model.

Not pushed: the training checkpoint (optimizer state, large, useless for inference), ``run.json`` (it
records local paths of the target data and zoo file) and ``metrics.json`` itself (its free-text notes
can hold local paths; the card carries the numbers). Uploads use ``HfApi.create_repo(exist_ok=True)`` and
``HfApi.upload_folder`` with ``allow_patterns`` on a staging folder, so nothing else can slip in.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo_distill._version import __version__
from zoo_distill.errors import ZooDistillError
from zoo_distill.runs.export import CONFIG_FILE, TIMM_WEIGHTS_FILE, load_student
from zoo_distill.runs.export import _weights_file as export_weights_file
from zoo_distill.zoo.hub import is_offline

__all__ = ["METRICS_FILE", "PUSHED_FILES", "PushResult", "README_FILE", "model_card", "push", "stage"]

README_FILE = "README.md"
METRICS_FILE = "metrics.json"
PUSHED_FILES = (CONFIG_FILE, TIMM_WEIGHTS_FILE, README_FILE)


@dataclass
class PushResult:
    repo_id: str
    revision: str
    repo_url: str
    commit_url: str
    commit_oid: str | None
    files: list[str]


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ZooDistillError(f"push: {path} is not valid JSON: {exc}") from None
    if not isinstance(metrics, dict):
        raise ZooDistillError(f"push: {path} must hold a JSON object")
    _check_metrics(metrics, path)
    return metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The metrics.json fields the model card reads, and what each must be (a hand-edited file is checked).
_NUMBER_MAPS = ("alpha", "scores", "per_class_accuracy")
_NUMBERS = ("test_accuracy", "train_seconds")
_TEXTS = ("method", "aggregator", "metric")


def _check_metrics(metrics: Mapping[str, Any], path: Path) -> None:
    """Every field the model card reads has the type it needs; else an error naming the field."""

    def fail(field: str, wanted: str, value: Any) -> None:
        raise ZooDistillError(f"push: {path}: field {field!r} must be {wanted}, got {value!r}"[:500])

    for field in _NUMBERS:
        if field in metrics and not _is_number(metrics[field]):
            fail(field, "a finite number", metrics[field])
    for field in _TEXTS:
        if metrics.get(field) is not None and not isinstance(metrics[field], str):
            fail(field, "text", metrics[field])
    for field in _NUMBER_MAPS:
        value = metrics.get(field)
        if value is not None and not (isinstance(value, dict) and all(map(_is_number, value.values()))):
            fail(field, "an object of numbers", value)
    for field, keys in (("data", ("labeled", "unlabeled", "test")), ("student", ("params", "macs", "cpu_latency_ms"))):
        value = metrics.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            fail(field, "an object", value)
        for key in keys:
            if key in value and not _is_number(value[key]):
                fail(f"{field}.{key}", "a finite number", value[key])
    classes = (metrics.get("data") or {}).get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        fail("data.classes", "a list of strings", classes)


def _fmt(value: Any, spec: str = ".4f") -> str:
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return str(value)


def model_card(repo_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """The README.md for a pushed student: YAML metadata, results from ``metrics.json``, a load snippet."""
    arch = config.get("architecture", "?")
    classes = config.get("label_names") or (metrics.get("data") or {}).get("classes") or []
    method = metrics.get("method")
    lines = [
        "---",
        "library_name: timm",
        "pipeline_tag: image-classification",
        "tags:",
        "- image-classification",
        "- timm",
        "- zoo-distill",
        "- knowledge-distillation",
        "---",
        "",
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A `{arch}` image classifier ({config.get('num_classes', len(classes))} classes) trained with "
        f"zoo-distill {__version__}, which implements *Distilling from Similar Tasks "
        "for Transfer Learning on a Budget* (Borup et al., ICCV 2023)"
        + (f", method `{method}`" if method else "")
        + ".",
        "",
    ]

    results = []
    if "test_accuracy" in metrics:
        results.append(f"| test accuracy | {_fmt(metrics['test_accuracy'])} |")
    data = metrics.get("data") or {}
    for key in ("labeled", "unlabeled", "test"):
        if key in data:
            results.append(f"| {key} images | {data[key]} |")
    student = metrics.get("student") or {}
    if "params" in student:
        results.append(f"| parameters | {_fmt(student['params'] / 1e6, '.2f')} M |")
    if "macs" in student:
        results.append(f"| MACs | {_fmt(student['macs'] / 1e6, '.1f')} M |")
    if "cpu_latency_ms" in student:
        results.append(f"| CPU latency | {_fmt(student['cpu_latency_ms'], '.2f')} ms/image |")
    if "train_seconds" in metrics:
        results.append(f"| training time | {_fmt(metrics['train_seconds'], '.1f')} s |")
    if results:
        lines += ["## Results", "", "| | |", "|---|---|", *results, ""]

    alpha = metrics.get("alpha") or {}
    if alpha:
        scores = metrics.get("scores") or {}
        lines += [
            f"## Source models (aggregator `{metrics.get('aggregator')}`, metric `{metrics.get('metric')}`)",
            "",
            "| source | score | weight α |",
            "|---|---:|---:|",
        ]
        for name, weight in sorted(alpha.items(), key=lambda kv: -float(kv[1])):
            lines.append(f"| {name} | {_fmt(scores.get(name), '.4g')} | {_fmt(weight, '.3f')} |")
        lines.append("")

    per_class = metrics.get("per_class_accuracy") or {}
    if per_class:
        lines += ["## Per-class test accuracy", "", "| class | accuracy |", "|---|---:|"]
        lines += [f"| {name} | {_fmt(acc, '.3f')} |" for name, acc in per_class.items()]
        lines.append("")
    elif classes:
        lines += ["## Classes", "", ", ".join(f"`{c}`" for c in classes), ""]

    cfg = config.get("pretrained_cfg") or {}
    size = cfg.get("input_size", [3, 224, 224])
    lines += [
        "## Usage",
        "",
        "```python",
        "import timm",
        "import torch",
        "",
        f'model = timm.create_model("hf-hub:{repo_id}", pretrained=True).eval()',
        "config = timm.data.resolve_data_config({}, model=model)",
        "transform = timm.data.create_transform(**config)  # PIL image -> tensor",
        "with torch.inference_mode():",
        f"    logits = model(torch.zeros(1, {', '.join(str(s) for s in size)}))",
        'labels = model.pretrained_cfg.get("label_names")',
        "```",
        "",
        "As a zoo entry for zoo-distill:",
        "",
        "```yaml",
        f"- name: {repo_id.split('/')[-1]}",
        "  provider: hf-hub",
        f"  repo: {repo_id}",
        "  revision: <commit id>  # pin it",
        "```",
        "",
    ]
    return "\n".join(lines)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def stage(run_dir: Path, repo_id: str, folder: Path) -> list[str]:
    """Write the repo's files into ``folder`` after checking timm can rebuild the student; returns their names."""
    run_dir = Path(run_dir)
    load_student(run_dir)  # the same checks as `eval`: config valid, safetensors only, weights fit the arch
    config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    weights = export_weights_file(run_dir)  # student.safetensors (or model.safetensors), checked to agree
    shutil.copyfile(run_dir / CONFIG_FILE, folder / CONFIG_FILE)
    _link_or_copy(weights, folder / TIMM_WEIGHTS_FILE)
    (folder / README_FILE).write_text(model_card(repo_id, config, _read_metrics(run_dir)), encoding="utf-8")
    return list(PUSHED_FILES)


def push(
    run_dir: Path,
    repo_id: str,
    revision: str = "main",
    private: bool = False,
    message: str | None = None,
    token: str | None = None,
) -> PushResult:
    """Upload a run directory's student to ``repo_id`` at branch ``revision`` (created when missing)."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HFValidationError

    who = f"push {run_dir} to Hub repo {repo_id!r} (revision {revision})"
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="zd-push-") as tmp:
        files = stage(Path(run_dir), repo_id, Path(tmp))  # the run folder is checked first, offline too
        if is_offline():
            raise ZooDistillError(f"{who}: HF_HUB_OFFLINE is set; unset it to upload")
        try:
            repo_url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            if revision != "main":
                api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
            info = api.upload_folder(
                folder_path=tmp,
                repo_id=repo_id,
                repo_type="model",
                revision=revision,
                allow_patterns=files,
                commit_message=message or f"Upload student from zoo-distill {__version__}",
            )
        except (httpx2.HTTPError, HFValidationError, ValueError, OSError) as exc:  # HfHubHTTPError included
            text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
            raise ZooDistillError(f"{who} failed: {text[:400]}") from None
    return PushResult(repo_id, revision, str(repo_url), str(info.commit_url), info.oid, files)

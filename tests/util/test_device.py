"""One device check and one worker rule for every stage."""

import pytest

from zoo_distill.errors import ConfigError
from zoo_distill.util.device import check_device, resolve_device
from zoo_distill.util.workers import MAX_WORKERS, default_workers, resolve_workers


@pytest.mark.parametrize("value", ["gpu", "cuda:", "CPU", "", None, 0])
def test_a_malformed_device_is_refused_naming_the_option(value):
    with pytest.raises(ConfigError, match="--device must be auto, cpu, cuda, cuda:N or mps"):
        check_device(value)


def test_cpu_is_checked_without_torch_and_a_missing_gpu_fails_at_once(monkeypatch):
    assert check_device("cpu") == "cpu"
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--device cuda:1: CUDA is not available on this machine; use --device cpu"):
        check_device("cuda:1")
    with pytest.raises(ConfigError, match="--gpu cuda: CUDA is not available"):
        resolve_device("cuda", option="--gpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_one_worker_rule_for_extraction_and_training():
    assert resolve_workers(3) == 3 and resolve_workers(0, images=10_000, batch_size=8) == 0
    assert resolve_workers(None) == default_workers()
    assert resolve_workers(None, images=8, batch_size=8) == 0  # one batch: nothing to overlap
    assert resolve_workers(None, images=9, batch_size=8) == default_workers()
    for bad in (-1, 1.5, MAX_WORKERS + 1):
        with pytest.raises(ConfigError, match="--workers must be a whole number"):
            resolve_workers(bad)


def test_auto_is_cuda_when_there_is_one_else_cpu(monkeypatch):
    import torch

    from zoo_distill.util.device import auto_device, pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == pick_device(None) == "cpu" and auto_device()[1] == "auto: no CUDA device"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Test GPU")
    assert auto_device() == ("cuda", "auto: CUDA device Test GPU") and pick_device("cpu") == "cpu"


def test_run_and_rank_default_to_auto_and_say_so_first(target_dir, tmp_path, monkeypatch):
    import torch
    from typer.testing import CliRunner

    from zoo_distill import api
    from zoo_distill.cli.app import app

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without CUDA
    assert api.check_run_settings("finetune").train.device == "cpu"
    base = ["baseline", "finetune", "-t", str(target_dir), "--student", "test_resnet", "--student-init", "scratch"]
    base += ["--input-size", "32", "--epochs", "1", "--steps-per-epoch", "1"]
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "ft")])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "device: cpu (auto: no CUDA device)"
    explicit = CliRunner().invoke(app, [*base, "--device", "cpu", "--out", str(tmp_path / "x")])
    assert explicit.exit_code == 0 and "device:" not in explicit.stderr


def test_rank_says_the_device_when_a_teacher_first_runs_and_not_from_the_cache(target_dir, tiny_zoo, monkeypatch):
    import torch
    from typer.testing import CliRunner

    from zoo_distill.cli.app import app

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["rank", "-t", str(target_dir), "--zoo", str(tiny_zoo), "-m", "knn"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.stderr.count("device: cpu (auto: no CUDA device)") == 1
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "device:" not in again.stderr  # served from the cache: no teacher ran

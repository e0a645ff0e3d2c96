"""Faults from the environment, made in process (the product has no fault-injection hook): a full
disk at each write of ``rank`` and ``run``, training that diverges to NaN, and folders that refuse to
be read even for root. Every one is an exit status 2 with one line, and nothing half-written stays."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

from .cases import baseline_args, run_args
from .harness import S_LOST, S_TRACE, Outcome, World, cli_env, documented, run_in_process

FULL = "No space left on device"


def safetensors_full(*args, **kwargs):
    raise SafetensorError(f"Error while serializing: I/O error: {FULL} (os error 28)")


def os_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, FULL, str(args[0]) if args else None)


def cli(d: Path, *args) -> Outcome:
    outcome = run_in_process(list(args), cli_env(d), d)
    assert outcome.crash is None, outcome.crash
    assert "Traceback" not in outcome.output
    return outcome


def one_error(outcome: Outcome, *needles: str) -> str:
    assert outcome.code == 2, outcome.output[-3000:]
    lines = outcome.error_lines()
    assert len(lines) == 1, outcome.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary files a crash could leave behind (atomic writes remove theirs)."""
    return sorted(p.name for p in folder.rglob("*.tmp")) if folder.exists() else []


def full_disk_under(monkeypatch, folder: Path) -> None:
    """Every write of data under ``folder`` fails with ENOSPC, whoever writes it: ``os.write``,
    ``os.pwrite`` and ``posix_fallocate`` on a file there, or safetensors' ``save_file`` (which writes
    from Rust and reports a full disk as a SafetensorError). Other files are written as usual."""
    import safetensors.numpy
    import safetensors.torch

    from zoo_distill.features import cache as cache_module

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to tell which file a descriptor writes to")
    folder = Path(os.path.abspath(folder))

    def under(path) -> bool:
        return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(folder)

    def fd_under(fd: int) -> bool:
        try:
            return under(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return False

    for name in ("write", "pwrite", "posix_fallocate"):
        real = getattr(os, name, None)
        if real is not None:

            def fake(fd, *args, _real=real):
                if fd_under(fd):
                    raise OSError(errno.ENOSPC, FULL)
                return _real(fd, *args)

            monkeypatch.setattr(os, name, fake)
    for module in (cache_module, safetensors.torch, safetensors.numpy):
        real = getattr(module, "save_file", None)
        if real is not None:

            def fake_save(tensors, filename, *args, _real=real, **kwargs):
                if under(filename):
                    safetensors_full()
                return _real(tensors, filename, *args, **kwargs)

            monkeypatch.setattr(module, "save_file", fake_save)


@documented(
    S_LOST,
    "A full cache disk during `rank` (every write under the cache fails with ENOSPC; "
    "safetensors reports it as a SafetensorError)",
    'Exit 2: "cannot write the image store ...: '
    'No space left on device; free space, choose another --cache-dir, or pass --no-cache" (the decoded '
    "images are the first thing written to the cache); nothing is printed as a ranking (it used to rank "
    "without that source, exit 0).",
)
def test_full_cache_disk_stops_rank(world: World, tmp_path, monkeypatch):
    full_disk_under(monkeypatch, tmp_path / "c")
    outcome = cli(tmp_path, "rank", "-t", world.target, "--zoo", world.zoo, "--cache-dir", tmp_path / "c", "--json")
    one_error(outcome, "cannot write the image store", FULL, "--no-cache")
    assert not outcome.stdout.strip() and leftovers(tmp_path / "c") == []


@documented(
    S_LOST,
    "A full cache disk while `run` ranks and builds the teacher bank",
    "Exit 2 with the same one-line message (it was a traceback); no student is written.",
)
def test_full_cache_disk_stops_run(world: World, tmp_path, monkeypatch):
    full_disk_under(monkeypatch, tmp_path / "c")
    out = tmp_path / "out"
    outcome = cli(tmp_path, *run_args(world, out, "--cache-dir", tmp_path / "c"))
    one_error(outcome, "cannot write the image store", FULL, "--no-cache")
    assert not (out / "student.safetensors").exists() and leftovers(tmp_path) == []


@documented(
    S_TRACE,
    "A full `--out` disk at the first checkpoint (after the free-space pre-check passed)",
    'Exit 2: "cannot write checkpoint ...: No space left on device; the previous checkpoint (if any) is '
    'unchanged"; no temporary file left.',
)
def test_full_out_at_checkpoint(world: World, tmp_path, monkeypatch):
    from zoo_distill.training import checkpoint

    monkeypatch.setattr(checkpoint, "save_file", safetensors_full)
    out = tmp_path / "out"
    one_error(cli(tmp_path, *baseline_args("finetune", world, out)), "cannot write checkpoint", str(out), FULL)
    assert not (out / "checkpoint.safetensors").exists() and leftovers(out) == []


@documented(
    S_TRACE,
    "A full `--out` disk when the student is exported",
    'Exit 2: "export to ...: cannot write the student: ..."; the checkpoint is kept, no half student, '
    "no config.json (which marks a complete export).",
)
def test_full_out_at_student(world: World, tmp_path, monkeypatch):
    from zoo_distill.runs import export

    monkeypatch.setattr(export, "save_file", safetensors_full)
    out = tmp_path / "out"
    one_error(cli(tmp_path, *baseline_args("finetune", world, out)), "cannot write the student", FULL)
    assert (out / "checkpoint.safetensors").is_file() and leftovers(out) == []
    assert not (out / "student.safetensors").exists() and not (out / "config.json").exists()


@documented(
    S_TRACE,
    "A full `--out` disk at metrics.json, then `--resume` once there is space",
    'Exit 2: "cannot write .../run.json: No space left on device; the student and the last checkpoint '
    '... are kept: free space, then rerun with --resume"; the rerun finishes the run (exit 0).',
)
def test_full_out_at_metrics_then_resume(world: World, tmp_path, monkeypatch):
    from zoo_distill.runs import run as runs

    monkeypatch.setattr(runs, "atomic_write_json", lambda path, payload: os_full(path))
    out = tmp_path / "out"
    one_error(cli(tmp_path, *baseline_args("finetune", world, out)), FULL, "--resume")
    assert (out / "checkpoint.safetensors").is_file() and not (out / "metrics.json").exists()
    monkeypatch.undo()
    resumed = cli(tmp_path, *baseline_args("finetune", world, out, "--resume", "--json"))
    assert resumed.code == 0, resumed.output[-3000:]
    assert (out / "metrics.json").is_file()


@documented(
    S_LOST,
    "Training that diverges to NaN weights while the loss is still finite (the learning-rate "
    "schedule made NaN, as `--lr nan` did with `--steps-per-epoch 1`)",
    'Exit 2: "the weights became NaN or inf during epoch 1 (...); nothing of this epoch is saved"; no '
    "checkpoint and no student are written.",
)
def test_nan_weights_are_never_saved(world: World, tmp_path, monkeypatch):
    from zoo_distill.training import loop

    monkeypatch.setattr(loop, "cosine_lr", lambda base, step, total: float("nan"))
    out = tmp_path / "out"
    one_error(cli(tmp_path, *baseline_args("finetune", world, out)), "NaN or inf", "--lr")
    assert not (out / "checkpoint.safetensors").exists() and not (out / "student.safetensors").exists()


@documented(
    S_LOST,
    "Python API: `save_student` / `save_checkpoint` given a model with a NaN weight",
    "ZooDistillError naming the tensor; the folder stays empty.",
)
def test_savers_refuse_non_finite_tensors(tmp_path):
    import timm

    from zoo_distill.errors import ZooDistillError
    from zoo_distill.runs.export import save_student
    from zoo_distill.training.checkpoint import save_checkpoint

    model = timm.create_model("test_resnet", num_classes=2)
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    cfg = {"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.5] * 3}
    with pytest.raises(ZooDistillError, match="NaN or inf"):
        save_student(tmp_path / "export", model, "test_resnet", 2, cfg, ["a", "b"])
    with pytest.raises(ZooDistillError, match="NaN or inf"):
        save_checkpoint(
            tmp_path / "ckpt" / "c.safetensors", {"student": model}, torch.optim.SGD(model.parameters(), lr=0.1), {}
        )
    assert list((tmp_path / "export").iterdir()) == [] and not (tmp_path / "ckpt" / "c.safetensors").exists()


def refuse_to_list(monkeypatch, blocked: Path) -> None:
    """Make ``blocked`` unreadable even for root: listing it raises PermissionError, as chmod 000 would."""
    real_scandir, real_listdir = os.scandir, os.listdir

    def check(path) -> None:
        if path is not None and Path(os.fsdecode(path)) == blocked:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    def scandir(path="."):
        check(path)
        return real_scandir(path)

    def listdir(path="."):
        check(path)
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)


@documented(
    S_TRACE,
    "A train split, class folder or unlabeled folder that cannot be listed (PermissionError; "
    "made to raise, so that it holds for root too)",
    'Exit 2: "cannot read train split ...: permission denied" or "cannot read folder ...: permission '
    'denied" (it was a traceback, or "no images").',
)
@pytest.mark.parametrize("part", ["train", "train/class_1", "unlabeled", "test/class_0"])
def test_unreadable_folders(world: World, tmp_path, monkeypatch, part):
    blocked = world.target / part
    refuse_to_list(monkeypatch, blocked)
    outcome = cli(tmp_path, *baseline_args("finetune", world, tmp_path / "out"))
    one_error(outcome, "cannot read", str(blocked), "permission denied")
    assert not (tmp_path / "out").exists()

"""Faults from outside: SIGKILL during training and during feature extraction, two processes
sharing one feature cache, and an output directory that cannot be written.

The CLI runs in real subprocesses (``python -m zoo_distill``) so that a kill is a real kill:
no ``finally``, no atexit, half-written files left where they are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from zoo_distill.example import PRETRAINED_CFG

from ..conftest import write_split, write_zoo

pytestmark = pytest.mark.slow  # end to end: trains students / builds zoos / runs processes

TEACHERS = ["digits-net", "textures-net"]
RUN_BUDGET = [
    "--student",
    "resnet10t",
    "--student-init",
    "scratch",
    "--input-size",
    "32",
    "--epochs",
    "4",
    "--steps-per-epoch",
    "6",
    "--batch-size",
    "8",
    "--mu",
    "1",
    "--method-opt",
    "views=2",
]
EXTRACTION_TEACHERS = 4
EXTRACTION_IMAGES = 4 * 20


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)  # the autouse fixture's offline / isolated settings included
    env["ZOO_DISTILL_NO_PROGRESS"] = "1"
    env["OMP_NUM_THREADS"] = "1"  # same thread count in every compared process; no oversubscription
    env["MKL_NUM_THREADS"] = "1"
    return env


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True, scope="module")
def _reap():
    """Whatever happens in a test, no process it started outlives the module."""
    yield
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(*args, log: Path, prefix=("-m", "zoo_distill"), env=None) -> subprocess.Popen:
    """Run the CLI in the background; stdout goes to ``log``, stderr to ``log`` + ``.err``."""
    with open(log, "w") as out, open(f"{log}.err", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, *prefix, *map(str, args)],
            stdout=out,
            stderr=err,
            env={**subprocess_env(), **(env or {})},
            cwd=log.parent,
        )
    _STARTED.append(proc)
    return proc


def _tail(log: Path) -> str:
    return (log.read_text() + Path(f"{log}.err").read_text())[-3000:]


def finish(proc: subprocess.Popen, log: Path, timeout: float = 300) -> dict:
    """Wait for a ``--json`` command to succeed and return its JSON."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{proc.args} did not finish in {timeout} s:\n{_tail(log)}")
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{_tail(log)}"
    return json.loads(log.read_text())


def wait_for(condition, proc: subprocess.Popen, log: Path, timeout: float, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before the kill point:\n{_tail(log)}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"kill point not reached within {timeout} s")
        time.sleep(poll)


def kill9(proc: subprocess.Popen) -> None:
    assert proc.poll() is None, "the process had already finished: nothing was interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def cache_files(cache: Path) -> tuple[list[Path], list[Path]]:
    """(finished ``*.safetensors`` files, stray temporaries) in a feature cache."""
    folder = cache / "features"
    if not folder.exists():
        return [], []
    files = sorted(folder.iterdir())
    return [p for p in files if p.suffix == ".safetensors"], [p for p in files if p.name.endswith(".tmp")]


def read_cache_file(path: Path) -> dict:
    """A cache file's metadata, asserting that it is complete (loads, full row count everywhere)."""
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()["zoo_distill"])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
    assert meta["key"] and meta["teacher"] and tensors["features"].ndim == 2
    assert all(t.shape[0] == meta["images"] for t in tensors.values()), path
    return meta


# --- 1. kill -9 during `run`, then --resume -----------------------------------------------------


def test_kill_9_during_run_then_resume_equals_an_uninterrupted_run(digits_task, tmp_path):
    cache = tmp_path / "cache"
    common = [
        "run",
        "-t",
        digits_task.target,
        "--zoo",
        digits_task.zoo,
        *[a for t in TEACHERS for a in ("-s", t)],
        *RUN_BUDGET,
        "--seed",
        "7",
        "--cache-dir",
        cache,
        "--json",
    ]
    ref_dir, crash_dir = tmp_path / "uninterrupted", tmp_path / "crashed"
    # Both start at once on a cold shared cache (their concurrent cache writes must not clash either).
    reference = start(*common, "--out", ref_dir, log=tmp_path / "reference.log")
    victim = start(*common, "--out", crash_dir, log=tmp_path / "victim.log")
    checkpoint = crash_dir / "checkpoint.safetensors"
    wait_for(checkpoint.exists, victim, tmp_path / "victim.log", timeout=240)
    time.sleep(0.1)  # inside the next epoch (each takes seconds)
    kill9(victim)

    assert not (crash_dir / "metrics.json").exists() and not (crash_dir / "student.safetensors").exists()
    with safe_open(str(checkpoint), framework="pt") as fh:  # the checkpoint left behind is whole
        epoch = json.loads(fh.metadata()["zoo_distill_checkpoint"])["epoch"]
    assert 0 <= epoch < 3

    resumed = start(*common, "--out", crash_dir, "--resume", log=tmp_path / "resumed.log")
    got = finish(resumed, tmp_path / "resumed.log")
    want = finish(reference, tmp_path / "reference.log")

    assert got["resumed_from_epoch"] == epoch + 1
    assert want["resumed_from_epoch"] is None
    assert got["test_accuracy"] == want["test_accuracy"]
    assert got["alpha"] == want["alpha"] and got["scores"] == want["scores"]
    assert len(got["history"]) == len(want["history"]) == 4
    for a, b in zip(got["history"], want["history"]):
        assert a["epoch"] == b["epoch"] and a["test_accuracy"] == b["test_accuracy"]
        for k in b:
            if k.startswith("loss"):
                assert a[k] == pytest.approx(b[k], rel=1e-6), (a["epoch"], k)
    w1, w2 = load_file(str(crash_dir / "student.safetensors")), load_file(str(ref_dir / "student.safetensors"))
    assert w1.keys() == w2.keys()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    done, tmp = cache_files(cache)  # the two processes shared a cold cache: every file in it is whole
    assert done and not tmp and all(read_cache_file(p) for p in done)


# --- 2./3. kill -9 during extraction; two `rank` processes on one cache -----------------------

# The CLI with one fault injected: the STALL_AT-th cache write puts half of its temporary file on
# disk and then stalls (as on a slow or hung disk) until the process is killed from outside.
STALLED_WRITER = r"""
import os, sys, time
import zoo_distill.features.cache as cache
real, writers = cache._CacheWriter.write, []
def stalled_write(self, name, start, rows):
    if self not in writers:
        writers.append(self)
    real(self, name, start, rows)
    if len(writers) == int(os.environ["ZD_STALL_AT"]) and name == "features":
        open(os.environ["ZD_STALLED"], "w").close()  # tell the test: the first rows are in, stalled now
        time.sleep(600)
cache._CacheWriter.write = stalled_write
from zoo_distill.cli.app import app

app(prog_name="zoo-distill")
"""
STALL_AT = 3


@pytest.fixture(scope="module")
def extraction(digits_task, tmp_path_factory):
    """Four teachers ranked on 80 labeled images at batch size 1, so that extraction takes seconds.

    Four processes start at once: two on one fresh shared cache (they race on every file), one
    killed with SIGKILL as soon as its first cache file appears (a random point, mid-extraction),
    and one killed while its third cache file is half written. The killed ones are then rerun.
    """
    root = tmp_path_factory.mktemp("extraction")
    write_split(root / "target" / "train", 4, EXTRACTION_IMAGES // 4, seed=5)
    weights = [digits_task.zoo.parent / "teachers" / f"{d}.safetensors" for d in ("digits", "textures")]
    names = [f"copy{i}" for i in range(EXTRACTION_TEACHERS)]
    zoo = write_zoo(
        root / "zoo.yaml",
        [
            {
                "name": name,
                "provider": "local",
                "weights": str(weights[i % 2]),
                "arch": "resnet10t",
                "num_classes": 10,
                "pretrained_cfg": PRETRAINED_CFG,
            }
            for i, name in enumerate(names)
        ],
    )
    args = [
        "rank",
        "-t",
        root / "target",
        "--zoo",
        zoo,
        *[a for n in names for a in ("-s", n)],
        "-m",
        "knn",
        "-m",
        "logme",
        "-m",
        "leep",
        "--batch-size",
        1,
        "--json",
    ]
    caches = {k: root / f"{k}-cache" for k in ("shared", "random", "stalled")}
    logs = {k: root / f"{k}.log" for k in ("first", "second", "random", "stalled", "random-rerun", "stalled-rerun")}
    out = {"names": names, "caches": caches, "after_kill": {}}

    marker = root / "stalled.marker"
    first = start(*args, "--cache-dir", caches["shared"], log=logs["first"])
    second = start(*args, "--cache-dir", caches["shared"], log=logs["second"])
    random = start(*args, "--cache-dir", caches["random"], log=logs["random"])
    stalled = start(
        *args,
        "--cache-dir",
        caches["stalled"],
        log=logs["stalled"],
        prefix=["-c", STALLED_WRITER],
        env={"ZD_STALL_AT": str(STALL_AT), "ZD_STALLED": str(marker)},
    )

    def first_file_appeared() -> bool:
        return any(cache_files(caches["random"]))

    def half_written() -> bool:
        return marker.exists()

    for kind, proc, condition in (("random", random, first_file_appeared), ("stalled", stalled, half_written)):
        wait_for(condition, proc, logs[kind], timeout=240, poll=0.002)
        kill9(proc)
        done, tmp = cache_files(caches[kind])
        out["after_kill"][kind] = {"done": done, "tmp": tmp, "metas": [read_cache_file(p) for p in done]}

    out["first"], out["second"] = finish(first, logs["first"]), finish(second, logs["second"])
    reruns = {
        kind: start(*args, "--cache-dir", caches[kind], log=logs[f"{kind}-rerun"]) for kind in ("random", "stalled")
    }
    for kind, proc in reruns.items():
        out[f"{kind}-rerun"] = finish(proc, logs[f"{kind}-rerun"])
    return out


def scores(result: dict) -> dict:
    return {s["name"]: (s["status"], s["scores"]) for s in result["sources"]}


@pytest.mark.parametrize("kind", ["random", "stalled"])
def test_kill_9_during_extraction_leaves_no_partial_file_and_rerun_resumes(extraction, kind):
    after = extraction["after_kill"][kind]
    assert len(after["done"]) < EXTRACTION_TEACHERS, "every teacher finished before the kill: nothing tested"
    # What survived the kill is whole: every *.safetensors loads with all rows (read_cache_file checks).
    assert all(m["images"] == EXTRACTION_IMAGES for m in after["metas"])
    finished = {m["teacher"] for m in after["metas"]}
    if kind == "stalled":
        assert finished == set(extraction["names"][: STALL_AT - 1]) and len(after["tmp"]) == 1
        (partial,) = after["tmp"]  # the half-written file is left under a .tmp name no reader looks for
        assert partial.name.startswith(".") and not partial.name.endswith(".safetensors")
        rows = load_file(str(partial))["features"]  # space is reserved up front: rows past the stall are empty
        assert rows.shape[0] == EXTRACTION_IMAGES and rows[0].any() and not rows[EXTRACTION_IMAGES // 2 :].any()

    rerun = extraction[f"{kind}-rerun"]
    assert all(s["status"] == "ok" for s in rerun["sources"])
    assert scores(rerun) == scores(extraction["first"])  # the same as a clean run in a fresh cache
    cached = {s["name"]: s["cached"] for s in rerun["sources"]}
    assert {n for n, c in cached.items() if c} == finished  # only what was missing was recomputed

    done, tmp = cache_files(extraction["caches"][kind])
    assert len(done) == EXTRACTION_TEACHERS and all(read_cache_file(p) for p in done)
    # A temporary being written at the kill stays behind (invisible to readers: not *.safetensors;
    # `zoo-distill cache clear` removes it); the rerun leaves none of its own.
    assert {p.name for p in tmp} == {p.name for p in after["tmp"]}


def test_two_rank_processes_share_one_cache_without_corrupting_it(extraction):
    first, second = extraction["first"], extraction["second"]
    assert all(s["status"] == "ok" for s in first["sources"] + second["sources"])
    assert scores(first) == scores(second)
    done, tmp = cache_files(extraction["caches"]["shared"])
    assert not tmp, f"stray temporaries: {tmp}"
    assert not list((extraction["caches"]["shared"] / "scores").glob("*.tmp"))
    metas = [read_cache_file(p) for p in done]
    assert sorted((m["teacher"], m["view"]) for m in metas) == sorted((n, "eval") for n in extraction["names"])
    assert scores(first) == scores(extraction["random-rerun"])


# --- 4. an output directory that cannot be written ---------------------------------------------


@pytest.fixture
def no_training(monkeypatch):
    """Fail loudly if the run got as far as building the teacher bank or training."""
    from zoo_distill.runs import run as runs

    def forbidden(*args, **kwargs):
        raise AssertionError("got past the output check: the bank/training started")

    monkeypatch.setattr(runs, "build_bank", forbidden)
    monkeypatch.setattr(runs, "train", forbidden)
    monkeypatch.setattr(runs, "rank_sources", forbidden)


def invoke_run(digits_task, out: Path, cache: Path):
    from zoo_distill.cli.app import app

    res = CliRunner().invoke(
        app,
        [
            str(a)
            for a in [
                "run",
                "-t",
                digits_task.target,
                "--zoo",
                digits_task.zoo,
                *RUN_BUDGET,
                "--out",
                out,
                "--cache-dir",
                cache,
            ]
        ],
    )
    return res


def test_full_disk_fails_before_training(digits_task, tmp_path, monkeypatch, no_training):
    from zoo_distill.runs import run as runs

    real = shutil.disk_usage
    monkeypatch.setattr(
        runs.shutil, "disk_usage", lambda path: real(path)._replace(free=4096)
    )  # the disk is (almost) full
    out = tmp_path / "full"
    res = invoke_run(digits_task, out, tmp_path / "cache")
    assert res.exit_code == 2, res.output
    assert f"output directory {out} has only 0.0 MB free" in res.output and "Traceback" not in res.output
    assert not (out / "checkpoint.safetensors").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("where", ["under-a-file", "in-proc"])
def test_unwritable_output_fails_before_training_with_exit_2(digits_task, tmp_path, where, no_training):
    if where == "under-a-file":
        blocker = tmp_path / "a-file"
        blocker.write_text("a regular file, so nothing can be created under it (even by root)")
        out = blocker / "run"
    else:
        out = Path("/proc/zoo-distill-test/run")  # procfs: no new folders, even for root
    res = invoke_run(digits_task, out, tmp_path / "cache")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 2, res.output
    assert str(out) in res.output and "Traceback" not in res.output
    assert not (tmp_path / "cache").exists()

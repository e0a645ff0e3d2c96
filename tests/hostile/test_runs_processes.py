"""What only real processes show (issue 37): two writers into one ``--out``, ``cache clear`` while a run
trains from its bank, and Ctrl-C / SIGTERM during training (one line, 130 / 143, no worker traceback,
and a resume that is bit-identical to an uninterrupted run).

``ZD_CONCURRENCY_REPEAT=N`` repeats the two concurrency tests N times in a row (the suite: once).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from .harness import BUDGET, S_LOST, S_TRACE, World, cli_env, command, documented, run_in_process

REPEAT = int(os.environ.get("ZD_CONCURRENCY_REPEAT", "1"))
TIMEOUT_S = 240


class Proc:
    """A CLI process in the background, its stdout and stderr in files (read while it runs)."""

    def __init__(self, d: Path, name: str, args, env: dict[str, str] | None = None) -> None:
        self.out, self.err = d / f"{name}.out", d / f"{name}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [*command(), *map(str, args)],
                stdout=out,
                stderr=err,
                cwd=d,
                env={**os.environ, **cli_env(d, env)},
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.stderr()

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.proc.args} did not end in {TIMEOUT_S} s:\n{self.output()[-3000:]}")

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while text not in self.stderr():
            if self.proc.poll() is not None:
                pytest.fail(f"ended (exit {self.proc.returncode}) before printing {text!r}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{text!r} not printed within {TIMEOUT_S} s")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def finetune(world: World, out: Path, *extra: str) -> list[str | Path]:
    return ["baseline", "finetune", "-t", world.target, *BUDGET, "--out", out, *extra]


def no_traceback(p: Proc) -> None:
    assert "Traceback" not in p.output(), p.output()[-4000:]


def one_error(p: Proc, *needles: str) -> str:
    lines = [line for line in p.stderr().splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, p.stderr()[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("repetition", range(REPEAT))
@documented(
    S_LOST,
    "Two `baseline finetune` processes started at the same moment into one `--out`",
    'One writes the run (exit 0); the other exits 2 at once: "--out DIR is being written by process PID" '
    '(or, if it starts after the first has finished, "already holds a finished run"); the folder holds '
    "the first one's complete run (both exited 0 and one run was lost).",
)
def test_two_writers_into_one_out(world: World, tmp_path, repetition):
    out = tmp_path / "out"
    a, b = (Proc(tmp_path, name, finetune(world, out, "--epochs", "3", "--json")) for name in "ab")
    codes = {a: a.wait(), b: b.wait()}
    for p in (a, b):
        no_traceback(p)
    assert sorted(codes.values()) == [0, 2], {p.pid: p.output()[-2000:] for p in (a, b)}
    winner, loser = (a, b) if codes[a] == 0 else (b, a)
    line = one_error(loser, f"--out {out}")
    assert f"being written by process {winner.pid}" in line or "already holds a finished run" in line, line
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(winner.out.read_text()) and len(metrics["history"]) == 3
    assert not (out / ".zoo-distill.lock").exists()


@pytest.mark.parametrize("repetition", range(REPEAT))
@documented(
    S_TRACE,
    "`cache clear --yes` while a `run` trains from its teacher bank (read by DataLoader workers)",
    "`cache clear` exits 0 and says it kept the bank's files, in use; the run finishes with exit 0 and "
    "the same student as a run left alone (its workers failed with FileNotFoundError and the run was lost).",
)
def test_cache_clear_during_a_run(world: World, tmp_path, repetition):
    def distill(out: Path, cache: Path) -> list[str | Path]:
        return [
            "run",
            "-t",
            world.target,
            "--zoo",
            world.zoo,
            *BUDGET,
            "--epochs",
            "10",
            "--steps-per-epoch",
            "3",
            "--method-opt",
            "views=2",
            "--workers",
            "1",
            "--cache-dir",
            cache,
            "--out",
            out,
        ]

    alone = Proc(tmp_path, "alone", distill(tmp_path / "alone", tmp_path / "cache-alone"))  # side by side
    run = Proc(tmp_path, "run", distill(tmp_path / "out", tmp_path / "cache"))
    run.wait_for("epoch 1/10")  # training has started: the bank is in use
    clear = run_in_process(["cache", "clear", "--yes", "--cache-dir", tmp_path / "cache"], cli_env(tmp_path), tmp_path)
    assert run.proc.poll() is None, "the run had finished: nothing was in use"
    assert clear.code == 0 and clear.crash is None and "Traceback" not in clear.output, clear.output
    kept = re.search(r"kept (\d+) file\(s\) in use", clear.output)
    assert kept and int(kept.group(1)) >= 2, clear.output  # at least one teacher's 2 views
    assert run.wait() == 0, run.output()[-3000:]
    assert alone.wait() == 0, alone.output()[-3000:]
    no_traceback(run)
    trained, reference = (
        load_file(tmp_path / "out" / "model.safetensors"),
        load_file(tmp_path / "alone" / "model.safetensors"),
    )
    assert trained.keys() == reference.keys() and all(torch.equal(trained[k], reference[k]) for k in trained)


EPOCHS = 30
INTERRUPTED = ("--epochs", str(EPOCHS), "--steps-per-epoch", "3", "--workers", "2")


@pytest.fixture(scope="module")
def uninterrupted(world: World, tmp_path_factory) -> Path:
    """The run the interrupted ones are resumed into, left alone."""
    d = tmp_path_factory.mktemp("uninterrupted")
    alone = Proc(d, "alone", finetune(world, d / "run", *INTERRUPTED))
    assert alone.wait() == 0, alone.output()[-3000:]
    return d / "run"


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
@documented(
    S_TRACE,
    "Ctrl-C (SIGINT to the process group, as a terminal sends it) or SIGTERM during "
    "`baseline finetune --workers 2`, then `--resume`",
    'Exit 130 (Ctrl-C) or 143 (SIGTERM) with one line: "interrupted (Ctrl-C) in epoch N/M; K finished '
    'epoch(s) are in .../checkpoint.safetensors: rerun with --resume to continue"; no traceback from the '
    "main process or its workers (Ctrl-C printed a 17-line worker traceback); the resumed run's student is "
    "bit-identical to an uninterrupted one.",
)
def test_interrupt_then_resume(world: World, uninterrupted, tmp_path, signum, code, name):
    out = tmp_path / "out"
    run = Proc(tmp_path, "run", finetune(world, out, *INTERRUPTED))
    run.wait_for(f"epoch 2/{EPOCHS}")
    assert run.proc.poll() is None, "the run had finished: nothing was interrupted"
    if signum == signal.SIGINT:
        os.killpg(run.pid, signum)  # the terminal's Ctrl-C reaches the workers too
    else:
        os.kill(run.pid, signum)
    assert run.wait() == code, run.output()[-3000:]
    no_traceback(run)
    one_error(run, f"interrupted ({name}) in epoch", "--resume")
    assert not (out / ".zoo-distill.lock").exists() and not (out / "metrics.json").exists()
    if signum != signal.SIGINT:
        return  # the same unwinding as Ctrl-C's: its resume is checked once, there
    resumed = Proc(tmp_path, "resumed", finetune(world, out, *INTERRUPTED, "--resume"))
    assert resumed.wait() == 0, resumed.output()[-3000:]
    no_traceback(resumed)
    trained, reference = load_file(out / "model.safetensors"), load_file(uninterrupted / "model.safetensors")
    assert trained.keys() == reference.keys() and all(torch.equal(trained[k], reference[k]) for k in trained)

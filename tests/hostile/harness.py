"""Running the CLI on a hostile input, and checking what docs/reliability.md promises about it.

A case runs the installed ``zoo-distill`` command in a subprocess (the real exit status and
stderr of the real entry point), or in process through typer's runner where a subprocess adds
only start-up time (about 5 s each on the CI machine); ``ZD_HOSTILE_ALL_SUBPROCESS=1`` runs every
case in a subprocess. Either way the checks are the same: the exit status, no traceback, one
``Error:`` line that names the file, field or option, and nothing the user had changed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ALL_SUBPROCESS_ENV = "ZD_HOSTILE_ALL_SUBPROCESS"
TIMEOUT_S = 300

#: The smallest training that still goes through every stage (student, loop, checkpoint, export).
BUDGET = (
    "--student",
    "test_resnet",
    "--student-init",
    "scratch",
    "--input-size",
    "32",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "1",
    "--batch-size",
    "4",
    "--mu",
    "1",
)

S_LOST = "Data lost or wrong, with exit status 0 (most severe)"
S_TRACE = "Tracebacks instead of a one-line error"
S_MESSAGES = "Poor messages and checks in the wrong place"
SECTIONS = (S_LOST, S_TRACE, S_MESSAGES)


@dataclass(frozen=True)
class World:
    """What a user has before a case runs: a target, a zoo of two teachers and a finished run."""

    root: Path
    target: Path
    zoo: Path
    run: Path  # a finished `baseline finetune` run directory

    @property
    def image(self) -> Path:
        return self.target / "test" / "class_0" / "000.png"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    crash: str | None = None  # in process: the traceback of an exception that escaped the command

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


@dataclass
class Prepared:
    """A case's inputs, built in its own folder, and what must hold afterwards."""

    args: Sequence[str | Path]
    needles: Sequence[str] = ()  # must appear in the Error: line (exit 2) or in the output (exit 0)
    keep: Sequence[Path] = ()  # must be byte-for-byte unchanged
    absent: Sequence[Path] = ()  # must not exist afterwards (an --out or a cache never created)
    env: dict[str, str] = field(default_factory=dict)
    check: Callable[[Outcome], None] | None = None  # anything else the case asserts
    cwd: Path | None = None


@dataclass(frozen=True)
class Case:
    """One hostile input through the CLI, and the row it makes on the reliability page."""

    id: str
    section: str
    given: str  # the hostile input, for the docs
    does: str  # what zoo-distill does about it, for the docs
    prepare: Callable[[World, Path], Prepared]
    code: int = 2
    usage: bool = False  # refused by typer's own option parsing (its usage box, not an Error: line)
    subprocess: bool = False  # always run as a real process (the rest only with ALL_SUBPROCESS_ENV)
    skip: Callable[[], str | None] | None = None  # a reason this machine cannot run it


@dataclass(frozen=True)
class Row:
    section: str
    given: str
    does: str
    test: str


#: In-process tests of the corpus, registered by @documented for the reliability page.
DOCUMENTED: list[Row] = []


def documented(section: str, given: str, does: str) -> Callable:
    """Register a test as a row of the reliability page (the test proves the row)."""

    def register(fn: Callable) -> Callable:
        DOCUMENTED.append(Row(section, given, does, f"hostile/{Path(fn.__code__.co_filename).name}::{fn.__name__}"))
        return fn

    return register


def running_as_root() -> str | None:
    """A skip reason where file permissions do not apply (root reads and writes anything)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "runs as root, which file permissions do not stop; test_faults.py covers it with a folder that raises"
    return None


def command() -> list[str]:
    """The installed console script (beside this interpreter), else ``python -m zoo_distill``."""
    script = Path(sys.executable).with_name("zoo-distill")
    return [str(script)] if script.exists() else [sys.executable, "-m", "zoo_distill"]


def cli_env(case_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Offline, no progress bars, one thread, and a cache of the case's own."""
    return {
        "ZOO_DISTILL_CACHE": str(case_dir / "cache"),
        "HF_HUB_OFFLINE": "1",
        "ZOO_DISTILL_NO_PROGRESS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "COLUMNS": "200",
        **(extra or {}),
    }


def run_subprocess(args: Sequence[str | Path], env: dict[str, str], cwd: Path) -> Outcome:
    started = time.perf_counter()
    proc = subprocess.run(
        [*command(), *map(str, args)],
        capture_output=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=TIMEOUT_S,
        check=False,
    )
    return Outcome(
        proc.returncode,
        proc.stdout.decode("utf-8", "backslashreplace"),
        proc.stderr.decode("utf-8", "backslashreplace"),
        time.perf_counter() - started,
    )


def run_in_process(args: Sequence[str | Path], env: dict[str, str], cwd: Path) -> Outcome:
    from typer.testing import CliRunner

    from zoo_distill.cli.app import app

    started, here = time.perf_counter(), os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    finally:
        os.chdir(here)
    crash = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(*result.exc_info))
    return Outcome(result.exit_code, result.stdout, result.stderr, time.perf_counter() - started, crash)


def _state(path: Path) -> tuple:
    info = path.lstat()
    if stat.S_ISREG(info.st_mode):
        return ("file", info.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    if stat.S_ISLNK(info.st_mode):
        return ("link", os.readlink(path))
    return ("dir",) if stat.S_ISDIR(info.st_mode) else ("other", stat.S_IFMT(info.st_mode))


def snapshot(paths: Sequence[Path]) -> dict[str, tuple]:
    """Every file, link and folder under ``paths`` with its content hash: what "unchanged" means."""
    state: dict[str, tuple] = {}
    for top in paths:
        if not os.path.lexists(top):
            state[str(top)] = ("missing",)
            continue
        state[str(top)] = _state(top)
        if top.is_dir() and not top.is_symlink():
            for folder, dirs, files in os.walk(top):
                for name in dirs + files:
                    path = Path(folder) / name
                    state[str(path)] = _state(path)
    return state


def verify(case: Case, prepared: Prepared, before: dict[str, tuple], outcome: Outcome) -> None:
    """The promises of docs/reliability.md, for one case."""
    tail = outcome.output[-4000:]
    assert outcome.crash is None, f"{case.id}: the command raised\n{outcome.crash}"
    assert "Traceback" not in outcome.output, f"{case.id}: a traceback was printed:\n{tail}"
    assert outcome.code == case.code, f"{case.id}: exit status {outcome.code}, expected {case.code}:\n{tail}"
    if case.code == 2 and not case.usage:
        lines = outcome.error_lines()
        assert len(lines) == 1, f"{case.id}: expected one 'Error:' line on stderr, got {lines}:\n{tail}"
        for needle in prepared.needles:
            assert needle in lines[0], f"{case.id}: {needle!r} is not named in {lines[0]!r}"
    else:
        for needle in prepared.needles:
            assert needle in outcome.output, f"{case.id}: {needle!r} not in the output:\n{tail}"
    assert snapshot(list(prepared.keep)) == before, f"{case.id}: something the user had was changed"
    for path in prepared.absent:
        assert not os.path.lexists(path), f"{case.id}: {path} was created"
    if prepared.check is not None:
        prepared.check(outcome)


def run_case(case: Case, world: World, case_dir: Path, in_subprocess: bool) -> tuple[Prepared, dict, Outcome]:
    """Build the case's inputs in ``case_dir``, run it, and return what ``verify`` needs."""
    case_dir.mkdir(parents=True, exist_ok=True)
    prepared = case.prepare(world, case_dir)
    before = snapshot(list(prepared.keep))
    env = cli_env(case_dir, prepared.env)
    runner = run_subprocess if in_subprocess else run_in_process
    return prepared, before, runner(prepared.args, env, prepared.cwd or case_dir)

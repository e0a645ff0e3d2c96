"""Round three of the hostile corpus (issue 37): the runs cases. Built like cases.py: each case
makes its input in its own folder; CASES joins the corpus (cases.py) and its rows join
docs/reliability.md.

Runs, locks and integrity: a finished run is never continued, a checkpoint binds its teachers'
weights and every split, a damaged checkpoint or cache file is never read as valid, one writer per
``--out``, and ``cache clear`` leaves what a process is using."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from ..conftest import save_tiny_model, write_split
from .cases import STOPPED, baseline_args, copy_run, copy_target
from .harness import BUDGET, S_LOST, S_MESSAGES, S_TRACE, Case, Outcome, Prepared, World, cli_env, run_in_process

FINISHED = STOPPED  # what a finished run holds besides its checkpoint


def _unfinished(world: World, d: Path) -> Path:
    return copy_run(world, d, drop=FINISHED)


def _other_test_split(d: Path) -> Path:
    """A test split of the same classes with other images (not the training images: those are refused
    for being both, before anything about the run is decided)."""
    return write_split(d / "other-test", 2, 2, seed=7)


# --- finished runs -------------------------------------------------------------------------------


def _resume_finished(*extra: str):
    def prepare(world: World, d: Path) -> Prepared:
        out = copy_run(world, d)
        more: list[str | Path] = list(extra)
        if "--test" in extra:  # another test split
            more[more.index("--test") + 1] = _other_test_split(d)
        return Prepared(
            baseline_args("finetune", world, out, "--resume", *more),
            needles=("--resume", str(out), "finished run", "left unchanged", "--overwrite"),
            keep=(out,),
        )

    return prepare


# --- what a checkpoint binds ----------------------------------------------------------------------


def _resume_other_test_split(world: World, d: Path) -> Prepared:
    out = _unfinished(world, d)
    return Prepared(
        baseline_args("finetune", world, out, "--resume", "--test", _other_test_split(d)),
        needles=("--resume", "belongs to a different run", "the test split"),
        keep=(out,),
    )


def _resume_changed_labeled(world: World, d: Path) -> Prepared:
    out = _unfinished(world, d)
    target = copy_target(world, d)
    write_split(target / "train", 2, 1, seed=9)  # 000.png of each class rewritten: same names, other pixels
    return Prepared(
        baseline_args("finetune", world, out, "--resume", target=target),
        needles=("--resume", "belongs to a different run", "the labeled images"),
        keep=(out,),
    )


def _copy_zoo(world: World, d: Path) -> Path:
    shutil.copytree(world.root / "weights", d / "weights")
    return Path(shutil.copy(world.zoo, d / "zoo.yaml"))


def _distill_args(world: World, zoo: Path, out: Path, *extra: str) -> list[str | Path]:
    """Distillation from teacher-a alone with uniform weights (so α is 1 whatever its scores), 2 epochs."""
    return [
        "run",
        "-t",
        world.target,
        "--zoo",
        zoo,
        *BUDGET,
        "--epochs",
        "2",
        "--method-opt",
        "views=1",
        "-s",
        "teacher-a",
        "-a",
        "uniform",
        "--out",
        out,
        *extra,
    ]


def _distill_stopped(world: World, d: Path, zoo: Path) -> Path:
    """A distillation run (in this case's cache) stopped between two epochs: only its checkpoint."""
    out = d / "run"
    outcome = run_in_process(_distill_args(world, zoo, out), cli_env(d), d)
    assert outcome.code == 0, outcome.output
    for name in FINISHED:
        (out / name).unlink(missing_ok=True)
    return out


def _resume_changed_teacher(world: World, d: Path) -> Prepared:
    """Uniform weights over one source: α cannot change, so only the teacher's digest can tell."""
    zoo = _copy_zoo(world, d)
    out = _distill_stopped(world, d, zoo)
    save_tiny_model(d / "weights" / "a.safetensors", num_classes=4, seed=7)  # same name, other weights
    return Prepared(
        _distill_args(world, zoo, out, "--resume"),
        needles=("--resume", "belongs to a different run", "teacher teacher-a's weights"),
        keep=(out,),
    )


# --- integrity ------------------------------------------------------------------------------------


def _flip(path: Path, offset: int, count: int = 8, stride: int = 4) -> None:
    """XOR the byte at ``offset`` and every ``stride``-th after it with 0x40 (a float32's exponent)."""
    raw = bytearray(path.read_bytes())
    for k in range(count):
        raw[offset + k * stride] ^= 0x40
    path.write_bytes(bytes(raw))


def _damaged_checkpoint(world: World, d: Path) -> Prepared:
    from zoo_distill.util.rowfile import locate

    out = _unfinished(world, d)
    ckpt = out / "checkpoint.safetensors"
    arrays, _ = locate(ckpt)
    weight = next(r for name, r in sorted(arrays.items()) if name.endswith("weight") and r.nbytes >= 64)
    _flip(ckpt, weight.offset + 3)  # as bit rot would: the file's size and header are intact
    return Prepared(
        baseline_args("finetune", world, out, "--resume"), needles=("--resume", str(ckpt), "damaged"), keep=(out,)
    )


def _rank_args(world: World) -> list[str | Path]:
    return ["rank", "-t", world.target, "--zoo", world.zoo, "-m", "logme", "-m", "knn", "--json"]


def _scores(outcome: Outcome) -> dict:
    return {s["name"]: s["scores"] for s in json.loads(outcome.stdout)["sources"]}


def _flipped_cache(what: str):
    """``rank`` twice on one cache, ``what`` damaged in between: the second must score as the first."""

    def prepare(world: World, d: Path) -> Prepared:
        first = run_in_process(_rank_args(world), cli_env(d), d)
        assert first.code == 0, first.output
        expected = _scores(first)
        cache = d / "cache"
        if what == "features":
            from zoo_distill.util.rowfile import locate

            shutil.rmtree(cache / "scores")  # else the scores kept from the first rank answer without the features
            for path in sorted((cache / "features").glob("*.safetensors")):
                rows = locate(path)[0]["features"]
                _flip(path, rows.offset + 3, count=min(64, rows.shape[0] * rows.shape[1]))
        else:
            for path in sorted((cache / "scores").glob("*.json")):
                data = json.loads(path.read_text())
                data["scores"] = {
                    name: value + 1.0 if isinstance(value, float) else value for name, value in data["scores"].items()
                }
                path.write_text(json.dumps(data))

        def check(outcome: Outcome) -> None:
            assert _scores(outcome) == expected, "scores computed from the damaged cache file"

        return Prepared(_rank_args(world), check=check)

    return prepare


# --- one writer per --out, cache files in use -----------------------------------------------------

_HOLD_OUT = textwrap.dedent("""
    import sys, time
    from zoo_distill.util.lock import FolderLock  # what runs.outdir.lock_out_dir returns, without torch's start-up
    with FolderLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
""")


def _holder(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_OUT, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def _out_being_written(world: World, d: Path) -> Prepared:
    out = d / "out"
    proc = _holder(out)

    def check(outcome: Outcome) -> None:
        proc.kill()
        proc.wait()
        assert not (out / "metrics.json").exists()

    return Prepared(
        baseline_args("finetune", world, out), needles=(f"--out {out}", f"process {proc.pid}"), keep=(out,), check=check
    )


def _stale_lock(world: World, d: Path) -> Prepared:
    out = d / "out"
    proc = _holder(out)
    proc.kill()  # kill -9: the lock file stays behind with its pid
    proc.wait()

    def check(outcome: Outcome) -> None:
        assert (out / "metrics.json").is_file() and not (out / ".zoo-distill.lock").exists()

    return Prepared(baseline_args("finetune", world, out), needles=(f"lock file of process {proc.pid}",), check=check)


def _clear_in_use(world: World, d: Path) -> Prepared:
    import numpy as np

    from zoo_distill.features.cache import FeatureCache

    cache = FeatureCache(d / "cache")
    used = cache.save("in-use", "1" * 64, {"features": np.ones((2, 2), np.float32)}, {"teacher": "in-use"})
    free = cache.save("free", "2" * 64, {"features": np.ones((2, 2), np.float32)}, {"teacher": "free"})
    pin = cache.pin("in-use", "1" * 64)  # as a run's bank holds it (a flock: another process would see the same)

    def check(outcome: Outcome) -> None:
        pin.release()
        assert not free.exists()

    return Prepared(
        ["cache", "clear", "--yes"],
        needles=("removed 1 file(s)", "kept 1 file(s) in use", used.name),
        keep=(used,),
        check=check,
    )


def _clear_in_flight(world: World, d: Path) -> Prepared:
    """An extraction still writing its temporary file (its key's lock held), as during a ``rank``."""
    from zoo_distill.features.cache import FeatureCache

    cache = FeatureCache(d / "cache")
    lock = cache.lock("teacher-a", "3" * 64)
    lock.acquire()
    final = cache.path_for("teacher-a", "3" * 64)
    tmp = final.with_name(f".{final.name}.k2x9.tmp")
    tmp.write_bytes(b"rows being written")
    stray = final.with_name(f".{cache.path_for('gone', '4' * 64).name}.q7z1.tmp")
    stray.write_bytes(b"left by a killed process")

    def check(outcome: Outcome) -> None:
        lock.release()
        assert not stray.exists()

    return Prepared(["cache", "clear", "--yes"], needles=("kept 1 file(s) in use", tmp.name), keep=(tmp,), check=check)


CASES: list[Case] = [
    Case(
        "resume-finished-run",
        S_LOST,
        "`--resume` onto a finished run",
        'Exit 2: "--resume: --out DIR holds a finished run (...): there is nothing to continue, and it is left '
        'unchanged; pass --overwrite ..."; every file unchanged (it retrained and rewrote the run).',
        _resume_finished(),
        subprocess=True,
    ),
    Case(
        "resume-finished-run-other-test",
        S_LOST,
        "`--resume --test OTHER` onto a finished run",
        "Exit 2, the same line; unchanged (its test_accuracy came from the other images while `history` kept "
        "the old figures).",
        _resume_finished("--test", ""),
    ),
    Case(
        "resume-other-test-split",
        S_LOST,
        "`--resume` of a stopped run with another `--test`",
        'Exit 2: "checkpoint ... belongs to a different run (changed since it was written: the test split)"; '
        "unchanged.",
        _resume_other_test_split,
    ),
    Case(
        "resume-changed-labeled-images",
        S_LOST,
        "`--resume` after labeled images were replaced under the same names",
        'Exit 2 naming "the labeled images" as changed; unchanged.',
        _resume_changed_labeled,
    ),
    Case(
        "resume-changed-teacher",
        S_LOST,
        "`run --resume` after a teacher's weights file was replaced (same name, same uniform α)",
        'Exit 2 naming "teacher teacher-a\'s weights" as changed: a checkpoint binds '
        "every teacher's weight digest (it bound the source names only and continued).",
        _resume_changed_teacher,
    ),
    Case(
        "resume-damaged-checkpoint",
        S_LOST,
        "`--resume` with flipped bytes in a checkpoint's weights (size and header intact)",
        'Exit 2: "--resume: checkpoint ... is damaged (its contents do not match the checksum '
        'written with it) ..." (it exported a student with weights off by 1e16).',
        _damaged_checkpoint,
    ),
    Case(
        "rank-flipped-cached-features",
        S_LOST,
        "`rank` after flipped bytes in every cached feature file",
        "Exit 0 with the same scores as on a clean cache: the file's checksum does not match, so it is a miss "
        "and extracted again (the scores changed).",
        _flipped_cache("features"),
        code=0,
    ),
    Case(
        "rank-edited-cached-scores",
        S_LOST,
        "`rank` after every cached score was changed in its JSON file",
        "Exit 0 with the same scores as on a clean cache: the scores file's checksum does not match, so they "
        "are computed again.",
        _flipped_cache("scores"),
        code=0,
    ),
    Case(
        "out-being-written",
        S_LOST,
        "`baseline finetune --out DIR` while another process writes DIR",
        'Exit 2 at once: "--out DIR is being written by process PID (lock file DIR/.zoo-distill.lock) ..."; '
        "nothing changed (both wrote the folder and exited 0).",
        _out_being_written,
        subprocess=True,
    ),
    Case(
        "out-stale-lock",
        S_MESSAGES,
        "`--out DIR` holding the lock file of a process killed with SIGKILL",
        'Exit 0 with a note: "took over the lock file of process PID, which is no longer running"; the lock '
        "file is gone afterwards.",
        _stale_lock,
        code=0,
    ),
    Case(
        "cache-clear-in-use",
        S_TRACE,
        "`cache clear` while a run reads a cached file (its bank)",
        'Exit 0: "removed 1 file(s) ... kept 1 file(s) in use by a running process (NAME)"; the file in use '
        "is unchanged (it was deleted: the run's workers failed with FileNotFoundError).",
        _clear_in_use,
        code=0,
    ),
    Case(
        "cache-clear-in-flight",
        S_TRACE,
        "`cache clear` while an extraction writes its temporary file",
        "Exit 0: the temporary is kept and reported in use, a stray one of a dead process is removed (the "
        'extraction failed and the user was told to "free space").',
        _clear_in_flight,
        code=0,
    ),
]

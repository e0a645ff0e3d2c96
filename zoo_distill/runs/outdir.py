"""The run directory as the user's property: a run in it is never replaced without ``overwrite``.

``run --out DIR`` used to train over a finished run silently (student, metrics and checkpoint
replaced). Now a folder holding a run is refused unless the caller asks to ``resume`` it (its
checkpoint) or to ``overwrite`` it; only the files a run writes are ever removed. A finished run
(its ``metrics.json``, written last, is there) is never continued: ``resume`` on it is refused.

One process writes a run directory at a time: ``lock_out_dir`` is taken before ``check_out_dir``
looks at the folder, and held until the run is written or has failed (``util/lock.py``).
"""

from __future__ import annotations

from pathlib import Path

from zoo_distill.errors import ConfigError, ZooDistillError
from zoo_distill.training.loop import CHECKPOINT
from zoo_distill.util.lock import FolderLock

__all__ = ["FINISHED_MARK", "RUN_FILES", "check_out_dir", "clear_run_files", "lock_out_dir", "run_files_in"]

#: What a run writes into its directory; nothing else there is touched.
RUN_FILES = (
    "student.safetensors",
    "model.safetensors",
    "config.json",
    "metrics.json",
    "run.json",
    "curves.png",
    CHECKPOINT,
)
_FINISHED = ("metrics.json", "student.safetensors", "model.safetensors")
#: Written last, once the student is exported: a run holding it is finished, whatever else is there.
FINISHED_MARK = "metrics.json"


def lock_out_dir(out: Path) -> FolderLock:
    """The lock of the one process writing ``out`` (not yet taken: use it as a ``with`` block).

    A second writer is refused with a line naming the holder's pid; a lock file whose holder has
    died is taken over (``FolderLock.stale`` names it). A folder the lock had to create is removed
    again on release if nothing was written into it.
    """
    return FolderLock(Path(out), what=f"--out {out}")


def run_files_in(out: Path) -> list[str]:
    """The names of RUN_FILES present in ``out`` (none when it is missing or not a folder)."""
    try:
        return [name for name in RUN_FILES if (Path(out) / name).exists()]
    except OSError as exc:
        raise ZooDistillError(f"output directory {out} cannot be read: {exc.strerror or exc}") from None


def check_out_dir(out: Path, resume: bool, overwrite: bool) -> str | None:
    """Refuse to train over a run in ``out`` unless asked; returns a note for the user, if any.

    ``resume`` continues the checkpoint (whose signature the training loop checks); ``overwrite``
    allows replacing whatever run is there. Called before any work or folder is made.
    """
    if resume and overwrite:
        raise ConfigError(
            "--resume and --overwrite contradict each other: --resume continues the run in --out, "
            "--overwrite replaces it"
        )
    present = run_files_in(out)
    if overwrite:
        return f"--overwrite: the run in {out} ({', '.join(present)}) is replaced" if present else None
    if resume:
        if FINISHED_MARK in present and CHECKPOINT in present:  # without one, the refusal below says so
            raise ConfigError(
                f"--resume: --out {out} holds a finished run ({', '.join(present)}): there is nothing to "
                f"continue, and it is left unchanged; pass --overwrite to train it again, or choose "
                f"another --out"
            )
        if CHECKPOINT in present:
            return None
        if present:
            raise ConfigError(
                f"--resume: {out} holds a run ({', '.join(present)}) but no {CHECKPOINT} to continue; "
                f"pass --overwrite to replace it, or choose another --out"
            )
        return f"--resume: {out} has no {CHECKPOINT}; starting a fresh run"
    if not present:
        return None
    if any(name in present for name in _FINISHED):
        raise ConfigError(
            f"--out {out} already holds a finished run ({', '.join(present)}); pass --overwrite to "
            f"replace it, or choose another --out"
        )
    raise ConfigError(
        f"--out {out} already holds an unfinished run ({', '.join(present)}); pass --resume to "
        f"continue it, --overwrite to start over, or choose another --out"
    )


def clear_run_files(out: Path) -> list[str]:
    """Delete the files an earlier run wrote in ``out`` (for ``overwrite``, right before training starts,
    so a failure before then keeps the old run whole); returns their names."""
    removed = []
    for name in run_files_in(out):
        try:
            (Path(out) / name).unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ZooDistillError(f"--overwrite: cannot remove {Path(out) / name}: {exc.strerror or exc}") from None
        removed.append(name)
    return removed

"""util/lock.py: one writer per folder (refused with the holder's pid, stale locks taken over, nothing
left behind) and shared locks that an exclusive taker sees without waiting."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap

import pytest

from zoo_distill.util.lock import LOCK_NAME, FolderLock, LockedError, SharedLock, exclusive_now, held_elsewhere

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="OS locks are no-ops without fcntl")

_HOLD = textwrap.dedent("""
    import sys, time
    from zoo_distill.util.lock import FolderLock
    with FolderLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def _holder(folder):
    """Another process holding the folder's lock (until killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_writes_the_pid_and_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "a" / "b"
    with FolderLock(folder) as lock:
        assert lock.held and (folder / LOCK_NAME).read_text().split() == [str(os.getpid())]
    assert not os.path.lexists(tmp_path / "a")  # created by the lock, empty: removed again


def test_a_folder_with_content_is_kept(tmp_path):
    with FolderLock(tmp_path / "run"):
        (tmp_path / "run" / "x").write_text("kept")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["x"]


def test_second_writer_in_another_process_is_refused_naming_the_pid(tmp_path):
    proc = _holder(tmp_path / "run")
    try:
        with pytest.raises(LockedError, match=rf"being written by process {proc.pid}\b"):
            FolderLock(tmp_path / "run", what="--out run").acquire()
    finally:
        proc.kill()
        proc.wait()


def test_second_writer_in_this_process_is_refused_and_the_first_keeps_its_lock(tmp_path):
    with FolderLock(tmp_path / "run"):
        with pytest.raises(LockedError, match=str(os.getpid())):
            FolderLock(tmp_path / "run").acquire()
        proc = subprocess.run(
            [sys.executable, "-c", _HOLD.replace("time.sleep(60)", "pass"), str(tmp_path / "run")],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert proc.returncode != 0 and "LockedError" in proc.stderr  # still ours after the refusal


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    proc = _holder(tmp_path / "run")
    proc.kill()  # kill -9: its lock file stays, its OS lock goes
    proc.wait()
    assert (tmp_path / "run" / LOCK_NAME).read_text().split() == [str(proc.pid)]
    with FolderLock(tmp_path / "run") as lock:
        assert lock.stale == proc.pid
        assert (tmp_path / "run" / LOCK_NAME).read_text().split() == [str(os.getpid())]
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_lock_is_released_on_an_exception(tmp_path):
    with pytest.raises(RuntimeError), FolderLock(tmp_path / "run"):
        raise RuntimeError("boom")
    with FolderLock(tmp_path / "run"):
        pass


def test_forked_children_do_not_hold_the_folder_lock(tmp_path):
    """A DataLoader worker forked while the lock is held must not keep it once its parent is gone."""
    script = textwrap.dedent("""
        import os, sys, time
        from zoo_distill.util.lock import FolderLock
        lock = FolderLock(sys.argv[1]).acquire()
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        print("forked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        start_new_session=True,
    )
    try:
        assert proc.stdout.readline().strip() == "forked"
        proc.kill()  # the parent dies; its child lives on for a while
        proc.wait()
        with FolderLock(tmp_path / "run") as lock:
            assert lock.stale == proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)


def test_shared_locks_exclude_an_exclusive_taker_only(tmp_path):
    path = tmp_path / "f.lock"
    assert not held_elsewhere(path)
    first, second = SharedLock(path).acquire(), SharedLock(path).acquire()  # readers share
    assert held_elsewhere(path)
    with exclusive_now(path) as held:
        assert not held
    first.release()
    second.release()
    with exclusive_now(path) as held:
        assert held
        assert held_elsewhere(path)

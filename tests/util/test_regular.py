"""util/regular.py: only regular files are read, and a FIFO never blocks."""

from __future__ import annotations

import os
import socket

import pytest

from zoo_distill.util.regular import NotARegularFile, read_regular


def test_regular_file_and_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_regular(path) == b"x" * 10
    assert read_regular(path, 4) == b"x" * 5  # limit + 1: the caller sees it is too large


def test_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile, match="FIFO"):
        read_regular(fifo)


def test_devices_folders_and_sockets_are_refused(tmp_path):
    with pytest.raises(NotARegularFile, match="character device"):
        read_regular("/dev/zero")
    with pytest.raises(IsADirectoryError):
        read_regular(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s"))
        with pytest.raises(NotARegularFile, match="socket"):
            read_regular(tmp_path / "s")
    finally:
        sock.close()

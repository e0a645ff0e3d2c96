"""zoo/architectures.py: the cached list of timm names is checked, rebuilt when damaged, and cleared."""

from __future__ import annotations

import importlib.metadata

import pytest

from zoo_distill.zoo import architectures


@pytest.fixture
def names_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DISTILL_CACHE", str(tmp_path))
    architectures._known_names.cache_clear()
    yield tmp_path / f"timm-architectures-{importlib.metadata.version('timm')}.txt"
    architectures._known_names.cache_clear()


def test_the_list_is_written_with_its_count_and_digest_and_read_back(names_file):
    names = architectures._known_names()
    assert "resnet18" in names and names_file.is_file()
    header = names_file.read_text().splitlines()[0]
    assert f"count={len(names)}" in header and "sha256=" in header and "timm=" in header
    assert architectures._read_names(names_file) == names


@pytest.mark.parametrize("damage", ["truncated", "edited", "old format", "empty", "not utf-8", "fifo"])
def test_a_damaged_list_is_rebuilt(names_file, damage):
    good = architectures._known_names()
    architectures._known_names.cache_clear()
    text = names_file.read_text()
    if damage == "truncated":
        names_file.write_text(text[: len(text) // 3])
    elif damage == "edited":
        names_file.write_text(text.replace("\nresnet18\n", "\n"))
    elif damage == "old format":  # the list as earlier versions wrote it, without a header
        names_file.write_text("\n".join(sorted(good)[:5]) + "\n")
    elif damage == "empty":
        names_file.write_text("")
    elif damage == "not utf-8":
        names_file.write_bytes(b"\xff\xfe")
    else:
        import os

        names_file.unlink()
        os.mkfifo(names_file)
    assert architectures._read_names(names_file) is None
    if damage == "fifo":
        names_file.unlink()
    assert architectures._known_names() == good
    assert architectures._read_names(names_file) == good  # rewritten whole


def test_helper_files_are_what_cache_clear_removes(tmp_path):
    for name in ("timm-architectures-1.0.0.txt", "timm-data-configs-1.0.0.json", "other.txt"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in architectures.helper_files(tmp_path)] == [
        "timm-architectures-1.0.0.txt",
        "timm-data-configs-1.0.0.json",
    ]
    assert architectures.helper_files(tmp_path / "missing") == []

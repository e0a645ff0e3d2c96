from pathlib import Path

import pytest

from zoo_distill.errors import ZooFileError
from zoo_distill.zoo.file import default_zoo_path, load_zoo

from ..conftest import local_entry, write_zoo

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_shipped_registry_loads_offline():
    zoo = load_zoo(REPO_ROOT / "registry.yaml")
    assert len(zoo) >= 3
    assert {e.provider for e in zoo} <= {"timm", "hf-hub", "local"}
    assert all(e.domain for e in zoo)


def test_default_zoo_path_is_the_shipped_registry(monkeypatch, tmp_path):
    assert default_zoo_path().name == "registry.yaml"
    monkeypatch.setenv("ZOO_DISTILL_ZOO", str(tmp_path / "z.yaml"))
    assert default_zoo_path() == tmp_path / "z.yaml"


def test_local_paths_resolve_against_the_zoo_file(tiny_zoo):
    zoo = load_zoo(tiny_zoo)
    entry = zoo.entries["teacher-a"]
    assert entry.base_dir == str(tiny_zoo.parent.resolve())
    assert entry.origin == str(tiny_zoo)
    assert entry.domain == "toy"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"provider": "local"}, r"sources\[0\]: field 'name' is missing"),
        ({"name": "x"}, r"sources\[0\] \('x'\): field 'provider' is missing"),
        ({"name": "x", "provider": "nope"}, r"field 'provider': unknown provider 'nope'; known: hf-hub, local, timm"),
        ({"name": "bad name!", "provider": "timm", "model": "m"}, r"field 'name'"),
        (
            {"name": "x", "provider": "local", "arch": "resnet18", "num_classes": 2},
            r"\('x'\): field 'weights' is required by provider 'local'",
        ),
        (
            {"name": "x", "provider": "local", "weights": "w", "arch": "resnet18", "num_classes": -1},
            r"field 'num_classes': must be an integer >= 0",
        ),
        (
            {"name": "x", "provider": "timm", "model": "m", "modle": "typo"},
            r"field 'modle' is not known to provider 'timm'",
        ),
        ({"name": "x", "provider": "hf-hub", "repo": "a/b", "revision": 3}, r"field 'revision': must be a string"),
        ({"name": "x", "provider": "timm", "model": "m", "domain": ["list"]}, r"field 'domain' must be a string"),
        (
            {"name": "x", "provider": "timm", "model": "m", "pretrained_cfg": {"size": 3}},
            r"field 'pretrained_cfg': unknown key",
        ),
        (
            {"name": "x", "provider": "local", "weights": "w", "arch": "no_such_arch", "num_classes": 2},
            r"field 'arch': 'no_such_arch' is not a timm architecture",
        ),
        (
            {"name": "x", "provider": "timm", "model": "m", "pretrained_cfg": {"input_size": "foo"}},
            r"field 'pretrained_cfg': input_size: must be \[channels, height, width\]",
        ),
        (
            {"name": "x", "provider": "timm", "model": "m", "pretrained_cfg": {"std": [0.5, 0, 0.5]}},
            r"field 'pretrained_cfg': std: must be a list of 3 numbers > 0",
        ),
        ("just a string", r"sources\[0\]: an entry must be a mapping"),
    ],
)
def test_invalid_entries_name_file_entry_and_field(tmp_path, entry, message):
    path = write_zoo(tmp_path / "zoo.yaml", [entry])
    with pytest.raises(ZooFileError, match=message) as info:
        load_zoo(path)
    assert str(path) in str(info.value)


def test_duplicate_names_are_rejected(tmp_path):
    e = local_entry("same", "w.safetensors")
    path = write_zoo(tmp_path / "zoo.yaml", [e, e])
    with pytest.raises(ZooFileError, match=r"sources\[1\] \('same'\): field 'name': duplicate"):
        load_zoo(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("sources: [\n  - name: x\n   bad", r"line \d+, column \d+"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("sources: {a: 1}\n", "'sources' must be a list"),
        ("version: 2\nsources: []\n", "only version 1"),
        ("sources: []\nextra: 1\n", "unknown top-level field"),
    ],
)
def test_malformed_files(tmp_path, text, message):
    path = tmp_path / "zoo.yaml"
    path.write_text(text)
    with pytest.raises(ZooFileError, match=message):
        load_zoo(path)


def test_missing_file(tmp_path):
    with pytest.raises(ZooFileError, match="does not exist"):
        load_zoo(tmp_path / "absent.yaml")


def test_select_unknown_source_lists_known(tiny_zoo):
    zoo = load_zoo(tiny_zoo)
    assert [e.name for e in zoo.select(["teacher-b"])] == ["teacher-b"]
    with pytest.raises(ZooFileError, match="known: teacher-a, teacher-b"):
        zoo.select(["nope"])

"""Entries that name a Hub repo or a local folder: validated by form, located relative to the zoo file."""

from __future__ import annotations

import pytest

from zoo_distill.errors import ProviderUnavailable
from zoo_distill.plugin.types import EntryFieldError, HubFiles, LocalFile, ZooEntry
from zoo_distill.zoo.repo_source import availability, fetch, files, validate_location, where


def entry(tmp_path=None, **options) -> ZooEntry:
    return ZooEntry("src", "x", options, base_dir=str(tmp_path) if tmp_path else None)


@pytest.mark.parametrize(
    "options, field",
    [
        ({}, "repo"),
        ({"repo": "a/b", "path": "p"}, "repo"),
        ({"repo": "a b"}, "repo"),
        ({"repo": "a/b/c"}, "repo"),
        ({"path": ""}, "path"),
        ({"path": "p", "revision": "v1"}, "revision"),
        ({"repo": "a/b", "revision": 3}, "revision"),
    ],
)
def test_exactly_one_well_formed_location(options, field):
    with pytest.raises(EntryFieldError) as err:
        validate_location(entry(**options), "model files")
    assert err.value.field_name == field


def test_a_folder_is_read_relative_to_the_zoo_file(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.json").write_text("{}")
    e = entry(tmp_path, path="m")
    validate_location(e, "model files")
    assert fetch(e, "a.json") == tmp_path / "m" / "a.json"
    with pytest.raises(ProviderUnavailable, match="folder 'm' has no b.bin"):
        fetch(e, "b.bin")
    assert availability(e, ("a.json", "b.bin")) == "source 'src': folder 'm' has no b.bin"
    assert files(e, ("a.json",), "a.json") == LocalFile(tmp_path / "m" / "a.json")
    hub = entry(repo="org/m", revision="v2")
    assert where(hub) == "Hub repo 'org/m' (revision v2)"
    assert files(hub, ("c", "w"), "w") == HubFiles("org/m", "v2", ("c", "w"), "w")

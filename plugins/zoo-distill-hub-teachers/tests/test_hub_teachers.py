"""The catalog is valid for zoo-distill's hf-hub provider and shows up, offline, as not available."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest
import yaml
import zd_hub_teachers
from zd_hub_teachers import TEACHERS, zoo_entries
from zd_hub_teachers import plugin as hub_plugin
from zd_hub_teachers.catalog import ORIGIN

from zoo_distill.plugin.manager import load_plugins
from zoo_distill.zoo.file import NAME_PATTERN, load_zoo


def test_the_hook_registers_every_catalog_entry():
    registered = []
    hub_plugin.register_zoo_entries(register=registered.append)
    assert [e.name for e in registered] == [t["name"] for t in TEACHERS]
    assert len(registered) >= 3 and len({e.name for e in registered}) == len(registered)
    for entry in registered:
        assert NAME_PATTERN.match(entry.name)
        assert entry.provider == "hf-hub" and entry.origin == ORIGIN
        assert entry.options["repo"].startswith("timm/") and entry.options["revision"]
        assert entry.domain and entry.description and entry.license


def test_entries_validate_against_the_builtin_hf_hub_provider(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DISTILL_LOAD_PLUGINS", "")  # built-ins only: the provider we rely on
    registry = load_plugins()
    registry.zoo_entries.update({e.name: e for e in zoo_entries()})  # as if the plugin had registered them
    empty = tmp_path / "zoo.yaml"
    empty.write_text(yaml.safe_dump({"version": 1, "sources": []}))
    zoo = load_zoo(empty, registry)
    assert list(zoo.entries) == [t["name"] for t in TEACHERS]
    assert registry.warnings == []  # none was left out as invalid
    provider = registry.providers["hf-hub"]
    for entry in zoo:
        reason = provider.is_available(entry)  # offline with an empty cache: not available, and says why
        assert reason and entry.options["repo"] in reason


def _installed() -> bool:
    try:
        importlib.metadata.version("zoo-distill-hub-teachers")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="not installed (pip install -e plugins/zoo-distill-hub-teachers)")
def test_zoo_ls_lists_them_as_unavailable_when_installed(tmp_path):
    empty = tmp_path / "zoo.yaml"
    empty.write_text(yaml.safe_dump({"version": 1, "sources": []}))
    env = {**os.environ, "ZOO_DISTILL_LOAD_PLUGINS": "zoo-distill-hub-teachers"}
    out = subprocess.run(
        [sys.executable, "-m", "zoo_distill", "zoo", "ls", "--zoo", str(empty), "--json"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {t["name"] for t in TEACHERS}
    assert all(r["available"] is False and r["reason"] and r["origin"] == ORIGIN for r in rows.values())
    assert importlib.metadata.version("zoo-distill-hub-teachers") == zd_hub_teachers.__version__ == "0.1.0"

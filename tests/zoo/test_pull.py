"""A plugin provider takes part in ``zoo ls`` and ``zoo pull`` through ``SourceProvider.files``, like the
built-ins: Hub files are pulled into the Hugging Face cache, a local file is only looked at, and a provider
that does not say is shown as unknown and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo_distill.errors import ProviderUnavailable, ZooDistillError
from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.manager import load_plugins
from zoo_distill.plugin.types import HubFiles, LocalFile, SourceProvider, ZooEntry
from zoo_distill.zoo.file import load_zoo
from zoo_distill.zoo.pull import cache_status, ls_rows, pull

from ..conftest import write_zoo
from ..hub.conftest import hub_server  # noqa: F401 - the fixture

WEIGHTS = b"not really safetensors, only bytes to fetch" * 100
CARD = b'{"arch": "projection"}'


def bucket_files(entry: ZooEntry) -> HubFiles | LocalFile | None:
    where = entry.options["where"]
    if where == "hub":
        return HubFiles(
            entry.options["repo"], entry.options.get("revision"), ("card.json", "weights.bin"), weights="weights.bin"
        )
    if where == "local":
        return LocalFile(Path(entry.base_dir) / entry.options["path"])
    if where == "gone":
        raise ProviderUnavailable(f"source {entry.name!r}: the bucket is gone")
    return None


class BucketPlugin:
    @hookimpl
    def register_sources(self, register):
        register(
            SourceProvider(
                "bucket",
                lambda entry: None,
                required=("where",),
                optional=("repo", "revision", "path"),
                files=bucket_files,
            )
        )
        register(SourceProvider("silent", lambda entry: None))  # says nothing about its files


@pytest.fixture
def plugin_zoo(tmp_path):
    registry = load_plugins(extra=[("bucket", BucketPlugin())])
    (tmp_path / "w.bin").write_bytes(b"12345")
    zoo = load_zoo(
        write_zoo(
            tmp_path / "zoo.yaml",
            [
                {"name": "on-hub", "provider": "bucket", "where": "hub", "repo": "org/bucket-model", "revision": "v1"},
                {"name": "on-disk", "provider": "bucket", "where": "local", "path": "w.bin"},
                {"name": "unsaid", "provider": "bucket", "where": "elsewhere"},
                {"name": "gone", "provider": "bucket", "where": "gone"},
                {"name": "quiet", "provider": "silent"},
            ],
        ),
        registry,
    )
    return registry, list(zoo)


def test_ls_rows_ask_the_plugin_provider(plugin_zoo):
    registry, entries = plugin_zoo
    rows = {r["name"]: r for r in ls_rows(entries, registry)}
    assert {n: (r["cached"], r["size_bytes"]) for n, r in rows.items()} == {
        "on-hub": (False, None),
        "on-disk": (True, 5),
        "unsaid": (None, None),
        "gone": (False, None),
        "quiet": (None, None),
    }
    assert rows["on-hub"]["provider"] == "bucket" and rows["on-hub"]["repo"] == "org/bucket-model"
    assert all(r["available"] for r in rows.values())  # the plugin has no is_available


def test_pull_offline_names_the_plugin_entries_on_the_hub(plugin_zoo):
    registry, entries = plugin_zoo
    with pytest.raises(ZooDistillError, match="HF_HUB_OFFLINE is set, so 'on-hub' cannot be downloaded"):
        pull(entries, registry=registry)
    local_only = [e for e in entries if e.name != "on-hub"]
    results = {r.name: r for r in pull(local_only, registry=registry)}  # nothing on the Hub: fine offline
    assert "local" in results["on-disk"].skipped and results["on-disk"].ok
    assert "does not say which files it loads" in results["unsaid"].skipped
    assert "does not say which files it loads" in results["quiet"].skipped
    assert results["gone"].error == "source 'gone': the bucket is gone"


def test_pull_fetches_the_plugin_providers_hub_files(hub_server, plugin_zoo):  # noqa: F811
    registry, entries = plugin_zoo
    hub_server.add_revision("org/bucket-model", "v1", {"card.json": CARD, "weights.bin": WEIGHTS})
    results = {r.name: r for r in pull(entries, registry=registry)}
    hub = results["on-hub"]
    assert hub.ok and (hub.repo_id, hub.revision) == ("org/bucket-model", "v1")
    assert hub.downloaded == ["card.json", "weights.bin"] and hub.bytes_downloaded == len(CARD) + len(WEIGHTS)
    gets = {(r.repo_id, r.filename, r.revision) for r in hub_server.seen(method="GET")}
    assert gets == {("org/bucket-model", "card.json", "v1"), ("org/bucket-model", "weights.bin", "v1")}

    status = cache_status(entries[0], registry)
    assert status.cached is True and status.size_bytes == len(WEIGHTS) and status.path.name == "weights.bin"
    again = {r.name: r for r in pull(entries[:1], registry=registry)}["on-hub"]
    assert again.cached == ["card.json", "weights.bin"] and not again.downloaded

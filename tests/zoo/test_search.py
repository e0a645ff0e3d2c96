"""``zoo search``: the real huggingface_hub client's model listing against the loopback Hub, written as a
pinned zoo file that loads and ranks."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.errors import ConfigError, ProviderUnavailable
from zoo_distill.zoo.search import search_hub, zoo_document

from ..hub.conftest import hub_server, tiny_repo_files  # noqa: F401 (the fixture)


@pytest.fixture
def listed_hub(hub_server, tmp_path):  # noqa: F811
    """Four repos: three timm image classifiers (one a detector), one transformers classifier."""
    files = tiny_repo_files(tmp_path, seed=0)
    for repo, fields in {
        "org/resnet-plants": dict(downloads=50, likes=3, tags=["license:apache-2.0"]),
        "org/resnet-xray": dict(downloads=900, likes=1),
        "lab/vit-plants": dict(library_name="transformers", downloads=5000),
        "org/detector-plants": dict(pipeline_tag="object-detection", downloads=10_000),
    }.items():
        hub_server.add_revision(repo, "main", files)
        hub_server.set_listing(repo, **fields)
    return hub_server


def test_search_lists_pinned_timm_classifiers_best_first(listed_hub):
    models = search_hub(None, ["timm"], limit=10)
    assert [m.repo_id for m in models] == ["org/resnet-xray", "org/resnet-plants"]  # no detector, no transformers
    assert all(m.revision == listed_hub.commit_of(m.repo_id) for m in models)
    assert models[1].license == "apache-2.0"
    assert [m.repo_id for m in search_hub("PLANTS", ["timm"])] == ["org/resnet-plants"]
    assert len(search_hub(None, ["timm"], limit=1)) == 1
    listing = [r for r in listed_hub.requests if r.path == "/api/models"]
    assert listing and listing[0].query["filter"] == ["timm"] and listing[0].query["sort"] == ["downloads"]


def test_the_zoo_file_loads_and_each_entry_downloads_its_pinned_commit(listed_hub, tmp_path):
    out = tmp_path / "found.yaml"
    result = CliRunner().invoke(app, ["zoo", "search", "resnet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(out.read_text())
    assert [(s["name"], s["provider"], s["repo"]) for s in doc["sources"]] == [
        ("org--resnet-xray", "hf-hub", "org/resnet-xray"),
        ("org--resnet-plants", "hf-hub", "org/resnet-plants"),
    ]
    assert doc["sources"][0]["revision"] == listed_hub.commit_of("org/resnet-xray")
    from zoo_distill.api import load_zoo
    from zoo_distill.zoo.pull import pull

    zoo = load_zoo(out)
    assert len(zoo) == 2
    results = pull(zoo.select(None), None)
    assert not any(r.error for r in results), [r.error for r in results]
    assert {r.revision for r in results} == {s["revision"] for s in doc["sources"]}
    again = CliRunner().invoke(app, ["zoo", "search", "resnet", "--out", str(out)])
    assert again.exit_code == 2 and "already exists; pass --overwrite" in again.stderr
    assert CliRunner().invoke(app, ["zoo", "search", "resnet", "--out", str(out), "--overwrite"]).exit_code == 0


def test_json_output_is_strict(listed_hub):
    result = CliRunner().invoke(app, ["zoo", "search", "--json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(c))
    assert [m["repo"] for m in payload["models"]] == ["org/resnet-xray", "org/resnet-plants"]


def test_a_library_without_its_provider_and_offline_mode_are_one_line_errors(listed_hub):
    with pytest.raises(
        ConfigError,
        match="provider 'transformers', which no installed plugin provides "
        r"\(pip install zoo-distill-transformers\)",
    ):
        search_hub(None, ["transformers"])
    with pytest.raises(ConfigError, match="--library must be"):
        search_hub(None, ["keras"])
    # where the provider is installed, its repos are listed under it
    found = search_hub(None, ["timm", "transformers"], providers=("hf-hub", "transformers"))
    assert [m.repo_id for m in found] == ["lab/vit-plants", "org/resnet-xray", "org/resnet-plants"]
    assert zoo_document(found, None)["sources"][0]["provider"] == "transformers"
    listed_hub.mode.offline()
    with pytest.raises(ProviderUnavailable, match="HF_HUB_OFFLINE is set"):
        search_hub(None, ["timm"])
    result = CliRunner().invoke(app, ["zoo", "search"])
    assert result.exit_code == 2 and result.stderr.count("Error:") == 1


def test_entry_names_are_valid_and_unique():
    from zoo_distill.zoo.file import NAME_PATTERN
    from zoo_distill.zoo.search import HubModel

    models = [HubModel(repo, "0" * 40, "timm", None, 0, 0, None) for repo in ("a/b", "a--b", "_x/ü.y", "a/b")]
    names = [s["name"] for s in zoo_document(models, None)["sources"]]
    assert len(set(names)) == 4 and all(NAME_PATTERN.fullmatch(n) for n in names)

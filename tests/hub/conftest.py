"""Fixtures for tests that drive the real huggingface_hub client against the local Hub look-alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch

from zoo_distill.runs.export import save_student

from ..conftest import TINY_CFG
from ..hubserver import HubServer


class HubMode:
    """Switch huggingface_hub between online (against the local server) and offline, the way users do."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: HubServer) -> None:
        self.monkeypatch, self.server = monkeypatch, server

    def online(self) -> None:
        from huggingface_hub import constants

        self.monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        self.monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def offline(self) -> None:
        from huggingface_hub import constants

        self.monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        self.monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def hub_server(monkeypatch):
    """A started HubServer; huggingface_hub points at it (HF_ENDPOINT) and is online. Stopped afterwards."""
    from huggingface_hub import constants, hf_api

    monkeypatch.setenv("ZOO_DISTILL_LOAD_PLUGINS", "")  # built-ins only: installed plugins may add zoo entries
    server = HubServer().start()
    # huggingface_hub reads HF_ENDPOINT once at import into these two constants; the client reads the
    # constants at call time (hf_hub_url, HfApi()), so patching them is what setting HF_ENDPOINT means.
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_api.api, "endpoint", server.url)  # the module-level HfApi behind hf_api.model_info etc.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", True)
    server.mode = HubMode(monkeypatch, server)
    server.mode.online()
    try:
        yield server
    finally:
        server.stop()
        assert not server.threads_alive(), f"hubserver threads still running: {server.threads_alive()}"


def tiny_repo_files(tmp_path: Path, seed: int, num_classes: int = 3, arch: str = "test_convnext") -> dict[str, bytes]:
    """A timm-format repo (config.json + model.safetensors) written by the project's own exporter."""
    torch.manual_seed(seed)
    model = timm.create_model(arch, num_classes=num_classes, pretrained_cfg_overlay=dict(TINY_CFG))
    out = tmp_path / f"export-{arch}-{seed}"
    save_student(out, model, arch, num_classes, TINY_CFG, [f"c{i}" for i in range(num_classes)])
    return {
        "config.json": (out / "config.json").read_bytes(),
        "model.safetensors": (out / "model.safetensors").read_bytes(),
    }


def hf_cache_files(repo_id: str) -> list[Path]:
    from huggingface_hub import constants

    root = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()) if root.exists() else []


def config_of(files: dict[str, bytes]) -> dict:
    return json.loads(files["config.json"])

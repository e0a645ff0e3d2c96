"""The local Hub look-alike answers the real client's metadata calls as the Hub does."""

from __future__ import annotations

import hashlib

import pytest

from ..hubserver import HubServer, git_blob_id


def test_metadata_calls_of_the_real_client(hub_server):
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    main = hub_server.add_revision("org/m", "main", {"config.json": b"{}", "w/model.safetensors": b"x" * 64})
    tag = hub_server.add_revision("org/m", "v2", {"config.json": b'{"a": 1}'})
    api = HfApi()
    assert api.model_info("org/m").sha == main and api.model_info("org/m", revision="v2").sha == tag
    assert sorted(api.list_repo_files("org/m")) == ["config.json", "w/model.safetensors"]
    assert api.list_repo_files("org/m", revision="v2") == ["config.json"]
    lfs = next(f for f in api.list_repo_tree("org/m", recursive=True) if f.path.endswith(".safetensors"))
    assert lfs.lfs.sha256 == hashlib.sha256(b"x" * 64).hexdigest() and lfs.size == 64
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/none")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/m", revision="nope")

    small = get_hf_file_metadata(hf_hub_url("org/m", "config.json", revision="v2"))
    assert (small.commit_hash, small.etag, small.size) == (tag, git_blob_id(b'{"a": 1}'), 8)
    big = get_hf_file_metadata(hf_hub_url("org/m", "w/model.safetensors"))
    assert big.etag == hashlib.sha256(b"x" * 64).hexdigest() and big.size == 64 and big.xet_file_data is None
    assert hub_server.seen(method="HEAD", filename="w/model.safetensors")[0].revision == "main"


def test_range_requests_and_folder_layout(tmp_path):
    import httpx2

    (tmp_path / "org" / "r" / "main" / "sub").mkdir(parents=True)
    (tmp_path / "org" / "r" / "main" / "sub" / "a.txt").write_bytes(b"0123456789")
    with HubServer.from_folder(tmp_path) as server:
        res = httpx2.get(f"{server.url}/org/r/resolve/main/sub/a.txt", headers={"Range": "bytes=4-"})
        assert res.status_code == 206 and res.content == b"456789"
        assert res.headers["X-Repo-Commit"] == server.commit_of("org/r")
        assert httpx2.get(f"{server.url}/nothing/here").headers["X-Error-Code"] == "NotImplemented"
    assert not server.threads_alive()

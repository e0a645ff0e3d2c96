import pickle

import pytest
import torch
from safetensors.torch import save_file

from zoo_distill.errors import UnsafeWeightsError, ZooDistillError
from zoo_distill.zoo.weights import check_safetensors, file_digest, load_into, load_state_dict


def test_pickle_and_zip_checkpoints_are_refused(tmp_path):
    zipped = tmp_path / "model.pth"
    torch.save({"w": torch.zeros(2)}, zipped)
    raw = tmp_path / "model.bin"
    raw.write_bytes(pickle.dumps({"w": [0.0]}))
    for path in (zipped, raw):
        with pytest.raises(UnsafeWeightsError, match="pickle"):
            check_safetensors(path, "source 'x'")


def test_garbage_is_not_safetensors(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00hello")
    with pytest.raises(UnsafeWeightsError, match="not a safetensors file"):
        load_state_dict(path, "source 'x'")


def test_missing_file_names_the_source(tmp_path):
    with pytest.raises(ZooDistillError, match="source 'x': weights file .* does not exist"):
        load_state_dict(tmp_path / "absent.safetensors", "source 'x'")


def test_roundtrip_and_mismatch(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "m.safetensors"
    save_file(model.state_dict(), str(path))
    other = torch.nn.Linear(3, 2)
    load_into(other, path, "source 'x'")
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(ZooDistillError, match="do not fit the architecture"):
        load_into(torch.nn.Linear(4, 2), path, "source 'x'")


def test_file_digest_tracks_content(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    first = file_digest(path)
    assert first == file_digest(path)
    save_file({"w": torch.ones(3)}, str(path))
    assert file_digest(path) != first

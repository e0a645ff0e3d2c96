"""training/checkpoint.py: a checksum over the header and every tensor, and a refusal that names what changed."""

from __future__ import annotations

import pytest
import torch

from zoo_distill.errors import ZooDistillError
from zoo_distill.training.checkpoint import load_checkpoint, save_checkpoint
from zoo_distill.util.rowfile import locate


def _parts():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    return {"student": model}, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_flipped_weight_bytes_are_refused_naming_the_file(tmp_path):
    modules, optimizer = _parts()
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, modules, optimizer, {"epoch": 0, "signature": "s"})
    assert load_checkpoint(path, *_parts(), signature="s")["epoch"] == 0
    raw = bytearray(path.read_bytes())
    raw[locate(path)[0]["module.student.weight"].offset + 3] ^= 0x40  # a float32's exponent: x 2^128
    path.write_bytes(bytes(raw))
    with pytest.raises(ZooDistillError, match=rf"{path}.*damaged"):
        load_checkpoint(path, *_parts(), signature="s")


def test_a_refused_resume_names_the_parts_that_changed(tmp_path):
    modules, optimizer = _parts()
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(
        path,
        modules,
        optimizer,
        {"epoch": 0, "signature": "old", "parts": {"the test split": "a", "teacher t's weights": "b"}},
    )
    with pytest.raises(ZooDistillError, match=r"different run \(changed since it was written: teacher t's weights\)"):
        load_checkpoint(path, *_parts(), signature="new", parts={"the test split": "a", "teacher t's weights": "c"})

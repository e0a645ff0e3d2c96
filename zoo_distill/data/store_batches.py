"""Store rows and view parameters packed as tensors: what a DataLoader worker hands the device.

``store_inputs`` reads a batch's images as padded uint8 bytes; ``views_inputs`` names the arrays of its
views' parameters. ``StoreBatches`` is the dataset of fixed views over a whole store, in order (the
teachers' features of one view, evaluation): item ``k`` is batch ``k``, its views made on the device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo_distill.data.batches import Failed
from zoo_distill.data.store import ImageStore
from zoo_distill.data.view_params import ViewParams
from zoo_distill.errors import ZooDistillError

__all__ = ["StoreBatches", "store_inputs", "views_inputs"]


def store_inputs(store: ImageStore, index: np.ndarray) -> dict[str, torch.Tensor]:
    """The images ``index`` of ``store``: ``pixels`` (padded uint8 ``[B, H, W, 3]``) and ``sizes`` (``[B, 2]``)."""
    index = np.asarray(index, np.int64)
    return {"pixels": torch.from_numpy(store.read(index)), "sizes": torch.from_numpy(store.sizes[index].copy())}


def views_inputs(prefix: str, params: ViewParams) -> dict[str, torch.Tensor]:
    """``params`` as tensors named ``<prefix>:<field>``, to travel in a step's inputs."""
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in params.arrays(prefix).items()}


class StoreBatches(Dataset):
    """Item ``k``: images ``indices[k * B : (k + 1) * B]`` of ``store`` with their views ``views(indices)``
    (group ``e``), e.g. ``eval_views`` or one view of the bank."""

    def __init__(
        self,
        store: ImageStore,
        batch_size: int,
        views: Callable[[np.ndarray], ViewParams],
        indices: np.ndarray | None = None,
    ) -> None:
        self.store, self.batch_size, self.views = store, batch_size, views
        self.indices = np.arange(len(store), dtype=np.int64) if indices is None else np.asarray(indices, np.int64)

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor] | Failed:
        chunk = self.indices[k * self.batch_size : (k + 1) * self.batch_size]
        try:
            return {**store_inputs(self.store, chunk), **views_inputs("e", self.views(chunk))}
        except ZooDistillError as exc:
            return Failed(exc)

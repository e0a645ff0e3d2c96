"""DataLoaders of whole batches: errors travel as values, and no worker outlives its process."""

import subprocess
import sys
import textwrap

import pytest

from zoo_distill.data.batches import Failed, unwrap
from zoo_distill.errors import DataError


def test_a_workers_error_is_raised_as_itself():
    error = DataError("cannot read image x.png")
    with pytest.raises(DataError, match="x.png"):
        unwrap(Failed(error))
    assert unwrap({"a": 1}) == {"a": 1}


def test_a_process_exits_although_a_workers_iterator_was_never_shut_down():
    """The workers ignore SIGTERM (their parent handles it), so the exit handler that terminates
    daemonic children with SIGTERM and joins them waited forever for a worker left running."""
    script = textwrap.dedent(
        """
        from torch.utils.data import Dataset
        from zoo_distill.data.batches import item_loader

        class Items(Dataset):
            def __len__(self):
                return 100

            def __getitem__(self, k):
                return k

        left = iter(item_loader(Items(), 1))
        assert next(left) == 0
        keep = [left]
        keep.append(keep)  # a reference cycle: the iterator is not freed before exit
        del left
        print("exiting", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exiting" in done.stdout

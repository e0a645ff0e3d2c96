"""The training loop: when it evaluates, and the plain per-epoch lines it prints without a live display."""

import io
import logging
import re

import numpy as np
import pytest
import torch
from rich.console import Console
from rich.progress import Progress

from zoo_distill.cli.logs import configure_logging
from zoo_distill.data.store import open_store
from zoo_distill.data.target import load_target
from zoo_distill.errors import ConfigError
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.loop import epoch_line, train
from zoo_distill.training.methods.finetune import FineTune
from zoo_distill.training.student import create_student
from zoo_distill.util.progress import make_progress


def finetune(target_dir) -> tuple[FineTune, int]:
    data = load_target(target_dir)
    torch.manual_seed(0)
    student = create_student("resnet10t", len(data.class_names), "scratch", 32)
    return FineTune(
        student, open_store(data.train.paths, 32, None), np.asarray(data.train.labels), torch.device("cpu")
    ), len(data.train)


@pytest.mark.parametrize(
    "epochs,every,expected",
    [
        (30, None, [8, 16, 24, 30]),  # the default: about four evaluations, the last epoch always
        (10, None, [3, 6, 9, 10]),
        (3, None, [1, 2, 3]),
        (5, 2, [2, 4, 5]),
        (4, 1, [1, 2, 3, 4]),
        (4, 100, [4]),
    ],
)
def test_evaluated_epochs(epochs, every, expected):
    config = TrainConfig(epochs=epochs, eval_every=every)
    assert [e + 1 for e in range(epochs) if config.evaluates(e)] == expected


@pytest.mark.parametrize("option,value", [("workers", -1), ("workers", 1.5), ("eval_every", 0), ("eval_every", True)])
def test_new_options_are_validated_with_their_names(option, value):
    with pytest.raises(ConfigError, match=f"--{option.replace('_', '-')}"):
        TrainConfig(**{option: value})


def test_identity_leaves_out_what_does_not_change_the_weights():
    a, b = TrainConfig(workers=0, eval_every=1), TrainConfig(workers=4, eval_every=7)
    assert a.identity() == b.identity() and "workers" not in a.identity()
    assert TrainConfig(seed=1).identity() != TrainConfig(seed=2).identity()


def test_the_loop_evaluates_on_the_scheduled_epochs_only(target_dir):
    method, n = finetune(target_dir)
    calls = []

    def evaluate():
        calls.append(method.student.model.training)
        return {"test_accuracy": 0.5}

    result = train(method, TrainConfig(epochs=5, batch_size=8, eval_every=2, workers=0), n, 0, None, evaluate)
    assert [row["epoch"] for row in result.history if "test_accuracy" in row] == [2, 4, 5]
    assert calls == [False, False, False]  # in eval mode
    assert result.eval_seconds > 0


LINE = re.compile(r"epoch (\d+)/3  loss \d[\d.e+-]*  (test_acc 0\.5000  )?\d+ img/s  data wait \d+%  \d+\.\d s")


@pytest.fixture
def cli_logging(restored_logging):
    """Logging as the CLI configures it (stderr is captured: plain lines)."""
    configure_logging(Console(stderr=True))


def test_plain_lines_per_epoch_when_progress_bars_are_off(target_dir, capsys, cli_logging):
    method, n = finetune(target_dir)
    with make_progress() as progress:  # off: the test environment sets ZOO_DISTILL_NO_PROGRESS
        train(
            method,
            TrainConfig(epochs=3, batch_size=8, eval_every=2, workers=0),
            n,
            0,
            None,
            lambda: {"test_accuracy": 0.5},
            progress=progress,
        )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(LINE.fullmatch(line) for line in lines), lines
    assert ["test_acc" in line for line in lines] == [False, True, True]


def test_epoch_lines_are_log_records_that_only_a_configured_caller_sees(target_dir, capsys, caplog):
    method, n = finetune(target_dir)
    with caplog.at_level(logging.INFO, logger="zoo_distill.training.loop"):
        train(method, TrainConfig(epochs=2, batch_size=8, workers=0), n, 0, None, progress=None)
    assert [r.getMessage()[:10] for r in caplog.records] == ["epoch 1/2 ", "epoch 2/2 "]
    assert capsys.readouterr().err == ""  # the library configures no handler of its own


def test_no_plain_lines_under_a_live_progress_display(target_dir, capsys, cli_logging):
    method, n = finetune(target_dir)
    screen = io.StringIO()
    with Progress(console=Console(file=screen, force_terminal=True)) as progress:
        train(method, TrainConfig(epochs=2, batch_size=8, workers=0), n, 0, None, progress=progress)
    assert capsys.readouterr().err == ""
    assert "finetune" in screen.getvalue()


def test_epoch_line_names_the_loss_parts_but_not_each_source():
    row = {
        "epoch": 3,
        "loss": 0.512,
        "loss_ce": 0.31,
        "loss_feat": 0.02,
        "loss_feat_teacher-a": 0.03,
        "mask": 0.5,
        "test_accuracy": 0.8125,
        "seconds": 8.34,
    }
    assert epoch_line(row, 20, 412.4, 0.031) == (
        "epoch 3/20  loss 0.512 (ce 0.31, feat 0.02)  mask 0.50  test_acc 0.8125  412 img/s  data wait 3%  8.3 s"
    )
    assert "mask 0.50  gated 0.07  test_acc" in epoch_line({**row, "gated": 0.071}, 20, 412.4, 0.031)

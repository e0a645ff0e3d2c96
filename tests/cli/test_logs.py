"""The CLI's logging: plain lines in a pipe, rich on a terminal, user text never read as markup,
and nothing configured by importing the library."""

import io
import logging
import subprocess
import sys

from rich.console import Console
from rich.logging import RichHandler

from zoo_distill.cli.logs import configure_logging, log_handler


def test_a_pipe_gets_plain_message_lines(capsys, restored_logging):
    configure_logging(Console(stderr=True))  # stderr is captured: not a terminal
    logging.getLogger("zoo_distill.training.loop").info("epoch 1/3  loss [bold]0.5[/]")
    logging.getLogger("zoo_distill.runs.run").warning("source [red]x[/] skipped")
    logging.getLogger("some.library").info("not shown: other libraries log warnings only")
    assert capsys.readouterr().err.splitlines() == ["epoch 1/3  loss [bold]0.5[/]", "source [red]x[/] skipped"]


def test_verbose_shows_debug_records(capsys, restored_logging):
    configure_logging(Console(stderr=True), verbose=True)
    logging.getLogger("zoo_distill.plugin.manager").debug("loading plugin a")
    assert capsys.readouterr().err == "loading plugin a\n"


def test_a_terminal_gets_rich_records_shown_literally():
    screen = io.StringIO()
    handler = log_handler(Console(file=screen, force_terminal=True, color_system=None, width=100))
    assert isinstance(handler, RichHandler)
    logger = logging.getLogger("zoo_distill.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("domain [/]digits and runs/[exp1]")  # rich markup would raise or drop these
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert "domain [/]digits and runs/[exp1]" in screen.getvalue()


def test_importing_the_library_configures_no_logging():
    code = (
        "import logging, zoo_distill, zoo_distill.api, zoo_distill.training.loop, zoo_distill.cli.app\n"
        "loggers = [logging.getLogger()] + [l for l in logging.Logger.manager.loggerDict.values()"
        " if isinstance(l, logging.Logger) and l.name.startswith('zoo_distill')]\n"
        "print(sum(len(l.handlers) for l in loggers), logging.getLogger('zoo_distill').level)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "0"]

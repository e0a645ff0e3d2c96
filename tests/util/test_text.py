"""util/text.py and util/strict_json.py: user text printed as written, JSON without NaN."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console
from rich.table import Table

from zoo_distill.util.strict_json import finite_json, json_text
from zoo_distill.util.text import line, literal, styled

HOSTILE = ["[/]", "[red]x", "runs/[exp1]", "[bold]b", "a\\", "[/red]", "[link=file:///etc]x"]


def printed(*renderables) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    for r in renderables:
        console.print(r)
    return console.file.getvalue()


@pytest.mark.parametrize("text", HOSTILE)
def test_text_is_printed_as_written(text):
    table = Table(title=literal(f"title {text}"))
    table.add_column(literal(text))
    table.add_row(literal(text))
    out = printed(literal(text), styled(text, "red"), line(("Error:", "bold red"), " ", text), table)
    assert out.count(text) == 6, out


def test_finite_json_writes_null_for_non_finite_numbers():
    value = {"a": float("nan"), "b": [np.float32("inf"), 1.5], "c": np.array([1.0, np.nan]), "d": (-np.inf,)}
    assert finite_json(value) == {"a": None, "b": [None, 1.5], "c": [1.0, None], "d": [None]}
    text = json_text({**value, "path": __import__("pathlib").Path("x")})
    assert json.loads(text, parse_constant=lambda name: pytest.fail(name))["path"] == "x"

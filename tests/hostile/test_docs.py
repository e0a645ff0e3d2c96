"""docs/reliability.md lists every case of the corpus, as ``python -m tests.hostile.docs`` writes it."""

from __future__ import annotations

from .docs import BEGIN, PAGE, render, rows
from .harness import Case


def test_the_page_matches_the_corpus():
    page = PAGE.read_text(encoding="utf-8")
    assert BEGIN in page, "docs/reliability.md has no corpus section: run python -m tests.hostile.docs"
    assert render() in page, "docs/reliability.md is out of date: run python -m tests.hostile.docs"


def test_every_row_names_a_test_and_says_what_happens():
    from .cases import CASES

    found = [row for section in rows().values() for row in section]
    assert len(found) > len(CASES)  # the CLI cases and the in-process tests
    assert all(row.given and row.does and "::" in row.test and "|" not in row.given + row.does for row in found)
    assert all(isinstance(case, Case) and case.does.startswith("Exit") for case in CASES)

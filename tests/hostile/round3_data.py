"""Round three of the hostile corpus (issue 37): the data cases. Built like cases.py: each case
makes its input in its own folder; CASES joins the corpus (cases.py) and its rows join
docs/reliability.md."""

from __future__ import annotations

from .harness import Case

CASES: list[Case] = []

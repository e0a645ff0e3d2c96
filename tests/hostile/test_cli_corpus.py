"""Every CLI case of the corpus (tests/hostile/cases.py): exit status, no traceback, one Error:
line naming the file, field or option, and nothing the user had changed."""

from __future__ import annotations

import pytest

from .cases import CASES
from .harness import Case, run_case, verify


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli(case: Case, world, launched, tmp_path):
    reason = case.skip() if case.skip else None
    if reason:
        pytest.skip(reason)
    if case.id in launched:
        prepared, before, outcome = launched[case.id].result()
    else:
        prepared, before, outcome = run_case(case, world, tmp_path / "case", in_subprocess=False)
    verify(case, prepared, before, outcome)

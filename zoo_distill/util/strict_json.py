"""Strict JSON: what the toolkit writes or prints parses with any JSON parser.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which are not JSON (RFC 8259) and which
``jq``, JavaScript and strict parsers reject. Every JSON the CLI prints and every JSON file a run
writes (``metrics.json``, ``run.json``) goes through :func:`json_text`.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["finite_json", "json_text"]


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float (numpy's too) replaced by None, for strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # a numpy scalar or array
        return finite_json(value.tolist())
    return value


def json_text(value: Any, indent: int | None = 2) -> str:
    """Strict JSON (RFC 8259: no NaN or Infinity, which JavaScript and jq reject); non-finite numbers
    are written as null, and objects JSON has no type for as their ``str``."""
    return json.dumps(finite_json(value), indent=indent, default=str, allow_nan=False)

"""Stable digests of plain data, used to key caches and kept results."""

from __future__ import annotations

import hashlib
import json

__all__ = ["json_digest"]


def json_digest(obj: object) -> str:
    """A stable sha256 of a JSON-serialisable object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()

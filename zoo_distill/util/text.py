"""Literal text for the terminal: what a user or a plugin wrote is never read as rich markup.

rich parses every ``str`` it prints (table cells, titles, ``console.print``) as markup, so a zoo
domain ``[/]digits`` raised ``MarkupError`` and a run folder ``runs/[exp1]`` printed as ``runs/``.
Everything the CLI shows goes through these helpers instead: user text becomes a ``Text`` (never
parsed), and only our own fixed styles are applied to it.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

__all__ = ["line", "literal", "styled"]


def literal(value: Any) -> Text:
    """``value`` as text, shown exactly as written (``None`` as empty)."""
    return value if isinstance(value, Text) else Text("" if value is None else str(value))


def styled(value: Any, style: str) -> Text:
    """``value`` shown literally in one of our styles (``"red"``, ``"bold"``, ...)."""
    return Text("" if value is None else str(value), style=style)


def line(*parts: Any) -> Text:
    """One line from parts: a plain value (literal), a ``Text``, or ``(value, style)``."""
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append(str(part[0]), style=part[1])
        else:
            out.append(literal(part))
    return out

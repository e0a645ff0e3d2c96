"""The target's class names as text, for sources that read them (zero-shot heads such as CLIP's).

A class is named by its folder (``train/<class>/``), with ``_`` and ``-`` read as spaces, unless the
target root holds ``classes.yaml``, a mapping ``folder: text`` (e.g. ``n01440764: tench, a fish``)
for some or all classes. Only providers that declare ``class_names`` ever see them (docs/plugins.md).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from zoo_distill.data.target import TargetData
from zoo_distill.errors import DataError

__all__ = ["CLASSES_FILE", "MAX_PROMPT_CHARS", "class_prompts"]

CLASSES_FILE = "classes.yaml"
MAX_PROMPT_CHARS = 300
_MAX_FILE_BYTES = 1 << 20


def _text_problem(text: object) -> str | None:
    """Why ``text`` cannot name a class to a text encoder (None if it can)."""
    if not isinstance(text, str):
        return f"must be text, got {type(text).__name__}"
    if not text.strip():
        return "is empty"
    if len(text) > MAX_PROMPT_CHARS:
        return f"is longer than {MAX_PROMPT_CHARS} characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text (a folder name with undecodable bytes?)"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in text):
        return "holds control or invisible characters"
    return None


def _read_mapping(path: Path) -> dict[str, object]:
    import yaml

    if not path.is_file():
        raise DataError(f"{path} is not a regular file")
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise DataError(f"{path} is larger than {_MAX_FILE_BYTES >> 10} KiB")
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(
            f"{path} cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DataError(f"{path} must map class folder names to text (folder: text)")
    return value


def class_prompts(data: TargetData) -> list[tuple[str, str]]:
    """``[(class folder, its text)]`` in label order, checked: every text is printable, bounded text."""
    names = list(data.class_names)
    path = Path(data.train.root).parent / CLASSES_FILE
    given = _read_mapping(path) if path.exists() else {}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise DataError(f"{path}: {', '.join(map(repr, unknown[:3]))} is not a class folder of {data.train.root}")
    out = []
    for name in names:
        text = given[name] if name in given else " ".join(name.replace("_", " ").replace("-", " ").split())
        problem = _text_problem(text)
        if problem:
            if name in given:
                raise DataError(f"{path}: class {name!r}: its text {problem}")
            raise DataError(
                f"class folder {data.train.root / name!s}: its text {problem}; give the class a text in "
                f"{CLASSES_FILE} at the target root"
            )
        out.append((name, str(text)))
    return out

"""Property-based tests of the zoo loader: any file gives a Zoo or a ZooFileError naming the file.

Whatever a user (or a broken editor, or a bad merge) leaves in a zoo file, ``load_zoo`` must
either accept it or raise :class:`ZooFileError` (a ``ZooDistillError``, so the CLI exits 2
without a traceback) whose message names the file. Any other exception type is a bug.
"""

from __future__ import annotations

import itertools
import re
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo_distill.errors import ZooDistillError, ZooFileError
from zoo_distill.plugin.manager import get_registry
from zoo_distill.zoo.file import Zoo, load_zoo

from ..conftest import TINY_CFG, local_entry

SETTINGS = settings(
    max_examples=100,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_counter = itertools.count()


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo-properties")


def load(path, write: str | bytes):
    """load_zoo on the given content; asserts the contract and returns the Zoo or the error."""
    if isinstance(write, bytes):
        path.write_bytes(write)
    else:
        path.write_text(write, encoding="utf-8")
    try:
        zoo = load_zoo(path, get_registry())
    except ZooFileError as exc:
        assert isinstance(exc, ZooDistillError) and exc.exit_code == 2
        assert str(path) in str(exc), f"the message does not name the file: {exc}"
        return exc
    except Exception as exc:
        raise AssertionError(f"load_zoo raised {type(exc).__name__}: {exc!r} on:\n{write!r}") from exc
    assert isinstance(zoo, Zoo) and zoo.path == path
    for entry in zoo:
        assert isinstance(entry.name, str) and isinstance(entry.provider, str)
    return zoo


def fresh(zoo_dir):
    return zoo_dir / f"zoo-{next(_counter)}.yaml"


# --- strategies -----------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["local", "timm", "hf-hub", "sources", "name", "provider", "1", ""]),
)
keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        [
            "name",
            "provider",
            "weights",
            "arch",
            "num_classes",
            "pretrained_cfg",
            "model",
            "repo",
            "revision",
            "model_args",
            "domain",
            "license",
            "description",
        ]
    ),
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)

VALID = [
    local_entry("a", "w/a.safetensors", 4),
    {"name": "b", "provider": "timm", "model": "resnet18.a1_in1k", "domain": "imagenet"},
    {
        "name": "c",
        "provider": "hf-hub",
        "repo": "timm/resnet18.a1_in1k",
        "revision": "main",
        "pretrained_cfg": dict(TINY_CFG),
        "model_args": {"drop_rate": 0.1},
        "license": "apache-2.0",
    },
]


@st.composite
def mutated_entry(draw):
    entry = dict(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "rename", "retype", "add", "nest"]))
        fields = sorted(entry, key=str)
        if op == "add" or not fields:
            entry[draw(keys)] = draw(nested)
            continue
        field = draw(st.sampled_from(fields))
        if op == "drop":
            del entry[field]
        elif op == "rename":
            entry[draw(keys)] = entry.pop(field)
        elif op == "retype":
            entry[field] = draw(nested)
        elif op == "nest" and isinstance(entry[field], dict):
            sub = dict(entry[field])
            sub[draw(keys)] = draw(nested)
            entry[field] = sub
    return entry


@st.composite
def zoo_documents(draw):
    sources = draw(st.lists(st.one_of(mutated_entry(), st.sampled_from(VALID), nested), max_size=4))
    doc = draw(st.sampled_from(["normal", "no-version", "odd-version", "extra", "not-a-list", "bare"]))
    if doc == "bare":
        return sources
    out = {"version": 1, "sources": sources}
    if doc == "no-version":
        del out["version"]
    elif doc == "odd-version":
        out["version"] = draw(scalars)
    elif doc == "extra":
        out[draw(keys)] = draw(nested)
    elif doc == "not-a-list":
        out["sources"] = draw(nested)
    return out


def dump(doc) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


# --- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(text=st.text(max_size=300))
def test_random_text(zoo_dir, text):
    load(fresh(zoo_dir), text)


yaml_alphabet = string.ascii_letters + string.digits + " \n\t:-[]{},'\"#&*!|>?%@`." + "é\u00a0"


@SETTINGS
@given(text=st.text(alphabet=yaml_alphabet, max_size=300))
def test_yaml_looking_text(zoo_dir, text):
    load(fresh(zoo_dir), text)


@SETTINGS
@given(text=st.text(alphabet=yaml_alphabet, max_size=200))
def test_text_after_a_valid_prefix(zoo_dir, text):
    load(fresh(zoo_dir), dump({"version": 1, "sources": VALID[:1]}) + text)


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes(zoo_dir, data):
    load(fresh(zoo_dir), data)


@SETTINGS
@given(doc=nested)
def test_random_nested_documents(zoo_dir, doc):
    load(fresh(zoo_dir), dump(doc))


@SETTINGS
@given(doc=zoo_documents())
def test_mutated_valid_entries(zoo_dir, doc):
    result = load(fresh(zoo_dir), dump(doc))
    if isinstance(result, Zoo):  # what was accepted is what the file says
        listed = [e["name"] for e in doc["sources"]] if isinstance(doc, dict) and doc.get("sources") else []
        assert list(result.entries)[: len(listed)] == listed


@SETTINGS
@given(entries=st.lists(mutated_entry(), min_size=1, max_size=3))
def test_errors_name_the_entry(zoo_dir, entries):
    path = fresh(zoo_dir)
    result = load(path, dump({"version": 1, "sources": entries}))
    if isinstance(result, ZooFileError) and "sources[" in str(result):
        assert f"{path}: sources[" in str(result)
        # ... and, since every entry here is a mapping, the field at fault (or that a name is not a string)
        message = str(result)
        # the name is shown as Python's repr: in double quotes when it contains a single quote
        assert re.search(r"field ('[^']*'|\"[^\"]*\")|field names must be strings", message), (
            f"the message names no field: {message}"
        )


def test_a_field_name_with_a_quote_is_named(zoo_dir):
    """Found by the property above: repr() double-quotes such a name; the message still names it."""
    entry = {**VALID[0], "x'y": 1}
    result = load(fresh(zoo_dir), dump({"version": 1, "sources": [entry]}))
    assert isinstance(result, ZooFileError) and 'field "x\'y"' in str(result)


def test_valid_entries_still_load(zoo_dir):
    zoo = load(fresh(zoo_dir), dump({"version": 1, "sources": VALID}))
    assert isinstance(zoo, Zoo) and list(zoo.entries)[:3] == ["a", "b", "c"]


def test_hostile_but_well_formed_yaml(zoo_dir):
    """Tags, anchors, binary, dates, NUL bytes, a BOM, an alias bomb: errors or a Zoo, quickly."""
    bomb = "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9 if p else ['x'] * 9)}]\n"
        for p, c in zip([""] + list("abcdefgh"), "abcdefghi")
    )
    for text in [
        "sources: !!python/object:os.system {}\n",
        "sources: !!binary aGVsbG8=\n",
        "version: 2001-12-14\nsources: []\n",
        "sources: [\x00]\n",
        "\ufeffsources: []\n",
        "!!set {a, b}\n",
        "{? [a, b] : c}\n",
        bomb + "sources: []\n",
        "sources: [*undefined]\n",
        "version: .nan\nsources: []\n",
        "sources:\n- {name: x, provider: timm, model: m, pretrained_cfg: {1: a}}\n",
    ]:
        load(fresh(zoo_dir), text)


def test_pretrained_cfg_with_mixed_key_types(zoo_dir):
    path = fresh(zoo_dir)
    path.write_text("sources:\n- {name: x, provider: timm, model: m, pretrained_cfg: {1: a, b: 2}}\n")
    with pytest.raises(ZooFileError, match=str(path)):
        load_zoo(path, get_registry())


def test_deeply_nested_yaml(zoo_dir):
    path = fresh(zoo_dir)
    path.write_text("sources: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ZooFileError, match=str(path)):
        load_zoo(path, get_registry())


def test_name_with_trailing_newline_is_refused(zoo_dir):
    path = fresh(zoo_dir)
    path.write_text('sources:\n- {name: "abc\\n", provider: timm, model: m}\n')
    with pytest.raises(ZooFileError, match="field 'name'"):
        load_zoo(path, get_registry())


def test_pretrained_cfg_values_are_checked_on_load(zoo_dir):
    path = fresh(zoo_dir)
    path.write_text("sources:\n- {name: x, provider: timm, model: m, pretrained_cfg: {input_size: foo, mean: 3}}\n")
    with pytest.raises(ZooFileError, match="pretrained_cfg"):
        load_zoo(path, get_registry())

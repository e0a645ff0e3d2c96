"""The hook specs are a public API: pin them, and keep CHANGELOG.md and docs/plugins.md in step.

If a test here fails because you changed ``zoo_distill/plugin/hookspecs.py`` on purpose: bump
``zoo_distill.__version__``, add a CHANGELOG.md entry for it saying what changed for plugin
authors, update PINNED below, and paste the new spec into docs/plugins.md.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pluggy
import pytest

from zoo_distill._version import __version__
from zoo_distill.plugin import hookspecs

ROOT = Path(__file__).resolve().parents[2]
RULE = "any hookspec change needs a version bump and a changelog entry"

#: name -> (parameter names, pluggy spec options), as released in 0.1.0.
PINNED: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
    "register_sources": (("register",), {"firstresult": False, "historic": False}),
    "register_metrics": (("register",), {"firstresult": False, "historic": False}),
    "register_aggregators": (("register",), {"firstresult": False, "historic": False}),
    "register_methods": (("register",), {"firstresult": False, "historic": False}),
    "register_zoo_entries": (("register",), {"firstresult": False, "historic": False}),
}


def _specs() -> dict[str, object]:
    """Every function in hookspecs.py marked with ``@hookspec``."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, marker)}


def _hook_callers():
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm.hook


def test_the_set_of_hooks_is_pinned():
    assert sorted(_specs()) == sorted(PINNED), (
        f"hook specs {sorted(_specs())} differ from the pinned {sorted(PINNED)}: {RULE}"
    )


@pytest.mark.parametrize("name", sorted(PINNED))
def test_parameters_and_options_are_pinned(name):
    params, options = PINNED[name]
    fn = _specs().get(name)
    assert fn is not None, f"hook spec {name!r} is gone: {RULE}"
    signature = inspect.signature(fn)
    assert tuple(signature.parameters) == params, (
        f"hook spec {name!r} now takes {tuple(signature.parameters)}, pinned {params}: {RULE}"
    )
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in signature.parameters.values()), (
        f"hook spec {name!r}: parameter kinds or defaults changed: {RULE}"
    )
    spec = getattr(_hook_callers(), name).spec  # as pluggy itself sees it
    assert tuple(spec.argnames) == params, f"hook spec {name!r}: pluggy sees arguments {spec.argnames}: {RULE}"
    actual = {key: spec.opts.get(key) for key in options}
    assert actual == options, f"hook spec {name!r}: options {actual}, pinned {options}: {RULE}"
    assert spec.opts.get("warn_on_impl") is None, f"hook spec {name!r} now warns on implementation: {RULE}"


def test_changelog_has_an_entry_for_the_current_version():
    changelog = ROOT / "CHANGELOG.md"
    assert changelog.exists(), f"CHANGELOG.md is missing: {RULE}"
    text = changelog.read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(__version__)}\]", text, re.MULTILINE), (
        f"CHANGELOG.md has no '## [{__version__}]' entry for zoo_distill.__version__: {RULE}"
    )
    assert RULE in re.sub(r"[\s>]+", " ", text).lower(), f"CHANGELOG.md should state the rule: {RULE}"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_docs_show_every_spec_verbatim(name):
    """docs/plugins.md quotes each spec's signature and docstring exactly as hookspecs.py declares it."""
    fn = _specs()[name]
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert fn.__doc__ and fn.__doc__ in docs, (
        f"the docstring of hook spec {name!r} is not in docs/plugins.md verbatim; paste the spec from "
        f"zoo_distill/plugin/hookspecs.py into the 'Hook reference' section"
    )
    first_line = next(line for line in inspect.getsource(fn).splitlines() if line.startswith("def "))
    assert first_line in docs, f"docs/plugins.md does not show {first_line!r}"

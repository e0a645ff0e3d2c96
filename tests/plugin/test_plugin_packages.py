"""The third-party plugin path end to end: pip-install the two example plugin packages, drive the CLI.

``plugins/zoo-distill-transrate`` (a metric) and ``plugins/zoo-distill-hub-teachers`` (zoo entries)
are real distributions with their own ``pyproject.toml``. The module fixture installs them in
editable mode into the running environment with pip, exactly as a user would, and always
uninstalls them afterwards (even on failure), so no other test module and no later run sees them.

Why the CLI runs in subprocesses: an editable install is a ``.pth`` file, which Python reads only
at interpreter start, and the plugin registry is cached per process; a fresh ``zoo-distill``
process sees the environment as a user's shell would. Each such process spends most of its time
importing torch and timm, so the independent commands are started together once the packages
are installed, and each test checks the output of its own command.

How they are installed: ``pip install --no-deps -e ... -e ...``. With hatchling and editables
importable in this environment, ``--no-build-isolation`` is added (about 3 s); they are not
project dependencies, so normally pip builds in isolation and fetches the build backend from the
package index (about 10 s for both packages). If the index cannot be reached the module is skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.plugin import manager as plugins

from ..conftest import local_entry, save_tiny_model, write_split, write_zoo

pytestmark = pytest.mark.slow  # end to end: trains students / builds zoos / runs processes

ROOT = Path(__file__).resolve().parents[2]
TRANSRATE = ROOT / "plugins" / "zoo-distill-transrate"
HUB_TEACHERS = ROOT / "plugins" / "zoo-distill-hub-teachers"
# source providers (their end-to-end tests, in process, are test_transformers_plugin.py / test_openclip_plugin.py)
PROVIDER_PLUGINS = (ROOT / "plugins" / "zoo-distill-transformers", ROOT / "plugins" / "zoo-distill-openclip")
DISTRIBUTIONS = (
    "zoo-distill-transrate",
    "zoo-distill-hub-teachers",
    "zoo-distill-transformers",
    "zoo-distill-openclip",
)
HEAVY = ("torch", "timm", "transformers", "open_clip", "onnxruntime")
HUB_NAMES = {
    "hub-resnet18-a1-in1k",
    "hub-mobilenetv3-small-in1k",
    "hub-convnext-atto-in1k",
    "hub-vit-tiny-augreg-in21k",
}
TIMEOUT = 300


def _pip(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)


def _uninstall() -> None:
    _pip("uninstall", "-y", *DISTRIBUTIONS)
    importlib.invalidate_caches()
    plugins._cached = None


def _zoo_distill_cmd() -> list[str]:
    script = Path(sys.executable).with_name("zoo-distill")  # the installed console script
    return [str(script)] if script.exists() else [sys.executable, "-m", "zoo_distill"]


class Run:
    """A command started now and waited for by the test that checks it."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        self._out: tuple[str, str] | None = None

    def wait(self) -> tuple[int, str, str]:
        if self._out is None:
            self._out = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, *self._out

    def json(self):
        code, out, err = self.wait()
        assert code == 0, f"{' '.join(self.cmd)}: exit {code}\nstdout:\n{out[-4000:]}\nstderr:\n{err[-4000:]}"
        return json.loads(out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """This process's environment, offline, with a private feature cache and no plugin filters.

    (The autouse ``_isolated`` fixture is function-scoped and not active yet when module fixtures run.)
    """
    home = tmp_path_factory.mktemp("plugin-packages-home")
    out = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ZOO_DISTILL_ZOO", "ZOO_DISTILL_LOAD_PLUGINS", "ZOO_DISTILL_DISABLE_PLUGINS")
    }
    out.update(ZOO_DISTILL_CACHE=str(home / "zd-cache"), HF_HUB_OFFLINE="1", ZOO_DISTILL_NO_PROGRESS="1")
    return out


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> dict[str, Path]:
    """A tiny target (3 classes x 6 labeled) and a zoo of two tiny local teachers."""
    root = tmp_path_factory.mktemp("plugin-packages-task")
    write_split(root / "target" / "train", 3, 6, seed=1)
    save_tiny_model(root / "weights" / "a.safetensors", num_classes=4, seed=0)
    save_tiny_model(root / "weights" / "b.safetensors", num_classes=0, seed=1)
    zoo = write_zoo(
        root / "zoo.yaml",
        [local_entry("teacher-a", "weights/a.safetensors", 4), local_entry("teacher-b", "weights/b.safetensors", 0)],
    )
    return {"target": root / "target", "zoo": zoo}


@pytest.fixture(scope="module")
def runs(env, task):
    """Install both packages, start every check's command, yield them; always uninstall afterwards."""
    no_isolation = all(importlib.util.find_spec(m) is not None for m in ("hatchling", "editables"))
    args = [
        "install",
        "--no-deps",
        *(["--no-build-isolation"] if no_isolation else []),
        "-e",
        str(TRANSRATE),
        "-e",
        str(HUB_TEACHERS),
        *[a for p in PROVIDER_PLUGINS for a in ("-e", str(p))],
    ]
    started: dict[str, Run] = {}
    try:
        result = _pip(*args)
        if result.returncode != 0:
            log = result.stdout + result.stderr
            if "hatchling" in log and ("No matching distribution" in log or "Could not find a version" in log):
                pytest.skip("the build backend (hatchling) is neither installed nor reachable on the package index")
            pytest.fail(f"pip {' '.join(args)} failed:\n{log}")
        importlib.invalidate_caches()
        zd = _zoo_distill_cmd()
        commands = {
            "plugins": [*zd, "plugins", "--json"],
            "rank": [
                *zd,
                "rank",
                "--target",
                str(task["target"]),
                "--zoo",
                str(task["zoo"]),
                "-m",
                "transrate",
                "-m",
                "knn",
                "--json",
            ],
            "zoo-ls": [*zd, "zoo", "ls", "--zoo", str(task["zoo"]), "--json"],
            "light": [
                sys.executable,
                "-c",
                "import json, sys; from zoo_distill.plugin.manager import get_registry; "
                "r = get_registry(); print(json.dumps({'providers': sorted(r.providers), "
                f"'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))",
            ],
            **{
                f"tests:{p.name}": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(p / "tests")]
                for p in (TRANSRATE, HUB_TEACHERS)
            },
        }
        for name, cmd in commands.items():
            started[name] = Run(cmd, env)
        yield started
    finally:
        for run in started.values():
            run.stop()
        _uninstall()


def test_plugins_json_lists_both_with_version_and_hooks(runs):
    rows = {row["name"]: row for row in runs["plugins"].json()}
    transrate, hub = rows["transrate"], rows["hub_teachers"]
    assert transrate["version"] == hub["version"] == "0.1.0"
    assert not transrate["builtin"] and transrate["distribution"] == "zoo-distill-transrate"
    assert transrate["hooks"] == ["register_metrics"]
    assert transrate["registers"] == {"register_metrics": ["transrate"]} and transrate["error"] is None
    assert not hub["builtin"] and hub["distribution"] == "zoo-distill-hub-teachers"
    assert hub["hooks"] == ["register_zoo_entries"] and hub["error"] is None
    assert set(hub["registers"]["register_zoo_entries"]) == HUB_NAMES


def test_provider_plugins_register_through_entry_points_without_heavy_imports(runs):
    loaded = runs["light"].json()
    assert {"transformers", "open_clip"} <= set(loaded["providers"])
    assert loaded["heavy"] == []  # loading every plugin imports none of torch, transformers, open_clip


def test_rank_uses_the_plugin_metric_and_reports_hub_teachers_unavailable(runs):
    result = runs["rank"].json()
    assert result["primary_metric"] == "transrate" and result["metrics"] == ["transrate", "knn"]
    by_name = {s["name"]: s for s in result["sources"]}
    for name in ("teacher-a", "teacher-b"):
        source = by_name[name]
        assert source["status"] == "ok" and "transrate" not in source["metric_errors"]
        assert isinstance(source["scores"]["transrate"], float) and source["scores"]["transrate"] >= 0.0
    # The plugin's Hub teachers join every zoo; offline and not cached they are reported, not fatal.
    assert HUB_NAMES <= set(by_name)
    for name in HUB_NAMES:
        assert by_name[name]["status"] == "unavailable" and name in by_name[name]["error"]
    assert set(result["weights"]["nearest"]) <= {"teacher-a", "teacher-b"}


def test_zoo_ls_shows_the_contributed_teachers_unavailable_offline(runs):
    rows = {r["name"]: r for r in runs["zoo-ls"].json()}
    assert set(rows) == {"teacher-a", "teacher-b"} | HUB_NAMES
    for name in HUB_NAMES:
        row = rows[name]
        assert row["provider"] == "hf-hub" and row["origin"] == "zoo-distill-hub-teachers"
        assert row["repo"].startswith("timm/") and row["revision"] == "main"
        assert row["available"] is False and row["reason"]
    assert rows["teacher-a"]["available"] is True


@pytest.mark.parametrize("package", [TRANSRATE, HUB_TEACHERS], ids=lambda p: p.name)
def test_the_plugin_packages_own_tests_pass(runs, package):
    code, out, err = runs[f"tests:{package.name}"].wait()
    assert code == 0, out[-4000:] + err[-2000:]
    assert " passed" in out and "skipped" not in out  # installed: their entry-point tests ran too


def test_uninstalling_removes_them(runs):
    """Runs last in this module: after ``pip uninstall`` the CLI no longer lists either plugin.

    Checked in-process with typer's runner: with the dist-info gone (and importlib's caches
    invalidated) entry-point discovery cannot find them, whatever this process's ``sys.path``.
    """
    for run in runs.values():
        run.wait()  # nothing may still be using the packages
    _uninstall()
    installed = {p["name"] for p in json.loads(_pip("list", "--format=json").stdout)}
    assert not installed & set(DISTRIBUTIONS)
    result = CliRunner().invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert not {"transrate", "hub_teachers", "transformers", "open_clip"} & {
        row["name"] for row in json.loads(result.stdout)
    }

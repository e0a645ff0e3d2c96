"""The package's shape: no import cycles, no stage importing a later stage, a CLI that starts light.

Layers follow the data flow (docs/architecture.md). A module may import its own layer and the
layers before it, never one after it; function-level (lazy) imports count too.
"""

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

import zoo_distill

PACKAGE = Path(zoo_distill.__file__).parent

#: Lowest first. ``builtin`` holds hook implementations only; the demo world and the CLI are the edge.
LAYERS = [
    {"errors", "_version", "util"},
    {"plugin", "hookspecs", "interfaces"},
    {"zoo"},
    {"data"},
    {"features"},
    {"ranking"},
    {"training"},
    {"runs"},
    {"api", "builtin"},
    {"synthetic", "zoobench", "example"},
    {"cli", "__main__"},
]
HEAVY = ("torch", "timm", "torchvision", "sklearn", "matplotlib", "onnx", "onnxruntime", "onnxscript")


def _layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    if part == "":
        return len(LAYERS)  # the package __init__: the public names, loaded lazily
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"{module}: not in any layer; add its folder to LAYERS in {__file__}")


@functools.cache
def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str, top_level_only: bool) -> set[str]:
    """The zoo_distill modules ``module`` imports (at module level only, if asked; never under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    nodes = [n for n in tree.body if not isinstance(n, ast.If)] if top_level_only else list(ast.walk(tree))
    return {
        name
        for node in nodes
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in _imports_of_node(node, module, path)
    }


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_only(path: Path) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks (imports there never run)."""
    lines = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines |= set(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def test_no_module_imports_a_later_stage():
    modules = _modules()
    upward = []
    for module, path in modules.items():
        skip = _type_checking_only(path)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
                continue
            for name in _imports_of_node(node, module, path):
                target = _resolve(name, modules)
                if target and target != module and _layer_of(target) > _layer_of(module):
                    upward.append(f"{module} (layer {_layer_of(module)}) imports {target} (layer {_layer_of(target)})")
    assert not upward, "\n".join(sorted(set(upward)))


def _imports_of_node(node: ast.AST, module: str, path: Path) -> set[str]:
    """``from pkg import mod`` depends on ``pkg.mod`` when that is a module, else on ``pkg`` itself."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.startswith("zoo_distill")}
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
    if not base.startswith("zoo_distill"):
        return set()
    modules = _modules()
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}


def test_no_import_cycles_at_module_level():
    modules = _modules()
    graph = {
        m: {t for n in _imports(p, m, top_level_only=True) if (t := _resolve(n, modules)) and t != m}
        for m, p in modules.items()
    }
    # a package's __init__ is imported before its submodules: importing a submodule is not a cycle through it
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [node, nxt]))
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


@pytest.fixture(scope="module")
def light_env(tmp_path_factory):
    """A zoo and a cache folder; one `zoo ls` first writes the cached list of timm architectures
    (the only time listing a zoo may import timm)."""
    root = tmp_path_factory.mktemp("light")
    zoo = root / "zoo.yaml"
    zoo.write_text(
        "version: 1\nsources:\n  - name: a\n    provider: local\n    weights: a.safetensors\n"
        "    arch: resnet18\n    num_classes: 0\n"
    )
    env = {
        "ZOO_DISTILL_CACHE": str(root / "cache"),
        "ZOO_DISTILL_ZOO": str(zoo),
        "HF_HUB_OFFLINE": "1",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run([sys.executable, "-m", "zoo_distill", "zoo", "ls"], env=env, capture_output=True, timeout=300)
    assert list((root / "cache").glob("timm-architectures-*.txt")), "zoo ls did not cache timm's names"
    return env


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["--version"],
        ["plugins"],
        ["metrics"],
        ["zoo", "ls"],
        ["cache", "ls"],
        ["run", "--help"],
        ["rank", "--help"],
    ],
)
def test_light_commands_import_no_heavy_package(command, light_env):
    """``--help``, ``--version``, ``plugins``, ``metrics``, ``zoo ls`` and ``cache ls`` answer without torch,
    timm, torchvision, scikit-learn or matplotlib (checked through sys.modules, not a timing)."""
    code = (
        "import sys\nfrom zoo_distill.cli import app\n"
        f"try:\n    app({command!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=light_env, timeout=120)
    heavy = [line for line in out.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY="], out.stdout[-2000:] + out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr[-2000:]


def test_public_api_names_resolve():
    assert set(zoo_distill.__all__) == {"__version__", *zoo_distill._EXPORTS}
    for name in zoo_distill.__all__:
        assert getattr(zoo_distill, name) is not None, name


def test_every_module_says_what_it_exports():
    """``__all__`` on every module (the rest is private), and every name in it exists."""
    import importlib

    missing, unknown = [], []
    for module in _modules():
        if module.endswith(("__main__", "_version")) or module.count(".") == 0:
            continue
        mod = importlib.import_module(module)
        if not hasattr(mod, "__all__"):
            if _modules()[module].name != "__init__.py":  # a package's __init__ may just name the folder
                missing.append(module)
            continue
        unknown += [f"{module}.{name}" for name in mod.__all__ if not hasattr(mod, name)]
    assert not unknown, unknown
    assert not missing, missing

"""A `rank` whose features are all cached answers without torch: the cost a user pays when they
rank the same zoo again with another metric (the CLI start-up goal of docs/benchmarks.md)."""

import json
import subprocess
import sys

from ..conftest import local_entry, save_tiny_model, write_split, write_zoo

HEAVY = ("torch", "timm", "torchvision")


def _rank(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import sys\nfrom zoo_distill.cli import app\n"
        f"try:\n    app({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_a_cached_rank_loads_no_torch(tmp_path):
    write_split(tmp_path / "t" / "train", 3, 4, seed=1)
    save_tiny_model(tmp_path / "w" / "a.safetensors", seed=0)
    save_tiny_model(tmp_path / "w" / "b.safetensors", seed=1)
    zoo = write_zoo(tmp_path / "zoo.yaml", [local_entry("a", "w/a.safetensors"), local_entry("b", "w/b.safetensors")])
    env = {
        "ZOO_DISTILL_CACHE": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "ZOO_DISTILL_NO_PROGRESS": "1",
    }
    args = ["rank", "-t", str(tmp_path / "t"), "--zoo", str(zoo), "-m", "knn", "--json"]
    first = _rank(args, env)
    assert "HEAVY=torch" in first.stderr, first.stderr[-2000:]  # the first one computes the features
    second = _rank(args + ["-m", "leep"], env)  # another metric: new scores, cached features
    assert second.stderr.rstrip().splitlines()[-1] == "HEAVY=", second.stderr[-2000:]
    out = json.loads(second.stdout)
    assert {s["name"] for s in out["sources"] if s["status"] == "ok"} == {"a", "b"}
    assert all(s["cached"] for s in out["sources"])
    knn = {s["name"]: s["scores"]["knn"] for s in json.loads(first.stdout)["sources"]}
    assert knn == {s["name"]: s["scores"]["knn"] for s in out["sources"]}
    assert all(isinstance(s["scores"]["leep"], float) for s in out["sources"])

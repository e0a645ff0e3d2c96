"""Wall time of the CLI's light commands and of a cached `rank` on the demo zoo.

    python -m benchmarks.bench_cli            # median of 5 runs per command; results in benchmarks/results/cli/

Goals (issue: "a CLI that answers in half a second"): `zoo-distill --help`, `plugins` and `zoo ls` <= 0.5 s,
a cached `rank` of the demo zoo <= 2 s, also with the source plugins installed (`--with-plugins` installs
plugins/zoo-distill-transformers and plugins/zoo-distill-openclip for the run, then uninstalls them). Every command runs as a new process, the way a user runs it,
so interpreter start-up and imports count. The demo zoo (zoobench mini) is built first if missing
(`zoo-distill demo build`), and `rank` runs once before timing so its features and scores are cached.
Run it on an idle machine: a figure taken under load is not a figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.zoobench import ZoobenchSettings, build_zoobench
from zoo_distill.zoobench.demo import DEMO_TARGET, default_root

GOALS = {"--help": 0.5, "plugins": 0.5, "zoo ls": 0.5, "rank (cached)": 2.0}


def zoo_distill() -> list[str]:
    exe = shutil.which("zoo-distill")
    return [exe] if exe else [sys.executable, "-m", "zoo_distill"]


def median_wall(argv: list[str], repeats: int, env: dict[str, str]) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-500:]}")
    return statistics.median(times), times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/cli"))
    p.add_argument(
        "--with-plugins",
        action="store_true",
        help="Time the commands with the transformers and "
        "open_clip provider plugins installed (editable, uninstalled afterwards).",
    )
    args = p.parse_args()
    if args.with_plugins:
        plugins = [
            str(Path(__file__).resolve().parents[1] / "plugins" / name)
            for name in ("zoo-distill-transformers", "zoo-distill-openclip")
        ]
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        import importlib.util

        local_backend = all(importlib.util.find_spec(m) is not None for m in ("hatchling", "editables"))
        subprocess.run(
            [
                *pip,
                "install",
                "--no-deps",
                *(["--no-build-isolation"] if local_backend else []),
                *[a for path in plugins for a in ("-e", path)],
            ],
            check=True,
        )
        try:
            return measure(args, "with the transformers and open_clip plugins")
        finally:
            subprocess.run([*pip, "uninstall", "-y", "zoo-distill-transformers", "zoo-distill-openclip"], check=True)
    return measure(args, "built-in plugins only")


def measure(args: argparse.Namespace, plugins: str) -> int:
    env = {**os.environ, "ZOO_DISTILL_NO_PROGRESS": "1"}
    root = default_root("mini")
    settings = ZoobenchSettings.mini()
    build = build_zoobench(root, settings)  # reused when already built
    splits = build.targets[DEMO_TARGET]
    cli = zoo_distill()
    zoo = build.zoo
    rank = cli + [
        "rank",
        "--zoo",
        str(zoo),
        "--labeled",
        splits.train[f"{settings.shots[0]}shot-s0"],
        "--cache-dir",
        str(root / "cache"),
        "-m",
        "knn",
    ]
    subprocess.run(rank, env=env, check=True, stdout=subprocess.DEVNULL)  # fills the cache
    commands = {
        "--help": cli + ["--help"],
        "--version": cli + ["--version"],
        "plugins": cli + ["plugins"],
        "metrics": cli + ["metrics"],
        "zoo ls": cli + ["zoo", "ls", "--zoo", str(zoo)],
        "cache ls": cli + ["cache", "ls", "--cache-dir", str(root / "cache")],
        "run --help": cli + ["run", "--help"],
        "rank (cached)": rank,
    }
    rows = {}
    for name, argv in commands.items():
        median, times = median_wall(argv, args.repeats, env)
        rows[name] = {"median_s": median, "runs_s": times, "goal_s": GOALS.get(name)}
        goal = f" (goal <= {GOALS[name]} s: {'met' if median <= GOALS[name] else 'MISSED'})" if name in GOALS else ""
        print(f"{name:16s} {median:6.2f} s{goal}", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    args.out = args.out / "with-plugins" if "transformers" in plugins else args.out
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        args.out / "summary.json",
        {
            "repeats": args.repeats,
            "commands": rows,
            "load_average_1min": load,
            "plugins": plugins,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        },
    )
    lines = ["| command | median wall (s) | goal |", "|---|---:|---|"]
    lines += [
        f"| `{n}` | {r['median_s']:.2f} | {'≤ ' + str(r['goal_s']) + ' s' if r['goal_s'] else ''} |"
        for n, r in rows.items()
    ]
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

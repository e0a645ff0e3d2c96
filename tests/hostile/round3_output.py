"""Round three of the hostile corpus (issue 37): the output cases. Built like cases.py: each case
makes its input in its own folder; CASES joins the corpus (cases.py) and its rows join
docs/reliability.md.

Three root causes: user text printed as rich markup, plugin results taken on trust (and JSON with
NaN in it), and files read without asking what they are (a FIFO hung ``zoo ls``). A plugin is made
for a case as a module plus a ``*.dist-info`` folder in the case's own ``site/``: a subprocess finds
it through ``PYTHONPATH`` like an installed one, and in process it is loaded into the registry the
CLI uses (``load_plugins(extra=...)``), so both ways run the same plugin.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
from pathlib import Path

from ..conftest import local_entry, write_zoo
from .harness import BUDGET, S_LOST, S_MESSAGES, S_TRACE, Case, Outcome, Prepared, World

PLUGIN = "hostile"  # the entry-point name of every case's plugin, named in its messages
MARKUP = ("[/]", "[red]x")  # a closing tag with nothing open (MarkupError) and a style that swallows text


def _fail(message: str) -> None:
    raise AssertionError(message)


def squeezed(text: str) -> str:
    """``text`` without whitespace: a table may wrap a long title or path over lines."""
    return "".join(text.split())


def shows(*needles: str, stream: str = "output"):
    """A check that every needle is printed literally (whitespace aside)."""

    def check(outcome: Outcome) -> None:
        printed = squeezed(getattr(outcome, stream))
        for needle in needles:
            assert squeezed(needle) in printed, f"{needle!r} is not printed as written:\n{outcome.output[-3000:]}"

    return check


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as RFC 8259 (and jq, and JavaScript) do."""

    def refuse(name: str):
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def markup_zoo(world: World, d: Path) -> Path:
    """The world's two teachers, with markup in their domains and descriptions."""
    weights = world.root / "weights"
    return write_zoo(
        d / "zoo.yaml",
        [
            local_entry("teacher-a", str(weights / "a.safetensors"), 4, domain="[/]digits", description="[red]x a"),
            local_entry("teacher-b", str(weights / "b.safetensors"), 0, domain="[red]x", description="[/] b"),
        ],
    )


def markup_run(world: World, d: Path, second: str = "[bold]b") -> tuple[Path, Path]:
    """A copy of the finished run whose classes are named ``[red]star`` and ``second``, and a target
    whose test class folders are ``[red]star`` and ``[bold]b`` (a folder name cannot hold '/')."""
    run = Path(shutil.copytree(world.run, d / "run"))
    config = json.loads((run / "config.json").read_text())
    config["label_names"] = ["[red]star", second]
    (run / "config.json").write_text(json.dumps(config))
    target = d / "t[red]x"
    shutil.copytree(world.target / "test" / "class_0", target / "test" / "[red]star")
    shutil.copytree(world.target / "test" / "class_1", target / "test" / "[bold]b")
    return run, target


# --- user text is never markup -------------------------------------------------------------------


def _zoo_ls_markup(world: World, d: Path) -> Prepared:
    zoo = markup_zoo(world, d)
    return Prepared(["zoo", "ls", "--zoo", zoo], check=shows("[/]digits", "[red]x", str(zoo)))


def _zoo_ls_markup_path(world: World, d: Path) -> Prepared:
    folder = d / "z[" / "]oo[red]x"
    folder.mkdir(parents=True)
    zoo = markup_zoo(world, folder)
    return Prepared(["zoo", "ls", "--zoo", zoo], check=shows(str(zoo)))


def _rank_markup(world: World, d: Path) -> Prepared:
    zoo = markup_zoo(world, d)
    return Prepared(
        ["rank", "-t", world.target, "--zoo", zoo, "-m", "knn", "-m", "leep"], check=shows("[/]digits", "[red]x")
    )


def _rank_json_markup(world: World, d: Path) -> Prepared:
    zoo = markup_zoo(world, d)

    def check(outcome: Outcome) -> None:
        result = strict_json(outcome.stdout)
        assert {s["domain"] for s in result["sources"]} == {"[/]digits", "[red]x"}

    return Prepared(["rank", "-t", world.target, "--zoo", zoo, "-m", "knn", "--json"], check=check)


def _run_out_markup(world: World, d: Path) -> Prepared:
    out = Path("runs") / "odd[" / "]name"
    zoo = markup_zoo(world, d)

    def check(outcome: Outcome) -> None:
        shows(f"run directory: {out}", "teacher-a")(outcome)
        assert (d / out / "student.safetensors").is_file()
        strict_json((d / out / "metrics.json").read_text())
        strict_json((d / out / "run.json").read_text())

    return Prepared(
        ["run", "-t", world.target, "--zoo", zoo, *BUDGET, "--method-opt", "views=1", "--out", out], check=check, cwd=d
    )


def _baseline_out_brackets(world: World, d: Path) -> Prepared:
    out = Path("runs") / "[exp1]"
    return Prepared(
        ["baseline", "finetune", "-t", world.target, *BUDGET, "--out", out], cwd=d, check=shows(f"run directory: {out}")
    )


def _baseline_json(world: World, d: Path) -> Prepared:
    out = d / "runs" / "[red]x"

    def check(outcome: Outcome) -> None:
        assert strict_json(outcome.stdout)["method"] == "finetune"
        strict_json((out / "metrics.json").read_text())

    return Prepared(["baseline", "finetune", "-t", world.target, *BUDGET, "--out", out, "--json"], check=check)


def _mathtext_target(world: World, d: Path) -> Prepared:
    target = Path(shutil.copytree(world.target, d / "t$\\undefinedcommand{$x"))  # the curves' title
    out = d / "out"

    def check(outcome: Outcome) -> None:
        assert (out / "curves.png").is_file() and (out / "metrics.json").is_file()

    return Prepared(["baseline", "finetune", "-t", target, *BUDGET, "--out", out], check=check)


def _eval_markup(world: World, d: Path) -> Prepared:
    run, target = markup_run(world, d)
    return Prepared(["eval", run, "--data", target], check=shows("[red]star", "[bold]b", str(run)), keep=(run,))


def _eval_json_markup(world: World, d: Path) -> Prepared:
    run, target = markup_run(world, d)

    def check(outcome: Outcome) -> None:
        assert set(strict_json(outcome.stdout)["per_class_accuracy"]) == {"[red]star", "[bold]b"}

    return Prepared(["eval", run, "--data", target, "--json"], check=check)


def _predict_markup(world: World, d: Path) -> Prepared:
    run, target = markup_run(world, d, second="[/bold]b")
    image = target / "test" / "[red]star" / "000.png"
    return Prepared(["predict", run, image, "--top", "2"], check=shows("[red]star", "[/bold]b", str(image)))


def _cache_ls_markup(world: World, d: Path) -> Prepared:
    cache = d / "c[" / "]ache[red]x"
    (cache / "features").mkdir(parents=True)
    return Prepared(["cache", "ls", "--cache-dir", cache], check=shows(str(cache / "features")))


def _error_names_markup_path(command: str):
    def prepare(world: World, d: Path) -> Prepared:
        missing = d / "no[" / "]such[red]x"
        args = {
            "zoo": ["zoo", "ls", "--zoo", missing / "zoo.yaml"],
            "rank": ["rank", "-t", missing, "--zoo", world.zoo],
            "eval": ["eval", missing, "--data", world.target],
            "predict": ["predict", world.run, missing / "img.png"],
        }[command]
        return Prepared(args, needles=(str(missing),))

    return prepare


MARKUP_CASES = [
    Case(
        "markup-domain-zoo-ls",
        S_TRACE,
        "`zoo ls` on a zoo whose domains are `[/]digits` and `[red]x`",
        "Exit 0; the domains are shown as written (it was a MarkupError traceback).",
        _zoo_ls_markup,
        code=0,
        subprocess=True,
    ),
    Case(
        "markup-zoo-path-zoo-ls",
        S_TRACE,
        "`zoo ls --zoo 'z[/]oo[red]x/zoo.yaml'`",
        "Exit 0; the path is shown as written in the title.",
        _zoo_ls_markup_path,
        code=0,
    ),
    Case(
        "markup-domain-rank",
        S_TRACE,
        "`rank` on a zoo whose domains are `[/]digits` and `[red]x`",
        "Exit 0; the ranking table shows the domains as written (it was a MarkupError traceback).",
        _rank_markup,
        code=0,
    ),
    Case(
        "markup-domain-rank-json",
        S_TRACE,
        "`rank --json` on the same zoo",
        "Exit 0; strict JSON, the domains as written.",
        _rank_json_markup,
        code=0,
    ),
    Case(
        "markup-out-run",
        S_TRACE,
        "`run --out 'runs/odd[/]name'` (a zoo with markup domains)",
        'Exit 0: "run directory: runs/odd[/]name" (the run was written, then a MarkupError exited 1); '
        "metrics.json and run.json are strict JSON.",
        _run_out_markup,
        code=0,
        subprocess=True,
    ),
    Case(
        "markup-out-baseline",
        S_LOST,
        "`baseline finetune --out 'runs/[exp1]'`",
        'Exit 0: "run directory: runs/[exp1]" (it printed "runs/").',
        _baseline_out_brackets,
        code=0,
    ),
    Case(
        "markup-out-baseline-json",
        S_TRACE,
        "`baseline finetune --out 'runs/[red]x' --json`",
        "Exit 0; stdout and metrics.json are strict JSON.",
        _baseline_json,
        code=0,
    ),
    Case(
        "mathtext-target-name",
        S_TRACE,
        "a target folder named `t$\\undefinedcommand{$x` (matplotlib mathtext)",
        "Exit 0; the curves' title shows the name as written (a parse error after the run was written).",
        _mathtext_target,
        code=0,
    ),
    Case(
        "markup-class-eval",
        S_LOST,
        "`eval` of a student whose classes are `[red]star` and `[bold]b`",
        'Exit 0; the per-class table names them as written (it showed "star").',
        _eval_markup,
        code=0,
    ),
    Case(
        "markup-class-eval-json",
        S_LOST,
        "`eval --json` of the same student",
        "Exit 0; strict JSON naming both classes.",
        _eval_json_markup,
        code=0,
    ),
    Case(
        "markup-class-predict",
        S_LOST,
        "`predict --top 2` with classes `[red]star` and `[/bold]b`, on an image under `t[red]x/`",
        "Exit 0; classes and image path shown as written.",
        _predict_markup,
        code=0,
    ),
    Case(
        "markup-cache-dir-ls",
        S_TRACE,
        "`cache ls --cache-dir 'c[/]ache[red]x'`",
        "Exit 0; the folder is shown as written.",
        _cache_ls_markup,
        code=0,
    ),
    *[
        Case(
            f"markup-error-{command}",
            S_TRACE,
            f"`{command}` naming a missing path `no[/]such[red]x`",
            "Exit 2; the Error: line names the path as written (escaped once, in one place).",
            _error_names_markup_path(command),
        )
        for command in ("zoo", "rank", "eval", "predict")
    ],
]


# --- plugin results are checked where they come back ---------------------------------------------


PLUGIN_SOURCE = """
import math
import numpy as np
from zoo_distill.plugin import Aggregator, Metric, hookimpl


def weights(scores, **options):
    return {weights}


def metric(features, labels, source_logits=None):
    return {score}


@hookimpl
def register_aggregators(register):
    register(Aggregator("hostile", weights, "a plugin's aggregator that returns what the case says"))


@hookimpl
def register_metrics(register):
    register(Metric("hostile-m", metric, needs=("features",), reference="a hostile case"))
"""


def install_plugin(d: Path, weights: str = "dict.fromkeys(scores, 1 / len(scores))", score: str = "0.5") -> dict:
    """A plugin named ``hostile`` in ``d/site``: the env a subprocess needs; loaded in process too."""
    from zoo_distill.plugin import manager

    site = d / "site"
    module = f"zd_hostile_{abs(hash(str(d))) % 10**8}"
    (site / f"{module}-0.1.dist-info").mkdir(parents=True)
    (site / f"{module}-0.1.dist-info" / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (site / f"{module}-0.1.dist-info" / "entry_points.txt").write_text(f"[zoo_distill]\n{PLUGIN} = {module}\n")
    (site / f"{module}.py").write_text(PLUGIN_SOURCE.replace("{weights}", weights).replace("{score}", score))
    spec = importlib.util.spec_from_file_location(module, site / f"{module}.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    manager._cached = manager.load_plugins(extra=[(PLUGIN, plugin)])  # what the in-process CLI uses
    paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), "ZOO_DISTILL_LOAD_PLUGINS": module}


def no_student(out: Path):
    def check(outcome: Outcome) -> None:
        assert not (out / "student.safetensors").exists(), "a student was distilled from refused weights"

    return check


def _run_with(weights: str, needles: tuple[str, ...], *extra: str):
    def prepare(world: World, d: Path) -> Prepared:
        env = install_plugin(d, weights=weights)
        out = d / "out"
        return Prepared(
            [
                "run",
                "-t",
                world.target,
                "--zoo",
                world.zoo,
                *BUDGET,
                "--method-opt",
                "views=1",
                "-a",
                PLUGIN,
                "-m",
                "knn",
                *extra,
                "--out",
                out,
            ],
            needles=(f"plugin {PLUGIN!r}", *needles),
            env=env,
            check=no_student(out),
        )

    return prepare


def _rank_with(weights: str, needles: tuple[str, ...], as_json: bool = False):
    def prepare(world: World, d: Path) -> Prepared:
        env = install_plugin(d, weights=weights)

        def check(outcome: Outcome) -> None:
            assert f"plugin {PLUGIN!r}" in outcome.stderr, outcome.stderr
            if as_json:
                result = strict_json(outcome.stdout)
                assert PLUGIN not in result["weights"] and PLUGIN in result["weight_errors"]
                assert abs(sum(result["weights"]["weighted"].values()) - 1) < 1e-9  # the others stand
            else:
                assert "failed" in outcome.stdout and "α weighted" in outcome.stdout

        return Prepared(
            ["rank", "-t", world.target, "--zoo", world.zoo, "-m", "knn", *(["--json"] * as_json)],
            needles=needles,
            env=env,
            check=check,
        )

    return prepare


def _metric_returns(score: str, needle: str):
    def prepare(world: World, d: Path) -> Prepared:
        env = install_plugin(d, score=score)

        def check(outcome: Outcome) -> None:
            result = strict_json(outcome.stdout)
            for source in result["sources"]:
                assert source["scores"]["hostile-m"] is None, source
                error = source["metric_errors"]["hostile-m"]
                assert f"plugin {PLUGIN!r}" in error and needle in error, error

        return Prepared(
            ["rank", "-t", world.target, "--zoo", world.zoo, "-m", "knn", "-m", "hostile-m", "--json"],
            env=env,
            check=check,
        )

    return prepare


def _metric_numpy_ok(world: World, d: Path) -> Prepared:
    env = install_plugin(d, score="np.float32(0.25)")

    def check(outcome: Outcome) -> None:
        assert all(s["scores"]["hostile-m"] == 0.25 for s in strict_json(outcome.stdout)["sources"])

    return Prepared(["rank", "-t", world.target, "--zoo", world.zoo, "-m", "hostile-m", "--json"], env=env, check=check)


PLUGIN_CASES = [
    Case(
        "agg-weight-on-unranked-source",
        S_LOST,
        "`run -a X -s teacher-a` where plugin X puts all weight on teacher-b (excluded, never ranked)",
        "Exit 2: \"aggregator 'hostile' of plugin 'hostile': returned a "
        "weight for 'teacher-b', which is not one of the ranked sources\"; no student (it distilled teacher-b, "
        "exit 0).",
        _run_with("{'teacher-b': 1.0}", ("teacher-b", "not one of the ranked sources"), "-s", "teacher-a"),
        subprocess=True,
    ),
    Case(
        "agg-extra-source",
        S_LOST,
        "an aggregator returning the ranked sources and one more (`ghost`: 0.0)",
        "Exit 2 naming the plugin and 'ghost'.",
        _run_with("{**dict.fromkeys(scores, 1 / len(scores)), 'ghost': 0.0}", ("'ghost'",)),
    ),
    Case(
        "agg-negative-weight",
        S_LOST,
        "an aggregator returning weights 1.5 and -0.5",
        "Exit 2 naming the plugin, the source and -0.5 (the negative weight was dropped silently).",
        _run_with("dict(zip(scores, [1.5, -0.5]))", ("-0.5", ">= 0")),
    ),
    Case(
        "agg-nan-weight",
        S_LOST,
        "an aggregator returning NaN for one source",
        "Exit 2 naming the plugin, the source and nan.",
        _run_with("dict(zip(scores, [float('nan'), 1.0]))", ("nan", "finite")),
    ),
    Case(
        "agg-sum-two",
        S_LOST,
        "an aggregator whose weights sum to 2",
        'Exit 2: "... weights sum to 2, not 1".',
        _run_with("dict.fromkeys(scores, 1.0)", ("sum to 2",)),
    ),
    Case(
        "agg-raises-keyerror",
        S_TRACE,
        "`run -a X` where plugin X raises KeyError",
        "Exit 2, one line naming the plugin and the KeyError (only ValueError was caught).",
        _run_with("{}['no such key']", ("KeyError",)),
    ),
    Case(
        "agg-list-rank",
        S_TRACE,
        "`rank` with a plugin aggregator that returns a list",
        "Exit 0: the table is printed, that aggregator's column says failed and a warning names the plugin "
        "(it crashed every rank table).",
        _rank_with("[0.5, 0.5]", ()),
        code=0,
    ),
    Case(
        "agg-none-rank",
        S_TRACE,
        "`rank` with a plugin aggregator that returns None",
        "Exit 0, the same.",
        _rank_with("None", ()),
        code=0,
    ),
    Case(
        "agg-text-rank-json",
        S_LOST,
        "`rank --json` with a plugin aggregator that returns text",
        "Exit 0; strict JSON: its weights are left out, its error kept in `weight_errors`, the others stand.",
        _rank_with("'all of it'", (), as_json=True),
        code=0,
    ),
    Case(
        "agg-nan-rank-json",
        S_LOST,
        "`rank --json` with a plugin aggregator that returns NaN weights",
        "Exit 0; strict JSON (it printed NaN, which is not JSON); its weights are left out.",
        _rank_with("dict.fromkeys(scores, float('nan'))", (), as_json=True),
        code=0,
        subprocess=True,
    ),
    Case(
        "metric-returns-text",
        S_LOST,
        'a plugin metric returning `"0.5"`',
        "Exit 0; the score is null and the error names the plugin (text was read as 0.5).",
        _metric_returns("'0.5'", "not a real number"),
        code=0,
    ),
    Case(
        "metric-returns-bool",
        S_LOST,
        "a plugin metric returning `True`",
        "Exit 0; null, naming the plugin (True was read as 1.0).",
        _metric_returns("True", "not a real number"),
        code=0,
    ),
    Case(
        "metric-returns-none",
        S_TRACE,
        "a plugin metric returning `None`",
        "Exit 0; null, naming the plugin.",
        _metric_returns("None", "not a real number"),
        code=0,
    ),
    Case(
        "metric-returns-numpy-nan",
        S_LOST,
        "a plugin metric returning `numpy.float32(nan)`",
        "Exit 0; null, naming the plugin; strict JSON.",
        _metric_returns("np.float32('nan')", "non-finite"),
        code=0,
    ),
    Case(
        "metric-returns-inf",
        S_LOST,
        "a plugin metric returning `math.inf`",
        "Exit 0; null, naming the plugin; strict JSON.",
        _metric_returns("math.inf", "non-finite"),
        code=0,
    ),
    Case(
        "metric-returns-list",
        S_TRACE,
        "a plugin metric returning `[0.5]`",
        "Exit 0; null, naming the plugin.",
        _metric_returns("[0.5]", "not a real number"),
        code=0,
    ),
    Case(
        "metric-returns-numpy-float",
        S_LOST,
        "a plugin metric returning `numpy.float32(0.25)`",
        "Exit 0: a real number, kept (0.25).",
        _metric_numpy_ok,
        code=0,
    ),
]


# --- files read only when they are regular; cached helper files checked ----------------------------


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _zoo_fifo(command: str):
    def prepare(world: World, d: Path) -> Prepared:
        zoo = _fifo(d / "zoo.yaml")
        args = ["zoo", "ls", "--zoo", zoo] if command == "zoo ls" else ["rank", "-t", world.target, "--zoo", zoo]
        return Prepared(args, needles=(str(zoo), "FIFO", "not a regular file"))

    return prepare


def _student_init(change: str):
    def prepare(world: World, d: Path) -> Prepared:
        init = Path(shutil.copytree(world.run, d / "init"))
        config = init / "config.json"
        if change == "fifo":
            config.unlink()
            _fifo(config)
            needles = (str(config), "FIFO")
        else:
            data = json.loads(config.read_text())
            key, value = {"std": ("std", [0, 0, 0]), "input-size": ("input_size", "foo")}[change]
            data["pretrained_cfg"][key] = value
            config.write_text(json.dumps(data))
            needles = (str(config), f"pretrained_cfg.{key}")
        out = d / "out"
        budget = [str(init) if a == "scratch" else a for a in BUDGET]  # --student-init FOLDER
        args = ["baseline", "finetune", "-t", world.target, *budget, "--out", out]
        return Prepared(args, needles=("--student-init", *needles), absent=(out,), keep=(init,))

    return prepare


def _truncated_architectures(world: World, d: Path) -> Prepared:
    cache = d / "cache"
    cache.mkdir()
    names = cache / f"timm-architectures-{importlib.metadata.version('timm')}.txt"
    names.write_text("aimv2_1b_patch14_224\naimv2_huge\n")  # the first lines only: cut off while written

    def check(outcome: Outcome) -> None:
        rows = strict_json(outcome.stdout)
        assert all(r["available"] for r in rows), rows
        assert "test_convnext" in names.read_text().split(), "the damaged list was not rebuilt"

    return Prepared(["zoo", "ls", "--zoo", world.zoo, "--json"], check=check)


def _cache_clear_helpers(world: World, d: Path) -> Prepared:
    cache = d / "zd-cache"
    cache.mkdir()
    files = [
        cache / f"timm-architectures-{importlib.metadata.version('timm')}.txt",
        cache / "timm-architectures-0.9.0.txt",
        cache / "timm-data-configs-1.0.0.json",
    ]
    for path in files:
        path.write_text("damaged")

    def check(outcome: Outcome) -> None:
        assert not any(p.exists() for p in files), "cache clear left the cached timm helper files"
        assert "removed 0 file(s)" in outcome.stdout and "(and 3 cached timm helper file(s))" in outcome.stdout

    return Prepared(["cache", "clear", "--yes", "--cache-dir", cache], check=check)


def _zoo_entry(entry: dict, command: tuple[str, ...], needles: tuple[str, ...]):
    def prepare(world: World, d: Path) -> Prepared:
        zoo = write_zoo(d / "zoo.yaml", [entry])
        return Prepared([*command, "--zoo", zoo], needles=needles)

    return prepare


def _load_unknown_plugin(world: World, d: Path) -> Prepared:
    return Prepared(
        ["plugins"],
        env={"ZOO_DISTILL_LOAD_PLUGINS": "zoo-distill-not-installed"},
        needles=("zoo-distill-not-installed", "not an installed zoo-distill plugin"),
    )


BAD_REPO = {"name": "bad-repo", "provider": "hf-hub", "repo": "not a//valid repo"}
BAD_TAG = {"name": "bad-tag", "provider": "timm", "model": "resnet18.no_such_tag"}

FILE_CASES = [
    Case(
        "zoo-fifo-zoo-ls",
        S_TRACE,
        "`zoo ls --zoo FIFO` (a named pipe with no writer)",
        'Exit 2 at once: "zoo file ... is a FIFO (named pipe), not a regular file" (it hung for ever).',
        _zoo_fifo("zoo ls"),
        subprocess=True,
    ),
    Case("zoo-fifo-rank", S_TRACE, "`rank --zoo FIFO`", "Exit 2 at once, the same message.", _zoo_fifo("rank")),
    Case(
        "student-init-std-zero",
        S_TRACE,
        "`--student-init FOLDER` whose config.json has `std: [0, 0, 0]`",
        "Exit 2 before any work: \"--student-init: .../config.json: field 'pretrained_cfg.std' must be ...\" "
        "(it crashed in a worker).",
        _student_init("std"),
        subprocess=True,
    ),
    Case(
        "student-init-input-size-text",
        S_TRACE,
        '`--student-init FOLDER` whose config.json has `input_size: "foo"`',
        "Exit 2 before any work, naming the file and `pretrained_cfg.input_size`.",
        _student_init("input-size"),
    ),
    Case(
        "student-init-config-fifo",
        S_TRACE,
        "`--student-init FOLDER` whose config.json is a FIFO",
        "Exit 2 at once naming the file (it would hang).",
        _student_init("fifo"),
    ),
    Case(
        "architectures-cache-truncated",
        S_LOST,
        "a truncated cached list of timm architectures",
        "Exit 0: the list fails its count and digest, is rebuilt, and the zoo is valid (it said \"'test_convnext' "
        'is not a timm architecture").',
        _truncated_architectures,
        code=0,
        subprocess=True,
    ),
    Case(
        "cache-clear-helper-files",
        S_MESSAGES,
        "`cache clear` with cached timm helper files (every timm version)",
        "Exit 0: they are removed with the features (they stayed).",
        _cache_clear_helpers,
        code=0,
    ),
    Case(
        "zoo-ls-invalid-repo-id",
        S_TRACE,
        '`zoo ls` with an hf-hub entry `repo: "not a//valid repo"`',
        "Exit 2: the zoo file, the entry and field 'repo' named (it was an HFValidationError traceback).",
        _zoo_entry(BAD_REPO, ("zoo", "ls"), ("zoo.yaml", "bad-repo", "'repo'", "not a valid Hub repo id")),
    ),
    Case(
        "zoo-pull-invalid-repo-id",
        S_TRACE,
        "`zoo pull bad-repo` with the same entry",
        "Exit 2, the same one line.",
        _zoo_entry(BAD_REPO, ("zoo", "pull", "bad-repo"), ("'repo'",)),
    ),
    Case(
        "zoo-ls-unknown-timm-tag",
        S_TRACE,
        "`zoo ls` with a timm entry `model: resnet18.no_such_tag`",
        "Exit 0: the entry is not available, \"field 'model': Invalid pretrained tag ...\" (a traceback).",
        _zoo_entry(BAD_TAG, ("zoo", "ls"), ("field 'model'", "no_such_tag")),
        code=0,
    ),
    Case(
        "zoo-pull-unknown-timm-tag",
        S_TRACE,
        "`zoo pull bad-tag` with the same entry",
        "Exit 2: one line naming the source and field 'model'.",
        _zoo_entry(BAD_TAG, ("zoo", "pull", "bad-tag"), ("bad-tag", "field 'model'", "no_such_tag")),
    ),
    Case(
        "load-plugins-not-installed",
        S_MESSAGES,
        "`ZOO_DISTILL_LOAD_PLUGINS=zoo-distill-not-installed`",
        "Exit 0 with a warning naming it and listing the installed plugins (it was ignored silently).",
        _load_unknown_plugin,
        code=0,
    ),
]

CASES: list[Case] = [*MARKUP_CASES, *PLUGIN_CASES, *FILE_CASES]

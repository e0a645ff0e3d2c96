"""The CLI cases of the hostile-input corpus: every case of issue 15 and the neighbours a careful
tester tries next. Each builds its input in its own folder (never a checked-in binary).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ..conftest import local_entry, write_split, write_zoo
from .harness import BUDGET, S_LOST, S_MESSAGES, S_TRACE, Case, Outcome, Prepared, World, running_as_root

NOT_UTF8 = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: a valid POSIX name that is not UTF-8


# --- building inputs ---------------------------------------------------------------------------


def copy_target(world: World, dest: Path) -> Path:
    return Path(shutil.copytree(world.target, dest / "target"))


def copy_run(world: World, dest: Path, drop: tuple[str, ...] = ()) -> Path:
    out = Path(shutil.copytree(world.run, dest / "run"))
    for name in drop:
        (out / name).unlink()
    return out


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def run_args(world: World, out: Path, *extra: str | Path, target: Path | None = None) -> list[str | Path]:
    return [
        "run",
        "-t",
        target or world.target,
        "--zoo",
        world.zoo,
        *BUDGET,
        "--method-opt",
        "views=1",
        "--out",
        out,
        *extra,
    ]


def baseline_args(
    method: str, world: World, out: Path, *extra: str | Path, target: Path | None = None
) -> list[str | Path]:
    return ["baseline", method, "-t", target or world.target, *BUDGET, "--out", out, *extra]


def no_work(d: Path) -> tuple[Path, ...]:
    """What the first step of ranking or training writes: features or scores in the case's cache."""
    return d / "cache" / "features", d / "cache" / "scores"


def _json_stdout(outcome: Outcome):
    return json.loads(outcome.stdout)


# --- 1. data lost or wrong with exit status 0 ----------------------------------------------------


def option_case(
    id_: str,
    command: str,
    args_for,
    option: str,
    value: str,
    subprocess: bool = False,
    was: str = "",
    named: str | None = None,
) -> Case:
    """``named``: how the message names the option when it is not ``option`` itself (``--method-opt lam``
    for ``--method-opt lam=nan``); the value is what follows its ``=``."""
    shown = value.split("=", 1)[1] if named else value

    def prepare(world: World, d: Path) -> Prepared:
        out = d / "out"
        return Prepared(
            args_for(world, out, option, value),
            needles=(named or option, shown),
            absent=(out, *no_work(d)),
            keep=(world.target,),
        )

    return Case(
        id_,
        S_LOST,
        f"`{command} {option} {value}`",
        f'Exit 2 before any work: "{named or option} must be a finite number ..."; no --out, no features'
        + (f" ({was})" if was else "")
        + ".",
        prepare,
        subprocess=subprocess,
    )


def _run_opts(world, out, *extra):
    return run_args(world, out, *extra)


def _fixmatch_opts(world, out, *extra):
    return baseline_args("fixmatch", world, out, *extra)


FLOAT_OPTIONS = [
    option_case(
        "lr-nan",
        "run",
        _run_opts,
        "--lr",
        "nan",
        subprocess=True,
        was="NaN got past `lr <= 0`: with --steps-per-epoch 1 it saved a NaN student, exit 0",
    ),
    option_case("lr-inf", "run", _run_opts, "--lr", "inf"),
    option_case("weight-decay-nan", "run", _run_opts, "--weight-decay", "nan"),
    option_case("weight-decay-inf", "run", _run_opts, "--weight-decay", "inf"),
    option_case("lambda-nan", "run", _run_opts, "--method-opt", "lam=nan", named="--method-opt lam"),
    option_case("lambda-inf", "run", _run_opts, "--method-opt", "lam=inf", named="--method-opt lam"),
    option_case(
        "temperature-nan",
        "run",
        _run_opts,
        "--temperature",
        "nan",
        was='it said "every source weight is zero", after ranking',
    ),
    option_case("temperature-inf", "run", _run_opts, "--temperature", "inf"),
    option_case(
        "threshold-nan",
        "baseline fixmatch",
        _fixmatch_opts,
        "--method-opt",
        "threshold=nan",
        named="--method-opt threshold",
    ),
    option_case(
        "lambda-u-minus-inf",
        "baseline fixmatch",
        _fixmatch_opts,
        "--method-opt",
        "lambda_u=-inf",
        named="--method-opt lambda_u",
    ),
    option_case("fixmatch-lr-nan", "baseline fixmatch", _fixmatch_opts, "--lr", "nan"),
]


def _finished_run_refused(world: World, d: Path) -> Prepared:
    out = copy_run(world, d)
    return Prepared(
        run_args(world, out), needles=(str(out), "already holds a finished run", "--overwrite"), keep=(out,)
    )


def _finished_run_refused_baseline(world: World, d: Path) -> Prepared:
    out = copy_run(world, d)
    return Prepared(
        baseline_args("fixmatch", world, out), needles=(str(out), "finished run", "--overwrite"), keep=(out,)
    )


def _unfinished_run_refused(world: World, d: Path) -> Prepared:
    out = copy_run(
        world,
        d,
        drop=("student.safetensors", "model.safetensors", "config.json", "metrics.json", "run.json", "curves.png"),
    )
    return Prepared(
        baseline_args("finetune", world, out), needles=("unfinished run", "--resume", "--overwrite"), keep=(out,)
    )


def _resume_without_checkpoint(world: World, d: Path) -> Prepared:
    out = copy_run(world, d, drop=("checkpoint.safetensors",))
    return Prepared(
        baseline_args("finetune", world, out, "--resume"),
        needles=("--resume", "no checkpoint.safetensors", "--overwrite"),
        keep=(out,),
    )


def _resume_and_overwrite(world: World, d: Path) -> Prepared:
    out = copy_run(world, d)
    return Prepared(
        baseline_args("finetune", world, out, "--resume", "--overwrite"),
        needles=("--resume", "--overwrite"),
        keep=(out,),
    )


def _overwrite_replaces(world: World, d: Path) -> Prepared:
    out = copy_run(world, d)
    mine = out / "my-notes.txt"
    mine.write_text("the user's own file in the run folder")
    old = (out / "metrics.json").read_text()

    def check(outcome: Outcome) -> None:
        assert (out / "metrics.json").read_text() != old  # a new run: new timings
        assert mine.read_text() == "the user's own file in the run folder"  # only the run's own files go
        assert "is replaced" in outcome.stderr

    return Prepared(baseline_args("finetune", world, out, "--overwrite", "--json"), check=check)


def _resume_empty(world: World, d: Path) -> Prepared:
    out = d / "fresh"

    def check(outcome: Outcome) -> None:
        assert "starting a fresh run" in outcome.stderr
        assert (out / "metrics.json").is_file() and _json_stdout(outcome)["resumed_from_epoch"] is None

    return Prepared(baseline_args("finetune", world, out, "--resume", "--json"), check=check)


def _predict_16_bit(world: World, d: Path) -> Prepared:
    image = d / "scan16.png"
    Image.fromarray((np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)).save(image)

    def check(outcome: Outcome) -> None:
        top = _json_stdout(outcome)[0]["top"][0]
        assert top[0] in ("class_0", "class_1") and 0.0 <= top[1] <= 1.0

    return Prepared(["predict", world.run, image, "--json"], check=check, keep=(image,))


def _predict_nan_student(world: World, d: Path) -> Prepared:
    import torch
    from safetensors.torch import load_file, save_file

    out = copy_run(world, d)
    state = load_file(str(out / "student.safetensors"))
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    for name in ("student.safetensors", "model.safetensors"):
        (out / name).unlink()
        save_file(state, str(out / name))
    return Prepared(["predict", out, world.image, "--json"], needles=("NaN", "student.safetensors"), keep=(out,))


def _cache_under_a_file(world: World, d: Path) -> Prepared:
    blocker = d / "a-file"
    blocker.write_text("a regular file: nothing can be created under it, even by root")
    return Prepared(
        ["rank", "-t", world.target, "--zoo", world.zoo, "--cache-dir", blocker / "cache", "--json"],
        needles=("feature cache", str(blocker / "cache"), "--no-cache"),
        keep=(blocker,),
        check=lambda outcome: _no_json(outcome),
    )


def _no_json(outcome: Outcome) -> None:
    assert not outcome.stdout.strip(), "a ranking was printed although the cache could not be written"


LOST = [
    *FLOAT_OPTIONS,
    Case(
        "finished-run-kept",
        S_LOST,
        "`run --out DIR` where DIR holds a finished run",
        'Exit 2: "--out DIR already holds a finished run (...); pass --overwrite ..."; every file unchanged.',
        _finished_run_refused,
        subprocess=True,
    ),
    Case(
        "finished-run-kept-baseline",
        S_LOST,
        "`baseline fixmatch --out DIR` onto a finished run",
        "Exit 2, the same message; every file unchanged.",
        _finished_run_refused_baseline,
    ),
    Case(
        "unfinished-run-kept",
        S_LOST,
        "`--out DIR` holding only a checkpoint (an interrupted run), no flag",
        'Exit 2: "... holds an unfinished run; pass --resume to continue it, --overwrite to start over".',
        _unfinished_run_refused,
    ),
    Case(
        "resume-without-checkpoint",
        S_LOST,
        "`--resume` onto a run folder without its checkpoint",
        'Exit 2 (it would have trained afresh over the run): "no checkpoint.safetensors to continue; '
        'pass --overwrite".',
        _resume_without_checkpoint,
    ),
    Case(
        "resume-and-overwrite",
        S_LOST,
        "`--resume --overwrite` together",
        "Exit 2: the flags contradict each other; nothing changed.",
        _resume_and_overwrite,
    ),
    Case(
        "overwrite-replaces",
        S_LOST,
        "`--overwrite` onto a finished run (with a file of the user's in it)",
        "Exit 0: the run is replaced (note on stderr); only the files a run writes are removed, and only "
        "once training starts.",
        _overwrite_replaces,
        code=0,
    ),
    Case(
        "resume-empty-folder",
        S_LOST,
        "`--resume` onto an empty/new folder",
        'Exit 0 with "note: --resume: ... has no checkpoint.safetensors; starting a fresh run".',
        _resume_empty,
        code=0,
    ),
    Case(
        "predict-16-bit-png",
        S_LOST,
        "`predict` on a 16-bit grayscale PNG",
        "Exit 0; the image is read with its content (scaled to 8 bits, not clipped to white).",
        _predict_16_bit,
        code=0,
    ),
    Case(
        "predict-nan-student",
        S_LOST,
        "`predict` with a student whose weights hold NaN",
        'Exit 2: "student export: ... holds NaN or inf values ...; retrain it" (it printed NaN).',
        _predict_nan_student,
    ),
    Case(
        "cache-not-writable",
        S_LOST,
        "`rank --cache-dir` that cannot be created (under a regular file)",
        'Exit 2: "cannot create the feature cache ...; free space, choose another --cache-dir, or pass '
        '--no-cache"; no ranking printed (it used to rank without the source).',
        _cache_under_a_file,
        subprocess=True,
    ),
]


# --- 2. tracebacks instead of a one-line error ----------------------------------------------------


def _non_utf8_target(world: World, d: Path) -> Path:
    target = copy_target(world, d)
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(target / "train" / "class_0" / f"{NOT_UTF8}.png")
    return target


def _rank_non_utf8_name(world: World, d: Path) -> Prepared:
    target = _non_utf8_target(world, d)

    def check(outcome: Outcome) -> None:
        result = _json_stdout(outcome)
        assert result["labeled_images"] == 9 and any(s["status"] == "ok" for s in result["sources"])

    return Prepared(
        ["rank", "-t", target, "--zoo", world.zoo, "--metric", "knn", "--json"], check=check, keep=(target,)
    )


def _finetune_non_utf8_name(world: World, d: Path) -> Prepared:
    target = _non_utf8_target(world, d)
    return Prepared(
        baseline_args("finetune", world, d / "out", "--json", target=target),
        keep=(target,),
        check=lambda outcome: _json_stdout(outcome)["data"]["labeled"] == 9 or _fail("labeled != 9"),
    )


def _fail(message: str) -> None:
    raise AssertionError(message)


def _non_utf8_class(world: World, d: Path) -> Prepared:
    target = copy_target(world, d)
    os.rename(target / "train" / "class_1", target / "train" / NOT_UTF8)
    return Prepared(
        ["rank", "-t", target, "--zoo", world.zoo], needles=("not valid UTF-8", "rename it"), keep=(target,)
    )


def _non_utf8_corrupt(world: World, d: Path) -> Prepared:
    target = copy_target(world, d)
    (target / "train" / "class_0" / f"{NOT_UTF8}.png").write_bytes(b"not an image at all")
    return Prepared(
        ["rank", "-t", target, "--zoo", world.zoo],
        needles=("1 unreadable image(s)", "not an image format Pillow can decode", "--skip-bad-images"),
        keep=(target,),
    )


#: What a run writes once it is finished: without them, its checkpoint is a run stopped between epochs.
STOPPED = ("student.safetensors", "model.safetensors", "config.json", "metrics.json", "run.json", "curves.png")


def _resume_other_method(world: World, d: Path) -> Prepared:
    out = copy_run(world, d, drop=STOPPED)  # a run stopped between epochs: a finished one is never resumed
    return Prepared(
        baseline_args("fixmatch", world, out, "--resume"),
        needles=("--resume", "belongs to a different run"),
        keep=(out,),
    )


def _resume_other_classes(world: World, d: Path) -> Prepared:
    out = copy_run(world, d, drop=STOPPED)  # a run stopped between epochs: a finished one is never resumed
    target = d / "three"
    write_split(target / "train", 3, 4, seed=5)
    return Prepared(
        baseline_args("finetune", world, out, "--resume", target=target),
        needles=("--resume", "belongs to a different run"),
        keep=(out,),
    )


def bad_option(
    id_: str, args_for, option: str, value: str, needle: str, subprocess: bool = False, usage: bool = False
) -> Case:
    def prepare(world: World, d: Path) -> Prepared:
        out = d / "out"
        return Prepared(args_for(world, out, option, value), needles=(needle,), absent=(out, *no_work(d)))

    return Case(
        id_,
        S_TRACE,
        f"`{option} {value}`",
        f"Exit 2 before any work, naming {option}; no --out.",
        prepare,
        subprocess=subprocess,
        usage=usage,
    )


OPTIONS = [
    bad_option("weight-decay-negative", _run_opts, "--weight-decay", "-1", "--weight-decay", subprocess=True),
    bad_option("batch-size-huge", _run_opts, "--batch-size", "1000000000000", "--batch-size", subprocess=True),
    bad_option("batch-size-above-bound", _run_opts, "--batch-size", "65537", "--batch-size"),
    bad_option("epochs-zero", _run_opts, "--epochs", "0", "--epochs", usage=True),
    bad_option("mu-negative", _run_opts, "--mu", "-1", "--mu", usage=True),
    bad_option("views-zero", _run_opts, "--method-opt", "views=0", "--method-opt views"),
    bad_option("input-size-tiny", _run_opts, "--input-size", "5", "--input-size"),
    bad_option("seed-negative", _run_opts, "--seed", "-1", "--seed"),
    bad_option("lr-too-large", _run_opts, "--lr", "1e300", "--lr"),
    bad_option("threshold-above-one", _fixmatch_opts, "--method-opt", "threshold=1.5", "--method-opt threshold"),
]


def damaged(
    id_: str, command: str, given: str, change, needles: tuple[str, ...], subprocess: bool = False, metrics=None
) -> Case:
    """A hand-edited or damaged run folder given to predict, eval or push."""

    def prepare(world: World, d: Path) -> Prepared:
        out = copy_run(world, d)
        if change is not None:
            edit_json(out / "config.json", change)
        if metrics is not None:
            edit_json(out / "metrics.json", metrics)
        args = {
            "predict": ["predict", out, world.image, "--json"],
            "eval": ["eval", out, "--data", world.target],
            "push": ["push", out, "someone/student"],
        }[command]
        return Prepared(args, needles=needles, keep=(out,))

    return Case(
        f"{command}-{id_}",
        S_TRACE,
        f"`{command}` on a run folder whose {given}",
        "Exit 2 naming config.json (or metrics.json) and the field; nothing uploaded.",
        prepare,
        subprocess=subprocess,
    )


def _set(key: str, value):
    return lambda config: config.__setitem__(key, value)


def _set_cfg(key: str, value):
    return lambda config: config["pretrained_cfg"].__setitem__(key, value)


DAMAGED = [
    damaged(
        "labels-short",
        "predict",
        "`label_names` is too short",
        _set("label_names", ["class_0"]),
        ("config.json", "label_names", "1 names for num_classes 2"),
        subprocess=True,
    ),
    damaged(
        "labels-not-text",
        "predict",
        "`label_names` are numbers",
        _set("label_names", [0, 1]),
        ("config.json", "label_names", "list of strings"),
    ),
    damaged(
        "labels-repeated",
        "predict",
        "`label_names` repeat",
        _set("label_names", ["a", "a"]),
        ("config.json", "label_names", "repeats"),
    ),
    damaged(
        "std-zero",
        "predict",
        "`pretrained_cfg.std` is 0",
        _set_cfg("std", [0, 0, 0]),
        ("config.json", "pretrained_cfg", "std"),
    ),
    damaged(
        "input-size-text",
        "predict",
        '`input_size` is "foo"',
        _set_cfg("input_size", "foo"),
        ("config.json", "input_size"),
    ),
    damaged(
        "input-size-zero",
        "predict",
        "`input_size` is [3, 0, 0]",
        _set_cfg("input_size", [3, 0, 0]),
        ("config.json", "input_size"),
    ),
    damaged(
        "interpolation",
        "predict",
        "`interpolation` is unknown",
        _set_cfg("interpolation", "sinc"),
        ("config.json", "interpolation"),
    ),
    damaged(
        "num-classes-huge",
        "predict",
        "`num_classes` is 10^9",
        _set("num_classes", 10**9),
        ("config.json", "num_classes"),
    ),
    damaged(
        "config-emptied",
        "predict",
        "config.json is an empty object",
        lambda config: config.clear(),
        ("config.json", "architecture"),
    ),
    damaged(
        "labels-short",
        "eval",
        "`label_names` is too short",
        _set("label_names", ["class_0"]),
        ("config.json", "label_names"),
    ),
    damaged(
        "std-zero",
        "eval",
        "`pretrained_cfg.std` is 0",
        _set_cfg("std", [0.5, 0, 0.5]),
        ("config.json", "std"),
        subprocess=True,
    ),
    damaged(
        "input-size-zero",
        "eval",
        "`input_size` is [3, 0, 0]",
        _set_cfg("input_size", [3, 0, 0]),
        ("config.json", "input_size"),
    ),
    damaged(
        "input-size-text",
        "push",
        '`input_size` is "foo"',
        _set_cfg("input_size", "foo"),
        ("config.json", "input_size"),
        subprocess=True,
    ),
    damaged(
        "labels-not-text",
        "push",
        "`label_names` are numbers",
        _set("label_names", [3, 4]),
        ("config.json", "label_names"),
    ),
    damaged(
        "metrics-alpha-list",
        "push",
        "metrics.json `alpha` is a list",
        None,
        ("metrics.json", "alpha"),
        metrics=_set("alpha", [0.5, 0.5]),
    ),
    damaged(
        "metrics-params-text",
        "push",
        "metrics.json `student.params` is text",
        None,
        ("metrics.json", "student.params"),
        metrics=lambda m: m["student"].__setitem__("params", "many"),
    ),
]


def _unreadable(part: str):
    def prepare(world: World, d: Path) -> Prepared:
        target = copy_target(world, d)
        blocked = {"train": target / "train", "class": target / "train" / "class_1", "unlabeled": target / "unlabeled"}[
            part
        ]
        os.chmod(blocked, 0)

        def check(outcome: Outcome) -> None:
            os.chmod(blocked, 0o755)  # let pytest clean up

        return Prepared(
            baseline_args("finetune", world, d / "out", target=target),
            needles=("cannot read", str(blocked), "permission denied"),
            absent=(d / "out",),
            check=check,
        )

    return prepare


def _cache_clear_subfolders(world: World, d: Path) -> Prepared:
    cache = d / "zd-cache"
    features, scores = cache / "features", cache / "scores"
    (features / "someone's folder").mkdir(parents=True)
    (features / "someone's folder" / "keep.txt").write_text("not the cache's")
    (features / "odd.safetensors").mkdir()  # a folder with a cache-like name
    (features / "teacher-0123456789abcdef01234567.safetensors").write_bytes(b"x" * 100)
    (features / ".teacher-0123.safetensors.abc.tmp").write_bytes(b"y" * 10)
    (scores / "sub").mkdir(parents=True)
    (scores / "0123456789abcdef0123456789abcdef.json").write_text("{}")

    def check(outcome: Outcome) -> None:
        assert "removed 2 file(s)" in outcome.stdout
        assert (features / "someone's folder" / "keep.txt").is_file() and (features / "odd.safetensors").is_dir()
        assert (scores / "sub").is_dir() and not list(scores.glob("*.json"))

    return Prepared(["cache", "clear", "--yes", "--cache-dir", cache], check=check)


def _cache_ls_subfolder(world: World, d: Path) -> Prepared:
    cache = d / "zd-cache"
    (cache / "features" / "odd.safetensors").mkdir(parents=True)
    return Prepared(
        ["cache", "ls", "--json", "--cache-dir", cache],
        check=lambda outcome: _json_stdout(outcome) == [] or _fail("a folder was listed"),
    )


TRACE = [
    Case(
        "rank-non-utf8-file-name",
        S_TRACE,
        "`rank` on a target with a file name that is not UTF-8",
        "Exit 0: the image is ranked like any other (names are hashed as bytes, os.fsencode).",
        _rank_non_utf8_name,
        code=0,
        subprocess=True,
    ),
    Case(
        "finetune-non-utf8-file-name",
        S_TRACE,
        "`baseline finetune` on a target with a non-UTF-8 file name",
        "Exit 0: trained on all 9 labeled images.",
        _finetune_non_utf8_name,
        code=0,
    ),
    Case(
        "non-utf8-class-folder",
        S_TRACE,
        "a class folder whose name is not UTF-8",
        'Exit 2: "class folder ... has a name that is not valid UTF-8; rename it" (class names become label '
        "names in config.json).",
        _non_utf8_class,
    ),
    Case(
        "non-utf8-corrupt-image",
        S_TRACE,
        "a corrupt image with a non-UTF-8 name",
        "Exit 2 naming it (escaped) and the reason; no crash while printing the name.",
        _non_utf8_corrupt,
    ),
    Case(
        "resume-other-method",
        S_TRACE,
        "`baseline fixmatch --resume` onto a finetune run",
        'Exit 2: "checkpoint ... belongs to a different run", found before any weight is loaded; the run is unchanged.',
        _resume_other_method,
        subprocess=True,
    ),
    Case(
        "resume-other-class-count",
        S_TRACE,
        "`--resume` onto a run of another class count",
        "Exit 2, the same message (it crashed loading the classifier).",
        _resume_other_classes,
    ),
    *OPTIONS,
    *DAMAGED,
    Case(
        "unreadable-train-split",
        S_TRACE,
        "a train split the user cannot read (chmod 000)",
        'Exit 2: "cannot read train split ...: permission denied".',
        _unreadable("train"),
        skip=running_as_root,
    ),
    Case(
        "unreadable-class-folder",
        S_TRACE,
        "a class folder the user cannot read",
        'Exit 2: "cannot read folder ...: permission denied" (it said "no images").',
        _unreadable("class"),
        skip=running_as_root,
    ),
    Case(
        "unreadable-unlabeled-folder",
        S_TRACE,
        "an unlabeled folder the user cannot read",
        'Exit 2: "cannot read folder ..." (it said "no images").',
        _unreadable("unlabeled"),
        skip=running_as_root,
    ),
    Case(
        "cache-clear-subfolders",
        S_TRACE,
        "`cache clear` when the cache holds sub-folders",
        "Exit 0: the cache's files are removed; folders (not the cache's) are left alone.",
        _cache_clear_subfolders,
        code=0,
        subprocess=True,
    ),
    Case(
        "cache-ls-subfolder",
        S_TRACE,
        "`cache ls` with a folder named `*.safetensors` in the cache",
        "Exit 0; the folder is not listed.",
        _cache_ls_subfolder,
        code=0,
    ),
]


# --- 3. poor messages and checks in the wrong place ----------------------------------------------


def aggregator_option(id_: str, extra: tuple[str, ...], needle: str, subprocess: bool = False) -> Case:
    def prepare(world: World, d: Path) -> Prepared:
        out = d / "out"
        return Prepared(run_args(world, out, *extra), needles=(needle,), absent=(out, *no_work(d)))

    return Case(
        id_,
        S_MESSAGES,
        f"`run {' '.join(extra)}`",
        f"Exit 2 before ranking and before --out is created, naming {needle}.",
        prepare,
        subprocess=subprocess,
    )


def _rank_batch_size(value: str):
    def prepare(world: World, d: Path) -> Prepared:
        return Prepared(
            ["rank", "-t", world.target, "--zoo", world.zoo, "--batch-size", value],
            needles=("--batch-size",),
            absent=no_work(d),
        )

    return prepare


def _weights_folder_zoo(world: World, d: Path, kind: str) -> Path:
    weights = d / "w.safetensors"
    if kind == "folder":
        weights.mkdir()
    else:
        os.symlink(weights.name, weights)  # a link to itself
    return write_zoo(d / "zoo.yaml", [local_entry("odd-weights", str(weights), 4)])


def _zoo_ls_weights(kind: str, reason: str):
    def prepare(world: World, d: Path) -> Prepared:
        zoo = _weights_folder_zoo(world, d, kind)

        def check(outcome: Outcome) -> None:
            row = _json_stdout(outcome)[0]
            assert row["available"] is False and reason in row["reason"] and "odd-weights" in row["reason"]

        return Prepared(["zoo", "ls", "--zoo", zoo, "--json"], check=check)

    return prepare


def _rank_weights_folder(world: World, d: Path) -> Prepared:
    zoo = _weights_folder_zoo(world, d, "folder")
    return Prepared(
        ["rank", "-t", world.target, "--zoo", zoo], needles=("no source could be loaded", "odd-weights", "is a folder")
    )


def _bad_image(kind: str):
    def prepare(world: World, d: Path) -> Prepared:
        target = copy_target(world, d)
        bad = target / "train" / "class_1" / "bad.png"
        if kind == "garbage":
            bad.write_bytes(b"GIF89a? no, just text")
        else:
            good = (target / "train" / "class_1" / "000.png").read_bytes()
            bad.write_bytes(good[: len(good) // 2])
        reason = re.compile(re.escape(str(bad)) + r" \([^)]+\)")
        return Prepared(
            ["rank", "-t", target, "--zoo", world.zoo],
            needles=(str(bad), "--skip-bad-images"),
            keep=(target,),
            check=lambda outcome: reason.search(outcome.stderr) or _fail("no reason"),
        )

    return prepare


def _one_image_per_class(world: World, d: Path) -> Prepared:
    target = d / "single"
    write_split(target / "train", 2, 1, seed=7)
    return Prepared(
        ["rank", "-t", target, "--zoo", world.zoo, "--metric", "knn", "--json"],
        needles=("single labeled image", "class_0"),
    )


def _huge_zoo(world: World, d: Path) -> Prepared:
    zoo = d / "huge.yaml"
    entry = "- {name: s%07d, provider: local, weights: w.safetensors, arch: test_convnext, num_classes: 0}\n"
    zoo.write_text("sources:\n" + "".join(entry % i for i in range(60_000)))  # about 5.5 MB of valid YAML

    def check(outcome: Outcome) -> None:
        assert outcome.seconds < 60, f"took {outcome.seconds:.0f} s to refuse"

    return Prepared(["rank", "-t", world.target, "--zoo", zoo], needles=(str(zoo), "larger than 1024 KiB"), check=check)


def _zoo_folder(world: World, d: Path) -> Prepared:
    return Prepared(["zoo", "ls", "--zoo", d], needles=(str(d), "is a folder"))


def _zoo_not_utf8(world: World, d: Path) -> Prepared:
    zoo = d / "zoo.yaml"
    zoo.write_bytes(b"sources:\n- name: caf\xe9\n")
    return Prepared(["zoo", "ls", "--zoo", zoo], needles=(str(zoo), "not UTF-8"))


def _predict_folder(world: World, d: Path) -> Prepared:
    return Prepared(["predict", world.run, d], needles=(str(d), "is not a file"))


MESSAGES = [
    aggregator_option("top-k-negative", ("--top-k", "-1"), "--top-k", subprocess=True),
    aggregator_option("temperature-zero", ("--temperature", "0"), "--temperature"),
    aggregator_option("agg-opt-top-k-fraction", ("--agg-opt", "top_k=1.5"), "--top-k"),
    aggregator_option("agg-opt-temperature-text", ("--agg-opt", "temperature=warm"), "--temperature"),
    Case(
        "rank-batch-size-huge",
        S_MESSAGES,
        "`rank --batch-size 100000000000000000000000000000`",
        'Exit 2: "--batch-size must be a whole number >= 1 and <= 65536" (it failed inside islice).',
        _rank_batch_size("1" + "0" * 29),
        subprocess=True,
    ),
    Case(
        "rank-batch-size-float",
        S_MESSAGES,
        "`rank --batch-size 1e29`",
        "Exit 2: typer's usage error (not an integer).",
        _rank_batch_size("1e29"),
        usage=True,
    ),
    Case(
        "zoo-ls-weights-folder",
        S_MESSAGES,
        "`zoo ls` with a local weights path that is a folder",
        'Exit 0; the source is not available: "weights path ... is a folder, not a safetensors file".',
        _zoo_ls_weights("folder", "is a folder"),
        code=0,
        subprocess=True,
    ),
    Case(
        "zoo-ls-weights-symlink-loop",
        S_MESSAGES,
        "`zoo ls` with weights that are a symlink loop",
        'Exit 0; not available: "cannot be read: Too many levels of symbolic links" (it said "does not exist").',
        _zoo_ls_weights("loop", "symbolic links"),
        code=0,
    ),
    Case(
        "rank-weights-folder",
        S_MESSAGES,
        "`rank` whose only source's weights path is a folder",
        'Exit 2: "no source could be loaded: odd-weights: ... is a folder" (it was IsADirectoryError).',
        _rank_weights_folder,
    ),
    Case(
        "bad-image-garbage",
        S_MESSAGES,
        "a file named .png that is not an image",
        'Exit 2 naming the file and why: "(not an image format Pillow can decode)".',
        _bad_image("garbage"),
    ),
    Case(
        "bad-image-truncated",
        S_MESSAGES,
        "a PNG cut in half",
        "Exit 2 naming the file and Pillow's reason.",
        _bad_image("truncated"),
    ),
    Case(
        "one-image-per-class",
        S_MESSAGES,
        "`rank` with one labeled image per class",
        'Exit 0 with a warning: "... have a single labeled image ...: leave-one-out metrics such as knn score '
        'them 0 for every source" (also in --json `warnings`).',
        _one_image_per_class,
        code=0,
    ),
    Case(
        "zoo-5-mb",
        S_MESSAGES,
        "a 5 MB valid YAML zoo file",
        'Exit 2 at once: "zoo file ... is larger than 1024 KiB" (it took 55 s).',
        _huge_zoo,
        subprocess=True,
    ),
    Case("zoo-is-a-folder", S_MESSAGES, "`--zoo` naming a folder", 'Exit 2: "zoo file ... is a folder".', _zoo_folder),
    Case(
        "zoo-not-utf8",
        S_MESSAGES,
        "a zoo file that is not UTF-8",
        'Exit 2: "zoo file ... cannot be read: not UTF-8 text (... at byte N)".',
        _zoo_not_utf8,
    ),
    Case(
        "predict-a-folder",
        S_MESSAGES,
        "`predict RUN FOLDER` (a folder as the image)",
        'Exit 2: "image ... is not a file".',
        _predict_folder,
    ),
]

from . import round3_data, round3_output, round3_runs  # noqa: E402 (they import this module's helpers)

CASES = [*LOST, *TRACE, *MESSAGES, *round3_runs.CASES, *round3_data.CASES, *round3_output.CASES]
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"

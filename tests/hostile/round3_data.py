"""Round three of the hostile corpus (issue 37): the data cases. Built like cases.py: each case
makes its input in its own folder; CASES joins the corpus (cases.py) and its rows join
docs/reliability.md."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ..conftest import png_header
from .harness import BUDGET, S_LOST, S_MESSAGES, Case, Outcome, Prepared, World

# --- building inputs ---------------------------------------------------------------------------


def _target(world: World, d: Path) -> Path:
    return Path(shutil.copytree(world.target, d / "target"))


def _image(path: Path, seed: int, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path, fmt)
    return path


def _rank(world: World, target: Path, *extra) -> list:
    return ["rank", "-t", target, "--zoo", world.zoo, "--metric", "knn", *extra]


def _finetune(target: Path, out: Path, *extra) -> list:
    return ["baseline", "finetune", "-t", target, *BUDGET, "--out", out, *extra]


def _json(outcome: Outcome) -> dict:
    return json.loads(outcome.stdout)


def _expect(**wanted):
    """A check on `--json` output: each key path ("data.unlabeled") has the wanted value."""

    def check(outcome: Outcome) -> None:
        result = _json(outcome)
        for path, value in wanted.items():
            got = result
            for key in path.split("."):
                got = got[key]
            assert got == value, f"{path} is {got!r}, expected {value!r}"

    return check


# --- links ---------------------------------------------------------------------------------------


def _broken_link(where: str, command: str = "rank"):
    def prepare(world: World, d: Path) -> Prepared:
        target = _target(world, d)
        link = target / where
        link.symlink_to(d / "moved-away")
        args = _rank(world, target) if command == "rank" else _finetune(target, d / "out")
        return Prepared(
            args, needles=("broken symbolic link", str(link), "fix or remove it"), keep=(target,), absent=(d / "out",)
        )

    return prepare


def _pool_count(target: Path, where: str = "unlabeled") -> None:
    """A copy of a labeled image in the pool: rank's note on it then says how many unlabeled images were
    found ("1 of the N unlabeled images are also labeled images ..."), without a training run."""
    shutil.copy(target / "train" / "class_0" / "000.png", target / where / "copy-of-a-labeled-image.png")


def _pool_of(count: int) -> str:
    return f"1 of the {count} unlabeled images are also labeled images of the train split"


def _linked_unlabeled_folder(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    for i in range(3):
        _image(d / "more-photos" / f"m{i}.png", 40 + i)
    (target / "unlabeled" / "more").symlink_to(d / "more-photos")
    _pool_count(target)
    return Prepared(_rank(world, target, "--json"), keep=(target,), needles=(_pool_of(8),))


def _unlabeled_loop(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    (target / "unlabeled" / "again").symlink_to(".")
    (target / "unlabeled" / "up").symlink_to("..")  # the target root: above the pool, so a loop too
    _pool_count(target)
    return Prepared(
        _rank(world, target, "--json"),
        keep=(target,),
        needles=("2 linked folder(s) that loop or repeat a folder already listed", _pool_of(5)),
    )


# --- extensions and special files ----------------------------------------------------------------


def _other_extensions(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    for i, (name, fmt) in enumerate({"a.jfif": "JPEG", "b.jpe": "JPEG", "c.tga": "TGA", "d.ico": "ICO"}.items()):
        _image(target / "train" / f"class_{i % 2}" / name, 20 + i, fmt)
    (target / "train" / "class_0" / "notes.txt").write_text("not an image")
    return Prepared(
        _rank(world, target, "--json"),
        keep=(target,),
        needles=("1 file(s) whose extension is not an image format Pillow reads", "notes.txt"),
        check=_expect(labeled_images=12),
    )


def _upper_case_extension(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    _image(target / "train" / "class_1" / "IMG_0001.JPG", 30, "JPEG")
    return Prepared(_rank(world, target, "--json"), keep=(target,), check=_expect(labeled_images=9))


def _fifo(where: str):
    def prepare(world: World, d: Path) -> Prepared:
        target = _target(world, d)
        os.mkfifo(target / where)  # opening it would wait for a writer for ever
        return Prepared(
            _rank(world, target, "--json"),
            keep=(target,),
            needles=("1 special file(s) (FIFO, socket or device)", where.rsplit("/", 1)[-1]),
            check=_expect(labeled_images=8),
        )

    return prepare


# --- run folders inside the target ----------------------------------------------------------------


def _run_folder_in_class(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    run = Path(shutil.copytree(world.run, target / "train" / "class_0" / "old-run"))
    assert (run / "curves.png").is_file() and (run / "run.json").is_file()
    return Prepared(
        _finetune(target, d / "out", "--json"),
        keep=(target,),
        needles=("1 run folder(s) (holding run.json)",),
        check=_expect(**{"data.labeled": 8}),
    )


def _run_folder_in_unlabeled(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    shutil.copytree(world.run, target / "unlabeled" / "old-run")
    _pool_count(target)
    return Prepared(
        _rank(world, target, "--json"), keep=(target,), needles=("1 run folder(s) (holding run.json)", _pool_of(5))
    )


def _out_inside_class(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    out = target / "train" / "class_0" / "my-run"
    return Prepared(
        _finetune(target, out),
        needles=("--out", str(out), "inside the train split"),
        keep=(target,),
        absent=(out, d / "cache" / "features"),
    )


def _eval_skips_run_folder(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    shutil.copytree(world.run, target / "test" / "class_1" / "old-run")
    return Prepared(["eval", world.run, "--data", target, "--json"], keep=(target,), check=_expect(images=4))


# --- overlap between splits ------------------------------------------------------------------------


def _unlabeled_is_target_root(world: World, d: Path) -> Prepared:
    out = d / "out"
    return Prepared(
        _finetune(world.target, out, "--unlabeled", world.target),
        needles=("the unlabeled split", "of the test split", "the same bytes", "000.png"),
        keep=(world.target,),
        absent=(out,),
    )


def _test_image_in_train(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    copy = target / "train" / "class_1" / "extra.png"
    shutil.copy(target / "test" / "class_0" / "001.png", copy)
    return Prepared(_rank(world, target), needles=("the train split", "of the test split", str(copy)), keep=(target,))


def _train_image_in_unlabeled(world: World, d: Path) -> Prepared:
    target = _target(world, d)
    shutil.copy(target / "train" / "class_0" / "000.png", target / "unlabeled" / "same.png")
    return Prepared(
        _rank(world, target, "--json"),
        keep=(target,),
        needles=("1 of the 5 unlabeled images are also labeled images of the train split",),
    )


# --- decoding ----------------------------------------------------------------------------------------


def _exif_rotated(world: World, d: Path) -> Prepared:
    """The same picture upright, stored sideways with EXIF "rotate 90", and sideways without the tag."""
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[:8] = (255, 0, 0)  # a red band along the top
    pixels[8:, :, 2] = np.linspace(0, 255, 32, dtype=np.uint8)  # a blue ramp from left to right
    upright = Image.fromarray(pixels)
    upright.save(d / "upright.png")
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view", as a phone held upright writes it
    sideways.save(d / "phone.png", exif=exif.tobytes())
    sideways.save(d / "sideways.png")

    def check(outcome: Outcome) -> None:
        probs = [dict(row["top"]) for row in _json(outcome)]
        assert all(abs(probs[0][k] - probs[1][k]) < 1e-6 for k in probs[0]), f"read sideways: {probs}"
        assert any(abs(probs[0][k] - probs[2][k]) > 1e-4 for k in probs[0]), f"the student ignores rotation: {probs}"

    return Prepared(
        ["predict", world.run, d / "upright.png", d / "phone.png", d / "sideways.png", "--top", "2", "--json"],
        check=check,
    )


def _bomb(world: World, d: Path, *extra) -> tuple[Path, Path]:
    target = _target(world, d)
    bomb = target / "train" / "class_0" / "huge.png"
    bomb.write_bytes(png_header(10_000, 10_000))  # 100 M pixels: Pillow's warning, not yet its error
    return target, bomb


def _no_raw_warning(outcome: Outcome) -> None:
    assert "DecompressionBombWarning" not in outcome.output and "Warning:" not in outcome.output, outcome.output


def _bomb_refused(world: World, d: Path) -> Prepared:
    target, bomb = _bomb(world, d)
    return Prepared(
        _rank(world, target),
        needles=(str(bomb), "100,000,000 pixels", "decompression bomb", "--skip-bad-images"),
        keep=(target,),
        check=_no_raw_warning,
    )


def _bomb_skipped(world: World, d: Path) -> Prepared:
    target, bomb = _bomb(world, d)

    def check(outcome: Outcome) -> None:
        _no_raw_warning(outcome)
        assert _json(outcome)["skipped_images"] == [str(bomb)] and _json(outcome)["labeled_images"] == 8

    return Prepared(_rank(world, target, "--json", "--skip-bad-images"), keep=(target,), check=check)


def _predict_bomb(world: World, d: Path) -> Prepared:
    bomb = d / "huge.png"
    bomb.write_bytes(png_header(10_000, 10_000))
    return Prepared(["predict", world.run, bomb], needles=(str(bomb), "decompression bomb"), check=_no_raw_warning)


CASES: list[Case] = [
    Case(
        "broken-link-class-folder",
        S_LOST,
        "a class folder that is a broken symlink",
        'Exit 2: "broken symbolic link ... -> ...: no such file or directory; fix or remove it" (the class was '
        "dropped silently).",
        _broken_link("train/class_2"),
    ),
    Case(
        "broken-link-image",
        S_LOST,
        "an image in a class folder that is a broken symlink",
        "Exit 2 naming the link, the same message (it was skipped silently).",
        _broken_link("train/class_0/x.png"),
    ),
    Case(
        "broken-link-unlabeled-folder",
        S_LOST,
        "a sub-folder of `unlabeled/` that is a broken symlink",
        "Exit 2 naming the link, before any training or --out.",
        _broken_link("unlabeled/more", "finetune"),
    ),
    Case(
        "unlabeled-linked-folder",
        S_LOST,
        "a symlinked sub-folder of `unlabeled/` (3 images)",
        "Exit 0: followed, its images are unlabeled images (4 + 3 + a copy of a labeled image that makes rank "
        "say how many: 8; they were skipped silently).",
        _linked_unlabeled_folder,
        code=0,
    ),
    Case(
        "unlabeled-symlink-loop",
        S_LOST,
        "links in `unlabeled/` to itself and to the target root",
        'Exit 0: each real folder is listed once and a link to the pool or above it is not followed; "2 linked '
        'folder(s) that loop or repeat a folder already listed" is reported.',
        _unlabeled_loop,
        code=0,
    ),
    Case(
        "other-extensions",
        S_LOST,
        "readable images named `.jfif`, `.jpe`, `.tga`, `.ico` (and a `notes.txt`)",
        "Exit 0: found (Pillow's registered extensions: 12 labeled images); the text file is left out and "
        'counted ("1 file(s) whose extension is not an image format Pillow reads, e.g. .../notes.txt").',
        _other_extensions,
        code=0,
    ),
    Case(
        "upper-case-extension",
        S_LOST,
        "an image named `IMG_0001.JPG`",
        "Exit 0: found (extensions match without case).",
        _upper_case_extension,
        code=0,
    ),
    Case(
        "run-folder-in-class",
        S_LOST,
        "a finished run (with its `curves.png`) inside `train/<class>/`",
        "Exit 0: a folder holding run.json is left out and counted; the next run does not train on curves.png "
        "(metrics.json: 8 labeled images).",
        _run_folder_in_class,
        code=0,
    ),
    Case(
        "run-folder-in-unlabeled",
        S_LOST,
        "a finished run inside `unlabeled/`",
        "Exit 0: left out and counted (4 unlabeled images, and the copy that makes rank count them).",
        _run_folder_in_unlabeled,
        code=0,
    ),
    Case(
        "out-inside-class-folder",
        S_LOST,
        "`--out` inside `train/<class>/`",
        'Exit 2 before any work: "--out ... is inside the train split ...: ... choose a folder outside the '
        "target's splits\".",
        _out_inside_class,
        subprocess=True,
    ),
    Case(
        "unlabeled-is-target-root",
        S_LOST,
        "`--unlabeled` pointing at the target root (it holds `test/`)",
        'Exit 2: "the unlabeled split ... holds 4 image(s) of the test split ... (the same bytes, e.g. ...): the '
        'test accuracy would be measured on images the student trained on" (it trained on test/ and reported '
        "its accuracy).",
        _unlabeled_is_target_root,
    ),
    Case(
        "test-image-in-train",
        S_LOST,
        "a test image copied under another name into `train/<class>/`",
        "Exit 2: the same refusal, naming the train split and the copy (found by content, blake2b).",
        _test_image_in_train,
    ),
    Case(
        "train-image-in-unlabeled",
        S_LOST,
        "a labeled image copied into `unlabeled/`",
        'Exit 0 with a note ("1 of the 5 unlabeled images are also labeled images of the train split"): usual '
        "and harmless, so not refused.",
        _train_image_in_unlabeled,
        code=0,
    ),
    Case(
        "exif-rotated-photo",
        S_LOST,
        "`predict` on a photo stored sideways with EXIF orientation 6",
        "Exit 0: read upright (EXIF orientation applied), the same probabilities as the upright picture; the "
        "same pixels without the tag give others.",
        _exif_rotated,
        code=0,
    ),
    Case(
        "fifo-named-jfif",
        S_MESSAGES,
        "a FIFO named `x.jfif` in a class folder",
        'Exit 0 at once: never opened; left out and counted ("1 special file(s) (FIFO, socket or device)").',
        _fifo("train/class_0/x.jfif"),
        code=0,
        subprocess=True,
    ),
    Case(
        "fifo-in-unlabeled",
        S_MESSAGES,
        "a FIFO named `u9.png` in `unlabeled/`",
        "Exit 0: left out and counted.",
        _fifo("unlabeled/u9.png"),
        code=0,
    ),
    Case(
        "eval-skips-run-folder",
        S_LOST,
        "`eval --data` whose `test/<class>/` holds a run folder",
        "Exit 0 on the 4 test images: the same discovery as training.",
        _eval_skips_run_folder,
        code=0,
    ),
    Case(
        "decompression-bomb",
        S_MESSAGES,
        "a 10000 x 10000 PNG (100 M pixels: Pillow's warning, not its error)",
        "Exit 2: \"... huge.png (it declares 100,000,000 pixels, more than Pillow's limit of 89,478,485 (a "
        'decompression bomb?)); ... --skip-bad-images"; no raw DecompressionBombWarning.',
        _bomb_refused,
        subprocess=True,
    ),
    Case(
        "decompression-bomb-skipped",
        S_MESSAGES,
        "the same PNG with `--skip-bad-images`",
        "Exit 0: skipped and counted (`skipped_images`), no raw warning.",
        _bomb_skipped,
        code=0,
    ),
    Case(
        "predict-decompression-bomb",
        S_MESSAGES,
        "`predict` on the same PNG",
        'Exit 2: "cannot read image ...huge.png: it declares 100,000,000 pixels ...".',
        _predict_bomb,
    ),
]

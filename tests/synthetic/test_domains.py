"""Synthetic domains: determinism, layout, label spaces, class signal, finite-pool sampling, writers."""

from __future__ import annotations

import hashlib
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from zoo_distill.synthetic import (
    DOMAINS,
    Domain,
    generate,
    pool_indices,
    sklearn_digits_indices,
    write_image_folder,
    write_unlabeled,
)

EXPECTED = {
    "digits": 10,
    "latin": 26,
    "greek": 24,
    "cyrillic": 20,
    "symbols": 12,
    "shapes": 8,
    "textures": 8,
    "shapes_on_textures": 8,
    "sklearn_digits": 10,
}
EXACT = {"digits", "latin", "greek", "cyrillic", "sklearn_digits"}


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def fg_map(images: np.ndarray) -> np.ndarray:
    """Colour-invariant foreground map: |grey - border median|, scaled to max 1 per image."""
    g = images.astype(np.float32).mean(-1)
    border = np.concatenate([g[:, 0], g[:, -1], g[:, :, 0], g[:, :, -1]], axis=1)
    d = np.abs(g - np.median(border, axis=1)[:, None, None])
    return d / (d.max(axis=(1, 2), keepdims=True) + 1e-6)


def test_label_spaces():
    assert set(EXPECTED) <= set(DOMAINS)
    for name, minimum in EXPECTED.items():
        d = DOMAINS[name]
        assert isinstance(d, Domain) and d.name == name and d.description
        assert d.num_classes == minimum if name in EXACT else d.num_classes >= minimum, name
        assert len(set(d.class_names)) == d.num_classes
        for c in d.class_names:
            assert re.fullmatch(r"[A-Za-z0-9_]+", c), (name, c)
    assert DOMAINS["shapes_on_textures"].class_names == DOMAINS["shapes"].class_names
    assert "arrow_left" in DOMAINS["symbols"].class_names and "alpha" in DOMAINS["greek"].class_names


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_deterministic_per_seed(name):
    a, la, na = generate(name, 3, seed=11)
    b, lb, nb = generate(name, 3, seed=11)
    c, _, _ = generate(name, 3, seed=12)
    assert digest(a) == digest(b) and digest(la) == digest(lb) and na == nb
    assert digest(a) != digest(c)
    # every image changes with the seed, not just some
    assert all(not np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_shapes_dtypes_and_counts(name):
    d = DOMAINS[name]
    images, labels, names = generate(name, 4, seed=0)
    assert images.dtype == np.uint8 and images.shape == (4 * d.num_classes, 32, 32, 3)
    assert labels.dtype == np.int64 and labels.shape == (4 * d.num_classes,)
    assert names == list(d.class_names)
    assert np.array_equal(np.bincount(labels, minlength=d.num_classes), np.full(d.num_classes, 4))
    assert labels.min() == 0 and labels.max() == d.num_classes - 1
    # no blank images: every image has visible structure
    assert (images.astype(np.float32).std(axis=(1, 2, 3)) > 8).all()


@pytest.mark.parametrize("name", ["digits", "shapes", "textures", "sklearn_digits", "symbols"])
def test_class_subsets_and_prefixes_reuse_the_same_samples(name):
    full, labels, names = generate(name, 3, seed=5)
    sub, sub_labels, sub_names = generate(name, 3, seed=5, classes=[3, names[2]])
    assert sub_names == [names[3], names[2]]
    assert list(sub_labels) == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(sub[:3], full[labels == 3]) and np.array_equal(sub[3:], full[labels == 2])
    fewer, fewer_labels, _ = generate(name, 2, seed=5)
    for k in range(len(names)):
        assert np.array_equal(fewer[fewer_labels == k], full[labels == k][:2])


def test_bad_arguments():
    with pytest.raises(KeyError, match="unknown synthetic domain"):
        generate("nope", 1, 0)
    for bad in (-1, 1.5, "3"):
        with pytest.raises(ValueError):
            generate("digits", 1, bad)
    with pytest.raises(ValueError):
        generate("digits", -2, 0)
    with pytest.raises(ValueError):
        generate("digits", 1, 0, classes=[10])
    with pytest.raises(ValueError):
        generate("digits", 1, 0, classes=[1, 1])
    with pytest.raises(ValueError, match="finite"):
        generate("digits", 1, 0, subset=[1, 2])
    images, labels, names = generate("digits", 0, 0)
    assert images.shape == (0, 32, 32, 3) and labels.shape == (0,) and len(names) == 10


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_classes_are_distinct(name):
    d = DOMAINS[name]
    # same random draws, different class: the class alone changes the picture
    for seed in range(2):
        renders = [d.render(np.random.default_rng(seed), k) for k in range(d.num_classes)]
        for i in range(d.num_classes):
            for j in range(i + 1, d.num_classes):
                changed = (np.abs(renders[i].astype(int) - renders[j].astype(int)).max(-1) > 40).sum()
                assert changed >= 8, (name, d.class_names[i], d.class_names[j], changed)
    # mean (colour-invariant) images of different classes differ more than noise would make them
    images, labels, _ = generate(name, 24, seed=1)
    maps = fg_map(images)
    means = np.stack([maps[labels == k].mean(0) for k in range(d.num_classes)])
    dist = np.sqrt(((means[:, None] - means[None]) ** 2).sum(axis=(2, 3)))
    off = dist[~np.eye(d.num_classes, dtype=bool)]
    assert off.min() > 0.3, (name, off.min())


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_learnable_by_a_linear_model(name):
    """Logistic regression on flattened pixels carries class signal well above chance.

    Raw RGB is useless to a linear model here (foreground/background colours and polarity are
    random per image: ~chance), so the pixels are the colour-invariant foreground map, 2x2-pooled
    to 16x16 to keep the fit fast.
    """
    from sklearn.linear_model import LogisticRegression

    def features(x):
        return fg_map(x).reshape(len(x), 16, 2, 16, 2).mean(axis=(2, 4)).reshape(len(x), -1)

    xtr, ytr, _ = generate(name, 40, seed=0, classes=range(10))
    xte, yte, _ = generate(name, 20, seed=1, classes=range(10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop at max_iter; fine for a sanity check
        clf = LogisticRegression(C=0.1, max_iter=100).fit(features(xtr), ytr)
    acc = clf.score(features(xte), yte)
    assert acc > 0.3, acc  # chance is 0.10; measured ~0.5 (shapes) and ~0.7 (digits)


# ----------------------------------------------------------------------------------- finite pools


def test_sklearn_digits_caps_and_never_repeats():
    from sklearn.datasets import load_digits

    real = np.bincount(load_digits().target)
    images, labels, _ = generate("sklearn_digits", 1000, seed=0, classes=[8, 1])
    assert list(np.bincount(labels)) == [real[8], real[1]]
    flat = {digest(x) for x in images}
    assert len(flat) == len(images)


def test_sklearn_digits_indices_are_disjoint_splits():
    splits = sklearn_digits_indices(0, {"train": 10, "test": 20, "unlabeled": None})
    assert splits == {} or set(splits) == {"train", "test", "unlabeled"}
    assert len(splits["train"]) == 100 and len(splits["test"]) == 200
    assert len(splits["unlabeled"]) == 1797 - 300
    all_ids = np.concatenate(list(splits.values()))
    assert len(np.unique(all_ids)) == 1797
    again = sklearn_digits_indices(0, {"train": 10, "test": 20, "unlabeled": None})
    other = sklearn_digits_indices(1, {"train": 10, "test": 20, "unlabeled": None})
    assert np.array_equal(again["train"], splits["train"]) and not np.array_equal(other["train"], splits["train"])
    images, labels, _ = generate("sklearn_digits", 50, seed=0, subset=splits["train"])
    assert np.array_equal(np.bincount(labels), np.full(10, 10))  # capped at the split's 10 per class
    with pytest.raises(ValueError, match="fewer than"):
        sklearn_digits_indices(0, {"train": 150, "test": 50})
    with pytest.raises(ValueError):
        sklearn_digits_indices(0, {"a": None, "b": None})
    with pytest.raises(ValueError, match="procedural"):
        pool_indices("digits", 0, {"train": 1})


@pytest.fixture
def fake_pool_domain(monkeypatch):
    """A finite domain whose images encode the drawn item id, to observe sampling directly."""
    pools = {0: np.arange(0, 30), 1: np.arange(30, 45)}

    def render_item(rng, item):
        return np.full((32, 32, 3), item, np.uint8)

    dom = Domain(
        "fake_pool",
        ("a", "b"),
        lambda rng, k: render_item(rng, int(rng.choice(pools[k]))),
        "test",
        pool=lambda k: pools[k],
        render_item=render_item,
    )
    monkeypatch.setitem(DOMAINS, "fake_pool", dom)
    return dom


def test_finite_sampling_without_replacement_and_disjoint_subsets(fake_pool_domain):
    images, labels, _ = generate("fake_pool", 100, seed=3)
    items = images[:, 0, 0, 0].astype(int)
    assert sorted(items[labels == 0]) == list(range(30)) and sorted(items[labels == 1]) == list(range(30, 45))
    splits = pool_indices("fake_pool", 3, {"train": 5, "test": None})
    tr, ltr, _ = generate("fake_pool", 100, seed=3, subset=splits["train"])
    te, lte, _ = generate("fake_pool", 100, seed=3, subset=splits["test"])
    tr_items, te_items = set(tr[:, 0, 0, 0].tolist()), set(te[:, 0, 0, 0].tolist())
    assert len(tr_items) == 10 and len(te_items) == 35 and not tr_items & te_items
    assert tr_items == set(splits["train"].tolist())
    part, _, _ = generate("fake_pool", 4, seed=3)
    assert np.array_equal(part[:4], images[:4])  # a smaller request draws a prefix


# -------------------------------------------------------------------------------------- writers


def test_write_image_folder_round_trips(tmp_path):
    images, labels, names = generate("greek", 2, seed=0, classes=["alpha", "omega", "phi"])
    paths = write_image_folder(tmp_path, "train", images, labels, names)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["alpha", "omega", "phi"]
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "train/alpha/00000.png",
        "train/alpha/00001.png",
        "train/omega/00002.png",
        "train/omega/00003.png",
        "train/phi/00004.png",
        "train/phi/00005.png",
    ]
    for path, img, y in zip(paths, images, labels):
        assert path.parent.name == names[y]
        with Image.open(path) as im:
            assert im.format == "PNG" and im.mode == "RGB"
            assert np.array_equal(np.asarray(im), img)

    unl = write_unlabeled(tmp_path, images[:3])
    assert [p.relative_to(tmp_path).as_posix() for p in unl] == [f"unlabeled/{i:05d}.png" for i in range(3)]
    with Image.open(unl[2]) as im:
        assert np.array_equal(np.asarray(im), images[2])


def test_write_image_folder_rejects_bad_input(tmp_path):
    images, labels, _ = generate("digits", 1, seed=0, classes=[0, 1])
    with pytest.raises(ValueError, match="filesystem-safe"):
        write_image_folder(tmp_path, "train", images, labels, ["a/b", "c"])
    with pytest.raises(ValueError):
        write_image_folder(tmp_path, "train", images, labels, ["\u03b1", "c"])
    with pytest.raises(ValueError):
        write_image_folder(tmp_path, "train", images, labels[:1], ["a", "b"])
    with pytest.raises(ValueError):
        write_image_folder(tmp_path, "train", images.astype(np.float32), labels, ["a", "b"])
    assert not (tmp_path / "train").exists()

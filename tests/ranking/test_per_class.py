import numpy as np
import pytest

from zoo_distill.plugin.returns import PluginOutputError
from zoo_distill.ranking.aggregators import nearest, weighted
from zoo_distill.ranking.metrics.leep import leep
from zoo_distill.ranking.per_class import (
    class_average_precision,
    class_leep,
    class_scores,
    class_weights,
    comparable_scores,
    effective_alpha,
    per_class_alpha,
)

LABELS = np.repeat(np.arange(4), 5)


def half_expert(labels: np.ndarray, known: set[int], seed: int) -> np.ndarray:
    """Features (or logits) that put each class in ``known`` on its own axis and every other image at
    random: a teacher that knows half of a two-domain task."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=1.0, size=(len(labels), 8))
    for i, y in enumerate(labels):
        if int(y) in known:
            x[i] = 0.05 * rng.normal(size=8)
            x[i, int(y)] += 10.0
    return x


def test_average_precision_is_one_for_a_class_the_features_gather_and_lower_for_mixed_ones():
    ap = class_average_precision(half_expert(LABELS, {0, 1}, seed=0), LABELS, 4)
    assert ap[0] == pytest.approx(1.0) and ap[1] == pytest.approx(1.0)
    assert ap[2] < 0.8 and ap[3] < 0.8


def test_average_precision_does_not_depend_on_the_feature_scale():
    x = half_expert(LABELS, {0, 1}, seed=0)
    assert np.allclose(class_average_precision(x, LABELS, 4), class_average_precision(1e4 * x, LABELS, 4))


def test_a_class_with_one_labeled_image_or_none_has_no_average_precision():
    labels = np.array([0, 0, 1, 2, 2])
    ap = class_average_precision(np.eye(5), labels, 4)
    assert np.isnan(ap[1]) and np.isnan(ap[3]) and np.isfinite(ap[0]) and np.isfinite(ap[2])


def test_class_leep_is_leep_split_by_class():
    logits = half_expert(LABELS, {0, 1}, seed=4)
    per_class = class_leep(logits, LABELS, 4)
    assert np.mean(per_class) == pytest.approx(leep(None, LABELS, logits))  # 5 images in every class
    assert per_class[0] > per_class[2] and per_class[1] > per_class[3]  # the head knows classes 0 and 1
    assert np.isnan(class_leep(logits[:10], LABELS[:10], 4)[3])


def test_leep_is_used_only_when_every_source_has_a_head():
    headed = class_scores(half_expert(LABELS, {0}, 0), half_expert(LABELS, {0}, 1), LABELS, 4)
    headless = class_scores(half_expert(LABELS, {1}, 2), None, LABELS, 4)
    assert set(headed) == {"average precision", "leep"} and set(headless) == {"average precision"}
    kind, scores = comparable_scores({"a": headed, "b": headed})
    assert kind == "leep" and np.allclose(scores["a"], headed["leep"])
    kind, scores = comparable_scores({"a": headed, "b": headless})
    assert kind == "average precision" and np.allclose(scores["b"], headless["average precision"])


def test_each_half_of_a_two_domain_task_goes_to_its_own_teacher():
    features = {
        "digits": half_expert(LABELS, {0, 1}, seed=1),
        "greek": half_expert(LABELS, {2, 3}, seed=2),
        "neither": half_expert(LABELS, set(), seed=3),
    }
    scores = {s: class_average_precision(f, LABELS, 4) for s, f in features.items()}
    fallback = {"digits": 0.0, "greek": 0.0, "neither": 1.0}  # a whole-task alpha that missed both experts
    picked = class_weights(scores, nearest, fallback)
    assert picked["digits"].tolist() == [1, 1, 0, 0] and picked["greek"].tolist() == [0, 0, 1, 1]
    assert picked["neither"].tolist() == [0, 0, 0, 0]
    mixed = class_weights(scores, weighted, fallback)
    assert np.all(mixed["digits"][:2] > 0.8) and np.all(mixed["greek"][2:] > 0.8)
    assert np.allclose(sum(mixed.values()), 1.0)  # every class's weights sum to 1


def test_a_class_some_source_cannot_be_scored_on_takes_the_whole_task_alpha():
    scores = {"a": np.array([0.9, 0.1, np.nan]), "b": np.array([0.1, 0.9, 0.5])}
    weights = class_weights(scores, nearest, {"a": 0.3, "b": 0.1})
    assert weights["a"].tolist() == pytest.approx([1.0, 0.0, 0.75])
    assert weights["b"].tolist() == pytest.approx([0.0, 1.0, 0.25])
    with pytest.raises(ValueError, match="fallback"):
        class_weights(scores, nearest, {"a": 0.0, "b": 0.0})


@pytest.mark.parametrize(
    "returned, says",
    [
        ({"a": 2.0, "b": -1.0}, "'b' is -1.0"),
        ([1.0, 0.0], "not a mapping"),
        ({"a": 1.0, "ghost": 0.0}, "'ghost'"),
        ({"a": 0.6, "b": 0.6}, "sum to"),
    ],
)
def test_what_the_aggregator_returns_per_class_is_checked_naming_the_class(returned, says):
    scores = {"a": np.array([0.9, 0.1]), "b": np.array([0.1, 0.9])}
    with pytest.raises(PluginOutputError, match=f"on class 0: .*{says}"):
        class_weights(scores, lambda _: returned, {"a": 0.5, "b": 0.5})


def test_effective_alpha_drops_sources_no_class_uses_and_reports_their_mean_weight():
    alpha, kept = effective_alpha(
        {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 0.9995]), "c": np.array([0.0, 0.0005])}, 1e-3
    )
    assert set(kept) == {"a", "b"} and np.allclose(kept["b"], [0.0, 1.0])
    assert alpha == pytest.approx({"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError, match="nothing to distill from"):
        effective_alpha({"a": np.zeros(2)}, 1e-3)


def test_ranking_scores_every_source_per_class_only_when_asked(digits_task, tmp_path):
    from zoo_distill.data.target import load_target
    from zoo_distill.features.cache import FeatureCache
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.ranking.rank import rank_sources
    from zoo_distill.zoo.file import load_zoo

    registry = get_registry()
    data, zoo = load_target(digits_task.target), list(load_zoo(digits_task.zoo, registry).entries.values())
    cache = FeatureCache(tmp_path / "cache")
    assert all(s.class_scores == {} for s in rank_sources(data, zoo, ["knn"], registry, cache).sources)
    ranked = {s.name: s.class_scores for s in rank_sources(data, zoo, ["knn"], registry, cache, per_class=True).sources}
    assert set(ranked) == {"digits-net", "textures-net"}
    for scores in ranked.values():
        assert set(scores) == {"average precision", "leep"} and len(scores["leep"]) == len(data.class_names)
    kind, table = comparable_scores(ranked)
    assert kind == "leep" and np.mean(table["digits-net"]) > np.mean(table["textures-net"])  # the related teacher


def test_features_that_tell_no_image_apart_score_low_on_every_class_not_high_on_the_first():
    ap = class_average_precision(np.ones((20, 4)), LABELS, 4)
    assert np.allclose(ap, ap[0]) and ap[0] < 0.25  # ties break against the class, whatever its index


def test_a_source_without_per_class_scores_sends_every_class_to_the_whole_task_alpha():
    good = {"average precision": [0.9, 0.2], "leep": [-0.1, -2.0]}
    kind, scores = comparable_scores({"a": good, "b": {}})  # b's per-class scoring failed
    assert kind == "average precision" and np.isnan(scores["b"]).all()
    weights = class_weights(scores, nearest, {"a": 0.25, "b": 0.75})
    assert weights["b"].tolist() == pytest.approx([0.75, 0.75])


def test_a_class_no_source_keeps_a_weight_on_is_an_error_not_a_class_without_distillation():
    with pytest.raises(ValueError, match=r"class\(es\) 1"):
        effective_alpha({"a": np.array([1.0, 0.0]), "b": np.array([0.0, 0.4]), "c": np.array([0.0, 0.6])}, 0.7)


def test_per_class_alpha_weighs_each_class_by_its_own_scores_and_checks_the_weights():
    scores = {"digits": {"leep": [-0.1, -3.0, float("nan")]}, "greek": {"leep": [-3.0, -0.1, float("nan")]}}
    kind, alpha, table = per_class_alpha(scores, nearest, {"digits": 0.25, "greek": 0.75}, 1e-3)
    assert kind == "leep"
    # class 2 has no scores: it takes the whole-task alpha
    assert table["digits"].tolist() == [1.0, 0.0, 0.25] and table["greek"].tolist() == [0.0, 1.0, 0.75]
    assert alpha == pytest.approx({"digits": 1.25 / 3, "greek": 1.75 / 3})
    with pytest.raises(ValueError, match="finite and >= 0 on every class"):
        per_class_alpha(scores, lambda s: {name: float("nan") for name in s}, {"digits": 0.5, "greek": 0.5}, 1e-3)
    with pytest.raises(ValueError, match="every source weight is zero"):
        per_class_alpha(scores, nearest, {"digits": 0.0, "greek": 0.0}, 1e-3)

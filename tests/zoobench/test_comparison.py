"""A comparison's method is an override dict: every method shares one student and one budget, and
what a dict leaves out is pure distillation whatever ``run``'s defaults are."""

from pathlib import Path

import pytest

from zoo_distill.errors import ConfigError
from zoo_distill.zoobench.build import ZoobenchBuild
from zoo_distill.zoobench.comparison import Budget, comparison_spec, method_label, normalized

W = {"aggregator": "weighted"}
N = {"aggregator": "nearest"}
SINGLE = {"aggregator": "nearest", "sources": ["shapes-net"]}
SUBSET = {"aggregator": "uniform", "sources": ["shapes-net", "digits-net"]}
JOINT = {"unlabeled_loss": "fixmatch-teachers", "teacher_probe": "joint"}
DEFAULT = {**W, **JOINT, "feature_space": "class"}


@pytest.fixture
def build(tmp_path):
    return ZoobenchBuild(tmp_path, tmp_path / "zoo.yaml", {"test_resnet": tmp_path / "generic"}, {})


def spec(method, build, budget=None, seed=0):
    return comparison_spec(method, build, "test_resnet", seed, budget or Budget())


def opt(s, key):
    return s.method_options[key]


def test_every_method_shares_one_student_and_one_budget(build):
    budget = Budget(epochs=7, aggregator_options={"temperature": 2.0})
    methods = {"ft": {"method": "finetune"}, "fm": {"method": "fixmatch"}, "w": W, "n": N, "single": SINGLE}
    specs = {k: spec(m, build, budget, seed=3) for k, m in {**methods, "subset": SUBSET}.items()}
    assert {
        (s.student, s.student_init, s.train.epochs, s.train.seed, s.train.batch_size, s.train.mu)
        for s in specs.values()
    } == {("test_resnet", str(Path(build.root) / "generic"), 7, 3, 32, 2)}
    assert (specs["ft"].method, specs["fm"].method, specs["ft"].method_options) == ("finetune", "fixmatch", {})
    assert specs["w"].aggregator_options == {"temperature": 2.0}
    assert specs["subset"].aggregator_options == {}  # options belong to DistillWeighted only
    assert (specs["single"].aggregator, specs["single"].sources) == ("nearest", ["shapes-net"])
    assert (specs["subset"].aggregator, specs["subset"].sources) == ("uniform", ["shapes-net", "digits-net"])


def test_what_a_dict_leaves_out_is_pure_distillation_whatever_the_default(build):
    for default in ("none", "fixmatch", "fixmatch-teachers"):  # run's default may change; the columns must not
        budget = Budget(distill={"unlabeled_loss": default, "teacher_probe": "joint", "feature_space": "class"})
        for method in (W, N, SINGLE, SUBSET):
            s = spec(method, build, budget)
            assert (opt(s, "unlabeled_loss"), opt(s, "teacher_probe"), opt(s, "feature_space")) == (
                "none",
                "mixture",
                "full",
            )
        assert opt(spec({**W, "unlabeled_loss": "fixmatch"}, build, budget), "unlabeled_loss") == "fixmatch"
    s = spec(DEFAULT, build)
    assert (opt(s, "unlabeled_loss"), opt(s, "teacher_probe"), opt(s, "feature_space")) == (
        "fixmatch-teachers",
        "joint",
        "class",
    )
    budget = Budget(distill={"source_weights": "class", "lam": 3.0})  # fixed sources stay one weight per source
    assert opt(spec(SINGLE, build, budget), "source_weights") == "task" and opt(spec(W, build, budget), "lam") == 3.0
    assert opt(spec(W, build, budget), "source_weights") == "class"


def test_nearest_ranks_by_the_ranking_metric_and_the_rest_are_fed_the_weighting_metric(build):
    budget = Budget(metric="weigh-by", ranking_metric="rank-by")
    metric = {k: spec(m, build, budget).metric for k, m in {"n": N, "w": W, "single": SINGLE, "subset": SUBSET}.items()}
    assert metric == {"n": "rank-by", "w": "weigh-by", "single": "weigh-by", "subset": "weigh-by"}
    assert spec({**N, "unlabeled_loss": "fixmatch"}, build, budget).metric == "rank-by"


def test_bad_methods_are_refused_naming_what_is_wrong(build):
    with pytest.raises(ValueError, match="bogus"):
        spec({"method": "bogus"}, build)
    with pytest.raises(ValueError, match="aggregator"):
        spec({"unlabeled_loss": "fixmatch"}, build)
    with pytest.raises(ValueError, match="takes no options"):
        spec({"method": "finetune", "lam": 3.0}, build)
    with pytest.raises(TypeError, match="agreement"):  # a retired option is no option
        spec({**W, "agreement": 0.5}, build)
    with pytest.raises(ConfigError, match="--method-opt lam"):  # a budget's options are validated when used
        spec(W, build, Budget(distill={"lam": -1.0}))


def test_normalized_drops_what_restates_a_comparisons_run():
    assert normalized({"aggregator": "weighted", "unlabeled_loss": "none", "sources": []}) == W
    assert normalized({"method": "distill", "feature_space": "class", "aggregator": "nearest"}) == {
        "aggregator": "nearest",
        "feature_space": "class",
    }


@pytest.mark.parametrize(
    ("method", "label"),
    [
        ({"method": "finetune"}, "fine-tune"),
        ({"method": "fixmatch"}, "FixMatch"),
        (W, "DistillWeighted"),
        ({**N, "source_weights": "class"}, "DistillNearest per class"),
        ({**W, "unlabeled_loss": "fixmatch"}, "DistillWeighted + FixMatch"),
        ({**W, "unlabeled_loss": "fixmatch-teachers"}, "DistillWeighted + FixMatch with teacher probes"),
        ({**W, **JOINT}, "DistillWeighted + FixMatch with a joint teacher probe"),
        (DEFAULT, "DistillWeighted + FixMatch, joint probe, class subspace"),
        (SUBSET, "uniform on shapes-net, digits-net"),
        ({**W, "lam": 3.0}, "DistillWeighted, lam 3.0"),
    ],
)
def test_one_function_labels_every_method(method, label):
    assert method_label(method) == label


def test_open_workspace_reuses_a_built_zoo(tiny_zoobench):
    from zoo_distill.zoobench.workspace import open_workspace

    from .conftest import tiny_settings

    build, zoo, _registry, cache = open_workspace(tiny_zoobench.root, tiny_settings())
    assert build.built == [] and build.zoo == tiny_zoobench.zoo
    assert set(zoo.entries) == {"digits-net", "shapes-net"}  # the zoo file's entries only, no plugins'
    assert cache.root == Path(tiny_zoobench.root) / "cache"

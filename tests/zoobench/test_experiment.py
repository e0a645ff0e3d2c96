import json
import re
from pathlib import Path

import pytest

from zoo_distill.errors import ConfigError
from zoo_distill.training.config import DistillConfig
from zoo_distill.zoobench.build import ZoobenchBuild
from zoo_distill.zoobench.experiment import Budget, method_spec, run_signature


@pytest.fixture
def build(tmp_path):
    """A build with stand-in weight files: the signature digests their bytes, nothing loads them."""
    (tmp_path / "generic").mkdir()
    (tmp_path / "generic" / "model.safetensors").write_bytes(b"generic start")
    (tmp_path / "teachers").mkdir()
    (tmp_path / "teachers" / "a.safetensors").write_bytes(b"teacher a")
    (tmp_path / "zoo.yaml").write_text("version: 1\nsources:\n- {name: a-net, weights: teachers/a.safetensors}\n")
    return ZoobenchBuild(tmp_path, tmp_path / "zoo.yaml", {"test_resnet": tmp_path / "generic"}, {})


def test_every_method_shares_one_student_and_one_budget(build):
    budget = Budget(epochs=7, aggregator_options={"temperature": 2.0})
    specs = {m: method_spec(m, build, "test_resnet", 3, budget)
             for m in ("finetune", "fixmatch", "nearest", "weighted", "uniform", "single:shapes-net",
                       "subset:shapes-net,digits-net")}
    assert {(s.student, s.student_init, s.train.epochs, s.train.seed, s.train.batch_size, s.train.mu)
            for s in specs.values()} == {("test_resnet", str(Path(build.root) / "generic"), 7, 3, 32, 2)}
    assert [specs[m].method for m in ("finetune", "fixmatch")] == ["finetune", "fixmatch"]
    assert specs["weighted"].aggregator_options == {"temperature": 2.0}
    assert specs["uniform"].aggregator_options == {}  # options belong to DistillWeighted only
    single = specs["single:shapes-net"]
    assert (single.method, single.aggregator, single.sources) == ("distill", "nearest", ["shapes-net"])
    subset = specs["subset:shapes-net,digits-net"]
    assert (subset.aggregator, subset.sources) == ("uniform", ["shapes-net", "digits-net"])


def test_table_columns_say_whether_consistency_is_on_whatever_the_default(build):
    from dataclasses import replace

    from zoo_distill.training.config import DistillConfig

    for default in ("none", "fixmatch", "fixmatch-teachers"):  # run's default may change; the columns must not
        budget = Budget(distill=replace(DistillConfig(), unlabeled_loss=default))
        loss = {m: method_spec(m, build, "test_resnet", 0, budget).distill.unlabeled_loss
                for m in ("weighted", "nearest", "uniform", "single:shapes-net", "subset:a,b",
                          "weighted+fixmatch", "nearest+fixmatch")}
        assert loss == {"weighted": "none", "nearest": "none", "uniform": "none", "single:shapes-net": "none",
                        "subset:a,b": "none", "weighted+fixmatch": "fixmatch", "nearest+fixmatch": "fixmatch"}


def test_the_suffix_names_the_unlabeled_loss(build):
    spec = method_spec("weighted+fixmatch-teachers", build, "test_resnet", 0, Budget())
    assert (spec.aggregator, spec.distill.unlabeled_loss, spec.distill.teacher_probe) == (
        "weighted", "fixmatch-teachers", "mixture")
    joint = method_spec("weighted+fixmatch-teachers-joint", build, "test_resnet", 0, Budget())
    assert (joint.distill.unlabeled_loss, joint.distill.teacher_probe) == ("fixmatch-teachers", "joint")
    # the columns name their probe whatever run's default is, and runs without probes keep the neutral value
    budget = Budget(distill=DistillConfig(teacher_probe="joint"))
    assert method_spec("weighted+fixmatch-teachers", build, "test_resnet", 0, budget).distill.teacher_probe == "mixture"
    assert {method_spec(m, build, "test_resnet", 0, budget).distill.teacher_probe
            for m in ("finetune", "weighted", "single:a", "weighted+fixmatch")} == {"mixture"}
    subspace = method_spec("weighted+fixmatch-teachers-joint-subspace", build, "test_resnet", 0, Budget())
    assert (subspace.distill.teacher_probe, subspace.distill.feature_space) == ("joint", "class")
    assert method_spec("nearest-subspace", build, "test_resnet", 0, Budget()).distill.feature_space == "class"
    equal = method_spec("weighted+fixmatch-teachers-joint-equal-subspace", build, "test_resnet", 0, Budget())
    assert (equal.distill.teacher_probe, equal.distill.feature_space) == ("joint-equal", "class")
    with pytest.raises(ValueError, match="unknown method"):  # equal blocks are a joint probe's
        method_spec("weighted+fixmatch-teachers-equal", build, "test_resnet", 0, Budget())
    gated = method_spec("weighted+fixmatch-teachers-joint-subspace-agree", build, "test_resnet", 0, Budget())
    assert (gated.distill.feature_space, gated.distill.feature_gate) == ("class", "agreement")
    assert subspace.distill.feature_gate == "none"
    # a gate needs the subspace: the name without it is refused with the option at fault
    with pytest.raises(ConfigError, match="--feature-gate agreement"):
        method_spec("weighted+fixmatch-teachers-joint-agree", build, "test_resnet", 0, Budget())
    # and every other column distills the full features, whatever run's default is
    budget = Budget(distill=DistillConfig(feature_space="class", feature_gate="agreement"))
    assert {(method_spec(m, build, "test_resnet", 0, budget).distill.feature_space,
             method_spec(m, build, "test_resnet", 0, budget).distill.feature_gate)
            for m in ("finetune", "weighted", "single:a", "weighted+fixmatch-teachers-joint")} == {("full", "none")}
    assert method_spec("weighted+fixmatch-teachers-joint-subspace", build, "test_resnet", 0,
                       budget).distill.feature_gate == "none"
    for bogus in ("weighted+bogus", "weighted+none", "bogus+fixmatch", "weighted+fixmatch-joint", "weighted-joint",
                  "weighted-subspace-class", "fixmatch-subspace"):
        with pytest.raises(ValueError, match="unknown method"):
            method_spec(bogus, build, "test_resnet", 0, Budget())


def test_nearest_picks_by_the_ranking_metric_and_the_rest_are_fed_the_weighting_metric(build):
    budget = Budget(metric="weigh-by", ranking_metric="rank-by")
    metric = {m: method_spec(m, build, "test_resnet", 0, budget).metric
              for m in ("nearest", "nearest+fixmatch", "weighted", "weighted+fixmatch", "uniform", "single:a")}
    assert metric == {"nearest": "rank-by", "nearest+fixmatch": "rank-by", "weighted": "weigh-by",
                      "weighted+fixmatch": "weigh-by", "uniform": "weigh-by", "single:a": "weigh-by"}


def test_class_suffix_weighs_the_sources_per_class_and_composes_with_consistency(build):
    specs = {m: method_spec(m, build, "test_resnet", 0, Budget())
             for m in ("weighted", "weighted-class", "weighted-class+fixmatch", "nearest-class", "single:a")}
    assert {m: (s.aggregator, s.distill.source_weights, s.distill.unlabeled_loss) for m, s in specs.items()} == {
        "weighted": ("weighted", "task", "none"), "weighted-class": ("weighted", "class", "none"),
        "weighted-class+fixmatch": ("weighted", "class", "fixmatch"), "nearest-class": ("nearest", "class", "none"),
        "single:a": ("nearest", "task", "none")}
    budget = Budget(distill=DistillConfig(source_weights="class"))  # single runs stay one weight per source
    assert method_spec("single:a", build, "test_resnet", 0, budget).distill.source_weights == "task"
    with pytest.raises(ValueError, match="bogus-class"):
        method_spec("bogus-class", build, "test_resnet", 0, Budget())


def test_signatures_of_one_weight_per_source_are_those_kept_before_per_class_weights_existed(build):
    from zoo_distill.plugin.manager import get_registry

    registry = get_registry()
    task = run_signature("weighted", build, "test_resnet", 0, Budget(), registry)
    assert "source_weights" not in task["distill"]  # kept runs signed before the field still match
    per_class = run_signature("weighted-class", build, "test_resnet", 0, Budget(), registry)
    assert per_class["distill"]["source_weights"] == "class"
    assert {k: v for k, v in per_class["distill"].items() if k != "source_weights"} == task["distill"]


def test_unknown_method_is_named(build):
    with pytest.raises(ValueError, match="bogus"):
        method_spec("bogus", build, "test_resnet", 0, Budget())


def test_signature_sees_effective_aggregator_options(build):
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.zoobench.experiment import run_signature

    registry = get_registry()
    default = run_signature("weighted", build, "test_resnet", 0, Budget(), registry)
    explicit = run_signature("weighted", build, "test_resnet", 0,
                             Budget(aggregator_options={"temperature": 0.5, "top_k": 0}), registry)
    assert default == explicit and default["aggregator_options"] == {"temperature": 0.5, "top_k": 0}
    assert run_signature("weighted", build, "test_resnet", 0, Budget(aggregator_options={"temperature": 2.0}),
                         registry) != default
    assert run_signature("weighted", build, "test_resnet", 1, Budget(), registry) != default
    # kept files are committed: the signature names the student's start relative to the zoo root
    assert default["student_init"] == "generic" and str(build.root) not in json.dumps(default)


@pytest.mark.parametrize("weights", ["generic/model.safetensors", "teachers/a.safetensors"])
def test_signature_changes_with_the_zoo_build(build, weights):
    """Training is not bit-reproducible across CPUs: a rebuilt zoo with other weights must not
    reuse the runs kept on the first build, even with every setting equal."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.zoobench.experiment import run_signature

    registry = get_registry()
    before = {m: run_signature(m, build, "test_resnet", 0, Budget(), registry) for m in ("finetune", "weighted")}
    (build.root / weights).write_bytes(b"retrained elsewhere")
    after = {m: run_signature(m, build, "test_resnet", 0, Budget(), registry) for m in ("finetune", "weighted")}
    for method in before:
        assert before[method]["zoo_weights"] != after[method]["zoo_weights"]
        assert {k: v for k, v in before[method].items() if k != "zoo_weights"} == \
               {k: v for k, v in after[method].items() if k != "zoo_weights"}


def test_open_workspace_reuses_a_built_zoo(tiny_zoobench):
    from zoo_distill.zoobench import experiment

    from .conftest import tiny_settings

    build, zoo, _registry, cache = experiment.open_workspace(tiny_zoobench.root, tiny_settings())
    assert build.built == [] and build.zoo == tiny_zoobench.zoo
    assert set(zoo.entries) == {"digits-net", "shapes-net"}  # the zoo file's entries only, no plugins'
    assert cache.root == Path(tiny_zoobench.root) / "cache"


def test_run_or_reuse_trains_once_per_signature(tiny_zoobench, tmp_path, monkeypatch):
    from zoo_distill.features.cache import FeatureCache
    from zoo_distill.zoobench import experiment

    from .conftest import tiny_settings

    _, zoo, registry, _ = experiment.open_workspace(tiny_zoobench.root, tiny_settings())
    data = experiment.load_split(tiny_zoobench, "shapes-on-textures", "2shot-s0")
    trained = []
    real = experiment.run_method
    monkeypatch.setattr(experiment, "run_method", lambda method, *a: trained.append(method) or real(method, *a))
    kept = tmp_path / "kept.json"

    def go(budget):
        return experiment.run_or_reuse("weighted", data, tiny_zoobench, zoo, registry, FeatureCache(tmp_path / "c"),
                                       kept, tmp_path / "scratch", "test_resnet", 0, budget)

    first = go(Budget(epochs=1))
    assert go(Budget(epochs=1)) == first and trained == ["weighted"]
    assert 0.0 <= first["accuracy"] <= 1.0 and sum(first["alpha"].values()) == pytest.approx(1.0)
    # what a benchmark publishes names no folder of the machine; the kept file still has the signature
    assert "signature" not in first and first["student"]["init"] == "generic/test_resnet"
    assert "signature" in json.loads(kept.read_text())
    assert str(tiny_zoobench.root) not in kept.read_text()
    go(Budget(epochs=2))  # another setting: trained again, not read back
    assert trained == ["weighted", "weighted"]


def test_signature_names_the_build_it_is_given(build):
    """A caller that hashed the build once passes its digest; a report of another machine's runs
    names that machine's build, and everything else in the signature stays this build's."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.zoobench.build import weights_digest
    from zoo_distill.zoobench.experiment import run_signature

    registry = get_registry()
    own = run_signature("weighted", build, "test_resnet", 0, Budget(), registry)
    assert own["zoo_weights"] == weights_digest(build)
    assert run_signature("weighted", build, "test_resnet", 0, Budget(), registry, weights_digest(build)) == own
    other = run_signature("weighted", build, "test_resnet", 0, Budget(), registry, "abc123")
    assert other == {**own, "zoo_weights": "abc123"}


def test_a_subset_takes_a_recipe_after_plus_and_keeps_its_sources(build):
    budget = Budget()
    subset = method_spec("subset:shapes-net,digits-net+fixmatch-teachers-joint-subspace", build, "test_resnet", 0,
                         budget)
    default = method_spec("uniform+fixmatch-teachers-joint-subspace", build, "test_resnet", 0, budget)
    assert (subset.aggregator, subset.sources) == ("uniform", ["shapes-net", "digits-net"])
    assert subset.distill == default.distill  # the same recipe as the uniform column, on the sources named
    assert (subset.distill.unlabeled_loss, subset.distill.teacher_probe, subset.distill.feature_space) == (
        "fixmatch-teachers", "joint", "class")
    pure = method_spec("subset:shapes-net,digits-net", build, "test_resnet", 0, budget)
    assert pure.distill.unlabeled_loss == "none" and pure.distill.feature_space == "full"  # kept runs unchanged
    for bad in ("subset:a,b+", "subset:a,b+nonsense"):
        with pytest.raises(ValueError, match=re.escape(f"unknown method '{bad}'")):
            method_spec(bad, build, "test_resnet", 0, budget)


def test_class_mean_names_one_weight_per_source_from_the_per_class_weights(build):
    spec = method_spec("weighted-class-mean+fixmatch-teachers-joint-subspace", build, "test_resnet", 0, Budget())
    assert (spec.aggregator, spec.distill.source_weights, spec.distill.teacher_probe, spec.distill.feature_space) == (
        "weighted", "class-mean", "joint", "class")
    assert method_spec("weighted-class+fixmatch", build, "test_resnet", 0, Budget()).distill.source_weights == "class"
    from zoo_distill.zoobench.tables import nearest_counterpart, table_method

    assert table_method("distill", "weighted", "fixmatch-teachers", "class-mean", "joint", "class") == \
        "weighted-class-mean+fixmatch-teachers-joint-subspace"
    assert nearest_counterpart("weighted-class-mean+fixmatch-teachers-joint-subspace") is None


def test_each_zoo_seed_has_its_own_folder_beside_the_feature_cache(tmp_path, monkeypatch):
    from zoo_distill.zoobench.experiment import default_root, full_root

    monkeypatch.setenv("ZOO_DISTILL_CACHE", str(tmp_path))
    assert full_root() == full_root(0) == tmp_path / "zoobench" / "full"  # the reported zoo
    assert full_root(1) == tmp_path / "zoobench" / "full-seed1"  # the zoo defaults are chosen on
    assert default_root() == tmp_path / "zoobench" / "mini"  # the demo's

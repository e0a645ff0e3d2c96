import json
import re
from pathlib import Path

import pytest

from zoo_distill.errors import ConfigError
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
    specs = {
        m: method_spec(m, build, "test_resnet", 3, budget)
        for m in (
            "finetune",
            "fixmatch",
            "nearest",
            "weighted",
            "uniform",
            "single:shapes-net",
            "subset:shapes-net,digits-net",
        )
    }
    assert {
        (s.student, s.student_init, s.train.epochs, s.train.seed, s.train.batch_size, s.train.mu)
        for s in specs.values()
    } == {("test_resnet", str(Path(build.root) / "generic"), 7, 3, 32, 2)}
    assert [specs[m].method for m in ("finetune", "fixmatch")] == ["finetune", "fixmatch"]
    assert specs["weighted"].aggregator_options == {"temperature": 2.0}
    assert specs["uniform"].aggregator_options == {}  # options belong to DistillWeighted only
    single = specs["single:shapes-net"]
    assert (single.method, single.aggregator, single.sources) == ("distill", "nearest", ["shapes-net"])
    subset = specs["subset:shapes-net,digits-net"]
    assert (subset.aggregator, subset.sources) == ("uniform", ["shapes-net", "digits-net"])


def opt(spec, key: str):
    """One of a run spec's method options (plain data: what run.json records)."""
    return spec.method_options[key]


def test_table_columns_say_whether_consistency_is_on_whatever_the_default(build):
    for default in ("none", "fixmatch", "fixmatch-teachers"):  # run's default may change; the columns must not
        budget = Budget(distill={"unlabeled_loss": default})
        loss = {
            m: opt(method_spec(m, build, "test_resnet", 0, budget), "unlabeled_loss")
            for m in (
                "weighted",
                "nearest",
                "uniform",
                "single:shapes-net",
                "subset:a,b",
                "weighted+fixmatch",
                "nearest+fixmatch",
            )
        }
        assert loss == {
            "weighted": "none",
            "nearest": "none",
            "uniform": "none",
            "single:shapes-net": "none",
            "subset:a,b": "none",
            "weighted+fixmatch": "fixmatch",
            "nearest+fixmatch": "fixmatch",
        }


def test_the_suffix_names_the_unlabeled_loss(build):
    spec = method_spec("weighted+fixmatch-teachers", build, "test_resnet", 0, Budget())
    assert (spec.aggregator, opt(spec, "unlabeled_loss"), opt(spec, "teacher_probe")) == (
        "weighted",
        "fixmatch-teachers",
        "mixture",
    )
    joint = method_spec("weighted+fixmatch-teachers-joint", build, "test_resnet", 0, Budget())
    assert (opt(joint, "unlabeled_loss"), opt(joint, "teacher_probe")) == ("fixmatch-teachers", "joint")
    # the columns name their probe whatever run's default is, and runs without probes keep the neutral value
    budget = Budget(distill={"teacher_probe": "joint"})
    assert opt(method_spec("weighted+fixmatch-teachers", build, "test_resnet", 0, budget), "teacher_probe") == "mixture"
    assert {
        opt(method_spec(m, build, "test_resnet", 0, budget), "teacher_probe")
        for m in ("weighted", "single:a", "weighted+fixmatch")
    } == {"mixture"}
    assert method_spec("finetune", build, "test_resnet", 0, budget).method_options == {}
    subspace = method_spec("weighted+fixmatch-teachers-joint-subspace", build, "test_resnet", 0, Budget())
    assert (opt(subspace, "teacher_probe"), opt(subspace, "feature_space")) == ("joint", "class")
    assert opt(method_spec("nearest-subspace", build, "test_resnet", 0, Budget()), "feature_space") == "class"
    # and every other column distills the full features, whatever run's default is
    budget = Budget(distill={"feature_space": "class"})
    assert {
        opt(method_spec(m, build, "test_resnet", 0, budget), "feature_space")
        for m in ("weighted", "single:a", "weighted+fixmatch-teachers-joint")
    } == {"full"}
    # names of retired options (equal probe blocks, the agreement gate, class-mean weights) are no methods
    for bogus in (
        "weighted+bogus",
        "weighted+none",
        "bogus+fixmatch",
        "weighted+fixmatch-joint",
        "weighted-joint",
        "weighted-subspace-class",
        "fixmatch-subspace",
        "weighted+fixmatch-teachers-joint-equal-subspace",
        "weighted+fixmatch-teachers-joint-subspace-agree",
        "weighted-class-mean+fixmatch-teachers-joint",
    ):
        with pytest.raises(ValueError, match="unknown method"):
            method_spec(bogus, build, "test_resnet", 0, Budget())
    with pytest.raises(ConfigError, match="--method-opt lam"):  # a budget's options are validated when used
        method_spec("weighted", build, "test_resnet", 0, Budget(distill={"lam": -1.0}))


def test_nearest_picks_by_the_ranking_metric_and_the_rest_are_fed_the_weighting_metric(build):
    budget = Budget(metric="weigh-by", ranking_metric="rank-by")
    metric = {
        m: method_spec(m, build, "test_resnet", 0, budget).metric
        for m in ("nearest", "nearest+fixmatch", "weighted", "weighted+fixmatch", "uniform", "single:a")
    }
    assert metric == {
        "nearest": "rank-by",
        "nearest+fixmatch": "rank-by",
        "weighted": "weigh-by",
        "weighted+fixmatch": "weigh-by",
        "uniform": "weigh-by",
        "single:a": "weigh-by",
    }


def test_class_suffix_weighs_the_sources_per_class_and_composes_with_consistency(build):
    specs = {
        m: method_spec(m, build, "test_resnet", 0, Budget())
        for m in ("weighted", "weighted-class", "weighted-class+fixmatch", "nearest-class", "single:a")
    }
    assert {m: (s.aggregator, opt(s, "source_weights"), opt(s, "unlabeled_loss")) for m, s in specs.items()} == {
        "weighted": ("weighted", "task", "none"),
        "weighted-class": ("weighted", "class", "none"),
        "weighted-class+fixmatch": ("weighted", "class", "fixmatch"),
        "nearest-class": ("nearest", "class", "none"),
        "single:a": ("nearest", "task", "none"),
    }
    budget = Budget(distill={"source_weights": "class"})  # single runs stay one weight per source
    assert opt(method_spec("single:a", build, "test_resnet", 0, budget), "source_weights") == "task"
    with pytest.raises(ValueError, match="bogus-class"):
        method_spec("bogus-class", build, "test_resnet", 0, Budget())


def test_signatures_hold_every_method_option_and_differ_by_what_the_name_changes(build):
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.training.methods.options import DistillOptions, FixMatchOptions

    registry = get_registry()
    task = run_signature("weighted", build, "test_resnet", 0, Budget(), registry)
    assert set(task["method_options"]) == set(DistillOptions.__dataclass_fields__)  # defaults included
    per_class = run_signature("weighted-class", build, "test_resnet", 0, Budget(), registry)
    assert per_class["method_options"]["source_weights"] == "class"
    assert {k: v for k, v in per_class["method_options"].items() if k != "source_weights"} == {
        k: v for k, v in task["method_options"].items() if k != "source_weights"
    }
    baseline = run_signature("fixmatch", build, "test_resnet", 0, Budget(), registry)
    assert set(baseline["method_options"]) == set(FixMatchOptions.__dataclass_fields__)


def test_unknown_method_is_named(build):
    with pytest.raises(ValueError, match="bogus"):
        method_spec("bogus", build, "test_resnet", 0, Budget())


def test_signature_sees_effective_aggregator_options(build):
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.zoobench.experiment import run_signature

    registry = get_registry()
    default = run_signature("weighted", build, "test_resnet", 0, Budget(), registry)
    explicit = run_signature(
        "weighted", build, "test_resnet", 0, Budget(aggregator_options={"temperature": 0.5, "top_k": 0}), registry
    )
    assert default == explicit and default["aggregator_options"] == {"temperature": 0.5, "top_k": 0}
    assert (
        run_signature("weighted", build, "test_resnet", 0, Budget(aggregator_options={"temperature": 2.0}), registry)
        != default
    )
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
        assert {k: v for k, v in before[method].items() if k != "zoo_weights"} == {
            k: v for k, v in after[method].items() if k != "zoo_weights"
        }


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
        return experiment.run_or_reuse(
            "weighted",
            data,
            tiny_zoobench,
            zoo,
            registry,
            FeatureCache(tmp_path / "c"),
            kept,
            tmp_path / "scratch",
            "test_resnet",
            0,
            budget,
        )

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
    subset = method_spec(
        "subset:shapes-net,digits-net+fixmatch-teachers-joint-subspace", build, "test_resnet", 0, budget
    )
    default = method_spec("uniform+fixmatch-teachers-joint-subspace", build, "test_resnet", 0, budget)
    assert (subset.aggregator, subset.sources) == ("uniform", ["shapes-net", "digits-net"])
    assert subset.method_options == default.method_options  # the uniform column's recipe, on the sources named
    assert (opt(subset, "unlabeled_loss"), opt(subset, "teacher_probe"), opt(subset, "feature_space")) == (
        "fixmatch-teachers",
        "joint",
        "class",
    )
    pure = method_spec("subset:shapes-net,digits-net", build, "test_resnet", 0, budget)
    assert opt(pure, "unlabeled_loss") == "none" and opt(pure, "feature_space") == "full"
    for bad in ("subset:a,b+", "subset:a,b+nonsense"):
        with pytest.raises(ValueError, match=re.escape(f"unknown method '{bad}'")):
            method_spec(bad, build, "test_resnet", 0, budget)


def test_each_zoo_seed_has_its_own_folder_beside_the_feature_cache(tmp_path, monkeypatch):
    from zoo_distill.zoobench.experiment import default_root, full_root

    monkeypatch.setenv("ZOO_DISTILL_CACHE", str(tmp_path))
    assert full_root() == full_root(0) == tmp_path / "zoobench" / "full"  # the reported zoo
    assert full_root(1) == tmp_path / "zoobench" / "full-seed1"  # the zoo defaults are chosen on
    assert default_root() == tmp_path / "zoobench" / "mini"  # the demo's

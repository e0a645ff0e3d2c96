import json

import pytest

from benchmarks.harness.kept import run_signature
from zoo_distill.zoobench.build import ZoobenchBuild
from zoo_distill.zoobench.comparison import Budget

from .conftest import tiny_settings


@pytest.fixture
def build(tmp_path):
    """A build with stand-in weight files: the signature digests their bytes, nothing loads them."""
    (tmp_path / "generic").mkdir()
    (tmp_path / "generic" / "model.safetensors").write_bytes(b"generic start")
    (tmp_path / "teachers").mkdir()
    (tmp_path / "teachers" / "a.safetensors").write_bytes(b"teacher a")
    (tmp_path / "zoo.yaml").write_text("version: 1\nsources:\n- {name: a-net, weights: teachers/a.safetensors}\n")
    return ZoobenchBuild(tmp_path, tmp_path / "zoo.yaml", {"test_resnet": tmp_path / "generic"}, {})


def test_signatures_hold_every_method_option_and_differ_by_what_the_name_changes(build):
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.training.methods.options import DistillOptions, FixMatchOptions

    registry = get_registry()
    task = run_signature({"aggregator": "weighted"}, build, "test_resnet", 0, Budget(), registry)
    assert set(task["method_options"]) == set(DistillOptions.__dataclass_fields__)  # defaults included
    per_class = run_signature(
        {"aggregator": "weighted", "source_weights": "class"}, build, "test_resnet", 0, Budget(), registry
    )
    assert per_class["method_options"]["source_weights"] == "class"
    assert {k: v for k, v in per_class["method_options"].items() if k != "source_weights"} == {
        k: v for k, v in task["method_options"].items() if k != "source_weights"
    }
    baseline = run_signature({"method": "fixmatch"}, build, "test_resnet", 0, Budget(), registry)
    assert set(baseline["method_options"]) == set(FixMatchOptions.__dataclass_fields__)


def test_signature_sees_effective_aggregator_options(build):
    from zoo_distill.plugin.manager import get_registry

    registry = get_registry()
    default = run_signature({"aggregator": "weighted"}, build, "test_resnet", 0, Budget(), registry)
    explicit = run_signature(
        {"aggregator": "weighted"},
        build,
        "test_resnet",
        0,
        Budget(aggregator_options={"temperature": 0.5, "top_k": 0}),
        registry,
    )
    assert default == explicit and default["aggregator_options"] == {"temperature": 0.5, "top_k": 0}
    assert (
        run_signature(
            {"aggregator": "weighted"},
            build,
            "test_resnet",
            0,
            Budget(aggregator_options={"temperature": 2.0}),
            registry,
        )
        != default
    )
    assert run_signature({"aggregator": "weighted"}, build, "test_resnet", 1, Budget(), registry) != default
    # kept files are committed: the signature names the student's start relative to the zoo root
    assert default["student_init"] == "generic" and str(build.root) not in json.dumps(default)


@pytest.mark.parametrize("weights", ["generic/model.safetensors", "teachers/a.safetensors"])
def test_signature_changes_with_the_zoo_build(build, weights):
    """Training is not bit-reproducible across CPUs: a rebuilt zoo with other weights must not
    reuse the runs kept on the first build, even with every setting equal."""
    from zoo_distill.plugin.manager import get_registry

    registry = get_registry()
    methods = {"finetune": {"method": "finetune"}, "weighted": {"aggregator": "weighted"}}
    before = {k: run_signature(m, build, "test_resnet", 0, Budget(), registry) for k, m in methods.items()}
    (build.root / weights).write_bytes(b"retrained elsewhere")
    after = {k: run_signature(m, build, "test_resnet", 0, Budget(), registry) for k, m in methods.items()}
    for method in before:
        assert before[method]["zoo_weights"] != after[method]["zoo_weights"]
        assert {k: v for k, v in before[method].items() if k != "zoo_weights"} == {
            k: v for k, v in after[method].items() if k != "zoo_weights"
        }


def test_run_or_reuse_trains_once_per_signature(tiny_zoobench, tmp_path, monkeypatch):
    from benchmarks.harness import kept as kept_module
    from zoo_distill.features.cache import FeatureCache
    from zoo_distill.zoobench.workspace import load_split, open_workspace

    workspace = open_workspace(tiny_zoobench.root, tiny_settings())
    workspace = workspace._replace(cache=FeatureCache(tmp_path / "c"))
    data = load_split(tiny_zoobench, "shapes-on-textures", "2shot-s0")
    trained = []
    real = kept_module.run_comparison
    monkeypatch.setattr(
        kept_module, "run_comparison", lambda method, *a: trained.append(dict(method)) or real(method, *a)
    )
    kept = tmp_path / "kept.json"
    weighted = {"aggregator": "weighted"}

    def go(budget):
        return kept_module.run_or_reuse(weighted, data, workspace, kept, tmp_path / "scratch", "test_resnet", 0, budget)

    first = go(Budget(epochs=1))
    assert go(Budget(epochs=1)) == first and trained == [weighted]
    assert 0.0 <= first["accuracy"] <= 1.0 and sum(first["alpha"].values()) == pytest.approx(1.0)
    # what a benchmark publishes names no folder of the machine; the kept file still has the signature
    assert "signature" not in first and first["student"]["init"] == "generic/test_resnet"
    assert "signature" in json.loads(kept.read_text())
    assert str(tiny_zoobench.root) not in kept.read_text()
    go(Budget(epochs=2))  # another setting: trained again, not read back
    assert trained == [weighted, weighted]


def test_signature_names_the_build_it_is_given(build):
    """A caller that hashed the build once passes its digest; a report of another machine's runs
    names that machine's build, and everything else in the signature stays this build's."""
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.zoobench.build import weights_digest

    registry = get_registry()
    own = run_signature({"aggregator": "weighted"}, build, "test_resnet", 0, Budget(), registry)
    assert own["zoo_weights"] == weights_digest(build)
    assert (
        run_signature({"aggregator": "weighted"}, build, "test_resnet", 0, Budget(), registry, weights_digest(build))
        == own
    )
    other = run_signature({"aggregator": "weighted"}, build, "test_resnet", 0, Budget(), registry, "abc123")
    assert other == {**own, "zoo_weights": "abc123"}


def test_each_zoo_seed_has_its_own_folder_beside_the_feature_cache(tmp_path, monkeypatch):
    from benchmarks.harness.kept import full_root
    from zoo_distill.zoobench.workspace import default_root

    monkeypatch.setenv("ZOO_DISTILL_CACHE", str(tmp_path))
    assert full_root() == full_root(0) == tmp_path / "zoobench" / "full"  # the reported zoo
    assert full_root(1) == tmp_path / "zoobench" / "full-seed1"  # the zoo defaults are chosen on
    assert default_root() == tmp_path / "zoobench" / "mini"  # the demo's

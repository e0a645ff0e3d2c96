from pathlib import Path

import pytest

from zoo_distill.zoobench.build import ZoobenchBuild
from zoo_distill.zoobench.experiment import Budget, method_spec


@pytest.fixture
def build(tmp_path):
    return ZoobenchBuild(tmp_path, tmp_path / "zoo.yaml", {"test_resnet": tmp_path / "generic"}, {})


def test_every_method_shares_one_student_and_one_budget(build):
    budget = Budget(epochs=7, aggregator_options={"temperature": 2.0})
    specs = {m: method_spec(m, build, "test_resnet", 3, budget)
             for m in ("finetune", "fixmatch", "nearest", "weighted", "uniform", "single:shapes-net")}
    assert {(s.student, s.student_init, s.train.epochs, s.train.seed, s.train.batch_size, s.train.mu)
            for s in specs.values()} == {("test_resnet", str(Path(build.root) / "generic"), 7, 3, 32, 2)}
    assert [specs[m].method for m in ("finetune", "fixmatch")] == ["finetune", "fixmatch"]
    assert specs["weighted"].aggregator_options == {"temperature": 2.0}
    assert specs["uniform"].aggregator_options == {}  # options belong to DistillWeighted only
    single = specs["single:shapes-net"]
    assert (single.method, single.aggregator, single.sources) == ("distill", "nearest", ["shapes-net"])


def test_unknown_method_is_named(build):
    with pytest.raises(ValueError, match="bogus"):
        method_spec("bogus", build, "test_resnet", 0, Budget())

import pytest
import timm
import torch

from zoo_distill.runs.cost import StudentCost, format_cost, measure_cost


def test_params_are_the_sum_of_numel():
    model = timm.create_model("test_resnet", num_classes=5)
    cost = measure_cost(model, (3, 32, 32), latency_runs=2, warmup=0)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.input_size == (3, 32, 32)


def test_linear_macs_are_exact():
    cost = measure_cost(torch.nn.Linear(100, 10), (1, 1, 100), latency_runs=1, warmup=0)
    assert cost.macs == 1000
    assert cost.params == 1010


def test_conv_macs_scale_with_area_and_are_deterministic():
    model = timm.create_model("resnet10t", num_classes=3)
    small = measure_cost(model, (3, 32, 32), latency_runs=1, warmup=0)
    large = measure_cost(model, (3, 64, 64), latency_runs=1, warmup=0)
    assert 3.9 < large.macs / small.macs < 4.1
    assert measure_cost(model, (3, 32, 32), latency_runs=1, warmup=0).macs == small.macs
    assert small.latency_ms > 0 and large.latency_ms > 0


def test_default_input_size_comes_from_the_pretrained_cfg():
    model = timm.create_model("test_convnext", num_classes=3, pretrained_cfg_overlay={"input_size": (3, 40, 40)})
    assert measure_cost(model, latency_runs=1, warmup=0).input_size == (3, 40, 40)


def test_threads_and_module_modes_are_restored():
    model = timm.create_model("test_resnet", num_classes=3).train()
    model.bn1.eval()  # a frozen BatchNorm must stay frozen, the rest in training mode
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    cost = measure_cost(model, (3, 32, 32), latency_runs=2, warmup=1, threads=wanted)
    assert cost.threads == wanted
    assert torch.get_num_threads() == before
    assert model.training and model.layer1.training and not model.bn1.training
    assert cost.latency_ms > 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="latency_runs"):
        measure_cost(torch.nn.Linear(2, 2), (1, 1, 2), latency_runs=0)
    with pytest.raises(ValueError, match="channels, height, width"):
        measure_cost(torch.nn.Linear(2, 2), (2,), latency_runs=1)


def test_format_cost_is_one_readable_line():
    line = format_cost(
        StudentCost(params=11_200_000, macs=560_000_000, latency_ms=3.14, input_size=(3, 224, 224), threads=2)
    )
    assert line == "11.2M params, 0.56 GMACs, 3.1 ms/img (CPU, 2 threads)"
    tiny = format_cost(StudentCost(params=1010, macs=1000, latency_ms=0.02, input_size=(1, 1, 100), threads=1))
    assert tiny == "1.0K params, 1000 MACs, 0.0 ms/img (CPU, 1 thread)"
    mid = format_cost(StudentCost(params=60_000, macs=22_384_128, latency_ms=12.0, input_size=(3, 32, 32), threads=4))
    assert mid == "60.0K params, 22.38 MMACs, 12.0 ms/img (CPU, 4 threads)"

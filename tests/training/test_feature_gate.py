import torch

from zoo_distill.training.methods.feature_gate import agreement_gate


def test_only_a_confident_student_that_names_another_class_drops_the_term():
    logits = torch.tensor([[9.0, 0.0, 0.0],   # confident in 0, teacher says 0: kept
                           [9.0, 0.0, 0.0],   # confident in 0, teacher says 2: dropped
                           [0.1, 0.0, 0.0],   # unsure, teacher says 2: kept
                           [0.0, 0.0, 9.0]])  # confident in 2, teacher says 2: kept
    teacher = torch.tensor([0, 2, 2, 2])
    assert agreement_gate(logits, teacher, 0.95).tolist() == [1.0, 0.0, 1.0, 1.0]
    assert agreement_gate(logits, teacher, 1.01).tolist() == [1.0, 1.0, 1.0, 1.0]  # nobody confident
    assert agreement_gate(logits, teacher, 0.0).tolist() == [1.0, 0.0, 0.0, 1.0]  # everyone confident


def test_the_gate_carries_no_gradient_and_is_float32_under_bf16():
    logits = torch.randn(5, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gate = agreement_gate(logits.bfloat16(), torch.zeros(5, dtype=torch.long), 0.5)
    assert gate.dtype == torch.float32 and not gate.requires_grad


def test_every_teacher_at_once_gives_each_its_own_row():
    logits = torch.tensor([[9.0, 0.0, 0.0], [0.0, 9.0, 0.0]])  # confident in 0, then in 1
    teachers = torch.tensor([[0, 0], [1, 1]])  # teacher a: 0 and 0; teacher b: 1 and 1
    assert agreement_gate(logits, teachers, 0.95).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    for row in range(2):
        assert torch.equal(agreement_gate(logits, teachers, 0.95)[row], agreement_gate(logits, teachers[row], 0.95))

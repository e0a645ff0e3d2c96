"""The paper's baselines, trained with the same loop, steps, batch size and optimizer as distillation."""

"""The distillation objective's terms: one small object per idea, summed by ``distill.Distill``.

A term reads the step's shared student outputs (``step.StudentStep``) and returns its weighted loss
and its logs; a new idea is a new module here plus its test in ``tests/training/methods/``.
"""

"""``python -m zoo_distill`` (also what ``torchrun -m zoo_distill`` runs)."""

from .cli import run

run()

"""``python -m zoo_distill`` (also what ``torchrun -m zoo_distill`` runs)."""

from zoo_distill.cli.app import run

run()

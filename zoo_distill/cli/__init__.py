"""The ``zoo-distill`` command line."""

from zoo_distill.cli.app import app, run

__all__ = ["app", "run"]

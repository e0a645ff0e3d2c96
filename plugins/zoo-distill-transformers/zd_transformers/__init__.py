"""zoo-distill plugin: `transformers` image classifiers (and backbone-only models) as frozen teachers."""

__version__ = "0.1.0"

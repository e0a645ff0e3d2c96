"""zoo-distill plugin: open_clip image towers as teachers, with a zero-shot head over the target's classes."""

__version__ = "0.1.0"

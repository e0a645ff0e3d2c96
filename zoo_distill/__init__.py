"""zoo-distill: rank a zoo of pretrained image models for a new task and distill them into a small student.

Implements Borup, Phoo & Hariharan, "Distilling from Similar Tasks for Transfer Learning on a
Budget" (ICCV 2023, arXiv:2304.12314).
"""

from zoo_distill._version import __version__

__all__ = ["__version__"]

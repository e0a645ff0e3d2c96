"""zoo-distill-transrate: the TransRate transferability metric as a zoo-distill plugin.

Installing this distribution adds the metric ``transrate`` to ``zoo-distill rank`` (``-m transrate``)
through the ``zoo_distill`` entry-point group; see :mod:`zd_transrate.plugin`.
"""

from .metric import coding_rate, transrate

__version__ = "0.1.0"

__all__ = ["__version__", "coding_rate", "transrate"]

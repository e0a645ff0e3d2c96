"""zoo-distill-hub-teachers: timm-format teachers hosted on the Hugging Face Hub, as zoo entries.

Installing this distribution adds the sources in :data:`zd_hub_teachers.catalog.TEACHERS` to every
zoo (``zoo-distill zoo ls``), loaded by zoo-distill's built-in ``hf-hub`` provider; see
:mod:`zd_hub_teachers.plugin`.
"""

from .catalog import TEACHERS, zoo_entries

__version__ = "0.1.0"

__all__ = ["TEACHERS", "__version__", "zoo_entries"]

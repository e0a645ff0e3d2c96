"""The zoobench fixtures of tests/zoobench, for the benchmarks' library."""

from tests.zoobench.conftest import tiny_settings, tiny_zoobench

__all__ = ["tiny_settings", "tiny_zoobench"]

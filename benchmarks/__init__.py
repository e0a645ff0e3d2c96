"""The project's benchmarks and studies (not shipped in the wheel); run each from the repository
root as ``python -m benchmarks.<name>`` or ``python -m benchmarks.studies.<name>``."""

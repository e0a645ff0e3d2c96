"""What the accuracy benchmarks share and the package does not need: the file names of kept runs
(``naming``), their signatures and reuse (``kept``), the tables (``tables``) and their plots
(``plots``). The methods themselves are override dicts (``zoo_distill.zoobench.comparison``)."""

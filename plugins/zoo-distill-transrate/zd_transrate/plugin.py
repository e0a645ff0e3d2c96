"""The plugin module named by the ``zoo_distill`` entry point: it registers the ``transrate`` metric."""

from __future__ import annotations

from zoo_distill.plugin import FEATURES, Metric, hookimpl

from .metric import transrate

METRIC = Metric(
    name="transrate",
    fn=transrate,
    needs=(FEATURES,),
    reference="Huang, Huang, Rong, Yang, Wei. Frustratingly Easy Transferability Estimation. ICML 2022",
    description="coding rate of the features minus their class-conditional coding rate "
    "(mutual information estimate); zoo-distill-transrate plugin",
)


@hookimpl
def register_metrics(register) -> None:
    register(METRIC)

"""`MetricSpec`: what a report needs to know about a metric, with no implementation attached.

Its own leaf module so that both the interface (`metrics.base`, whose `Metric` holds a spec) and the catalogue
(`metrics.registry`, which lists the specs and builds metrics from them) can use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    name: str
    full_reference: bool
    higher_better: bool
    value_range: tuple[float, float]
    unit: str
    protocol: str
    factory: str  # "module:Class", imported only by `registry.create_metric`
    weights: tuple[str, ...] = ()
    description: str = ""

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_better else "lower is better"

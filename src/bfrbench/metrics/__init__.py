"""Image-quality and identity metrics.

`registry` describes every metric (name, direction, range, unit, protocol) without importing any heavy library;
`registry.create_metric(name)` imports the implementing module only when a metric is actually used. Adding a metric
takes one module with a `Metric` subclass and one `MetricSpec` entry in `registry.METRICS`.
"""

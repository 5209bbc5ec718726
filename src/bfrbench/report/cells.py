"""How one score entry becomes one table cell: shared by every table of the report.

Score entries are the dicts of `summary.json` (`{"value": ..., "n": ...}` or `{"unavailable": reason}`). The
leaderboard and the FLIPNET sections both render them; the rules live here, below both, so that neither table module
imports the other.
"""

from __future__ import annotations

import math
from typing import Any


def has_value(entry: Any) -> bool:
    """A score entry holding a number (NaN included: 'undefined' is a result, 'unavailable' is not)."""
    return isinstance(entry, dict) and "unavailable" not in entry and isinstance(entry.get("value"), (int, float))


def not_applicable(entry: Any) -> bool:
    """A score entry the metric could not apply to (no ground truth for a full-reference metric)."""
    return isinstance(entry, dict) and str(entry.get("unavailable", "")).startswith("not applicable")


def format_number(value: Any) -> str:
    """4 decimals below 10, else 2 (PSNR in dB, FID); inf and nan spelled out, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isinf(value):
            return "inf"
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def column_title(metric: str) -> str:
    """The metric name with its direction arrow (none for a name the registry does not know)."""
    from bfrbench.metrics.registry import METRICS

    spec = METRICS.get(metric)
    return metric if spec is None else f"{metric} {'↑' if spec.higher_better else '↓'}"

"""Reference implementations fetched at run time (never vendored), for calibration tests and benchmarks."""

"""Every method's behaviour line (the report's Methods section) names a test that checks its claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from bfrbench.methods.registry import METHODS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_behaviour_line_names_a_test_that_checks_it(name):
    line = METHODS[name].behaviour
    assert line.startswith(("deterministic", "stochastic")), line
    tests = [w.strip("()") for w in line.split() if w.strip("()").startswith("tests/")]
    if line.startswith("stochastic") or "fidelity weight" in line:
        assert tests, f"{name}: a claim without the test that checks it"
    for test in tests:
        text = (ROOT / test).read_text()
        if line.startswith("stochastic"):  # the seed changes the output; the batch does not
            assert "seed" in text and "batch" in text, f"{test} does not check {name}'s claim"
        else:
            assert "w=1" in text or "w = 1" in text, f"{test} does not check {name}'s fidelity weight"

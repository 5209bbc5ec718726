"""Stage III's phases: the official iteration schedule at paper length, and the same shape at smoke length."""

from __future__ import annotations

import pytest

from bfrbench.errors import ConfigError
from bfrbench.methods.codeformer.config import DEFAULTS
from bfrbench.methods.codeformer.phases import check_phases, phase_at


def _official(current_iter: int) -> tuple[float, bool]:
    """codeformer_joint_model.py's choice, restated: (w, mild) of the 1-based iteration."""
    if current_iter <= 40000:
        small_per_n, w = 1, 1.0
    elif current_iter <= 80000:
        small_per_n, w = 1, 1.3
    elif current_iter <= 120000:
        small_per_n, w = 120000, 0.0
    else:
        small_per_n, w = 15, 1.3
    return w, current_iter % small_per_n == 0


def test_paper_length_matches_the_official_trainer_at_every_iteration():
    phases = check_phases(DEFAULTS["cft"]["phases"], "cft")
    mismatches = [i for i in range(1, 150_001) if phase_at(phases, i, 150_000, 1.0) != _official(i)]
    assert not mismatches, mismatches[:10]


def test_smoke_length_passes_every_phase():
    phases = check_phases(DEFAULTS["cft"]["phases"], "cft")
    seen = [phase_at(phases, i, 80, 1.0) for i in range(1, 81)]
    assert {w for w, _ in seen} == {1.0, 1.3, 0.0}
    assert seen.count((0.0, False)) > 0 and sum(mild for _, mild in seen[64:]) == 1  # step 75 of 65..80


@pytest.mark.parametrize("phases, match", [
    ([], "empty"),
    ([{"until": 0.5, "w": 1.0, "mild_every": 1}], "end the last phase"),
    ([{"until": 1.0, "w": 1.0}], "keys"),
    ([{"until": 1.0, "w": 1.0, "mild_every": 0}], "mild_every"),
    ([{"until": 0.6, "w": 1.0, "mild_every": 1}, {"until": 0.5, "w": 1.0, "mild_every": 1}], "must rise"),
])
def test_bad_phases_are_refused(phases, match):
    with pytest.raises(ConfigError, match=match):
        check_phases(phases, "codeformer/cft")

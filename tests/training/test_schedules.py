"""The learning-rate schedules of the stage configs: shapes at fractions of max_steps, checks, and exact resume."""

from __future__ import annotations

import pytest
import torch

from bfrbench.errors import ConfigError
from bfrbench.training.schedules import build_scheduler, check_schedule


def _lrs(schedule, max_steps, lr=1.0, at=()):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = build_scheduler(opt, schedule, max_steps)
    seen = {}
    for step in range(max_steps + 1):
        if step in at:
            seen[step] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    return seen


def test_multistep_milestones_are_fractions_of_the_run():
    # CodeFormer stage II: 0.8 and 0.9 of 500k = 400k and 450k; the same shape at 200 smoke steps (160, 180)
    lrs = _lrs({"type": "multistep", "milestones": [0.8, 0.9], "gamma": 0.5}, 200, at=(0, 159, 160, 179, 180))
    assert lrs == {0: 1.0, 159: 1.0, 160: 0.5, 179: 0.5, 180: 0.25}


def test_cosine_runs_from_lr_to_eta_min_over_max_steps():
    lrs = _lrs({"type": "cosine", "eta_min": 0.2}, 100, at=(0, 50, 100))
    assert lrs[0] == 1.0 and lrs[50] == pytest.approx(0.6) and lrs[100] == pytest.approx(0.2)


def test_linear_warmup_then_constant():
    # DifFace's prior: 0.0125 of 800k = 10k steps of ramp; at 160 smoke steps, 2
    lrs = _lrs({"type": "constant", "warmup": 0.0125}, 800, at=(0, 5, 9, 10, 11, 800))
    # step k at (k + 1) / 10 of the lr, as DifFace's adjust_lr at iteration k + 1
    assert lrs[0] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.6) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == lrs[11] == lrs[800] == 1.0


@pytest.mark.parametrize("block, match", [
    ({"type": "step"}, "not one of"),
    ({"type": "cosine"}, "needs eta_min"),
    ({"type": "cosine", "eta_min": 0.1, "gamma": 0.5}, "does not use"),
    ({"type": "multistep", "milestones": [400000], "gamma": 0.5}, "fraction of max_steps"),
    ({"type": "constant", "warmup": 1.5}, "fraction of max_steps"),
])
def test_bad_schedules_name_the_key(block, match):
    with pytest.raises(ConfigError, match=match):
        check_schedule(block, "codeformer/transformer")


def test_state_resumes_to_the_same_learning_rates():
    """What Lightning saves in a checkpoint (the scheduler's state_dict) continues the same schedule."""
    schedule = {"type": "multistep", "milestones": [0.5], "gamma": 0.1, "warmup": 0.2}

    def run(stop=None, state=None):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = build_scheduler(opt, schedule, 20)
        if state:
            opt.load_state_dict(state[0])
            sched.load_state_dict(state[1])
        lrs = []
        for _ in range(20 - (state[2] if state else 0)):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
            if stop is not None and len(lrs) == stop:
                return lrs, (opt.state_dict(), sched.state_dict(), stop)
        return lrs, None

    whole, _ = run()
    first, state = run(stop=7)
    rest, _ = run(state=state)
    assert first + rest == whole

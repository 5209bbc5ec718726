"""DifFace's `gt_gray`: a training sample whose LQ is made gray gets a gray HQ target; test sets keep their HQ."""

from __future__ import annotations

import numpy as np
import pytest

from bfrbench.data.datamodule import DegradedFaces
from bfrbench.data.degradation import DegradationPipeline, preset_from_config
from bfrbench.errors import ConfigError


@pytest.fixture
def faces(tmp_path):
    from conftest import make_face_set

    make_face_set(tmp_path / "faces")
    return sorted((tmp_path / "faces").rglob("*.png"))


def _item(paths, gt_gray: bool, gray_prob: float = 1.0):
    pipe = DegradationPipeline.from_config({"preset": "difface", "gray_prob": gray_prob, "gt_gray": gt_gray}, seed=3)
    return DegradedFaces(paths[:1], pipe, 32, flip=False)[(0, 0)]


def test_gray_lq_makes_a_gray_target_only_with_gt_gray(faces):
    with_gray, without = _item(faces, True), _item(faces, False)
    assert np.array_equal(with_gray["lq"].numpy(), without["lq"].numpy()), "the LQ is the same draw"
    hq = with_gray["hq"].numpy()
    assert np.array_equal(hq[0], hq[1]) and np.array_equal(hq[1], hq[2]), "gray target: three equal channels"
    colour = without["hq"].numpy()
    assert not np.array_equal(colour[0], colour[1]), "without gt_gray the target keeps its colour"
    assert np.abs(hq[0] - (0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2])).max() <= 1 / 255 + 1e-6


def test_no_gray_draw_leaves_the_target_alone(faces):
    colour = _item(faces, True, gray_prob=0.0)["hq"].numpy()
    assert not np.array_equal(colour[0], colour[1])


def test_the_difface_preset_has_it_and_the_key_is_checked():
    assert preset_from_config("difface").branches[0].gt_gray is True
    assert preset_from_config("codeformer_stage2").branches[0].gt_gray is False
    with pytest.raises(ConfigError, match="gt_gray must be true or false"):
        preset_from_config({"preset": "difface", "gt_gray": 1})

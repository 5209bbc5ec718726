"""Pipeline metric options: defaults, params.yaml score.options, the command line; {testset}; selected metrics only."""

import pytest

from bfrbench.config import score_metric_options
from bfrbench.errors import ConfigError


def test_defaults_then_params_then_command_line():
    params = {"score": {"options": {"fid_folder": {"reference_dir": "data/ffhq512"},
                                    "ids_arcface_r18_lq": {"weights_entry": "x"}}}}
    got = score_metric_options(params, "lfw_test", ["fid_folder", "ids_arcface_r18_lq"],
                               {"fid_folder": {"reference_dir": "mine"}})
    assert got == {"fid_folder": {"reference_dir": "mine"},
                   "ids_arcface_r18_lq": {"lq_dir": "artifacts/testsets/lfw_test/lq", "weights_entry": "x"}}


def test_only_selected_metrics_and_bad_tables():
    assert score_metric_options({"score": {}}, "t", ["psnr_rgb"]) == {}
    with pytest.raises(ConfigError, match="score.options"):
        score_metric_options({"score": {"options": {"fid_folder": "data"}}}, "t", None)

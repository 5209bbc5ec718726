import json

import numpy as np

from bfrbench.methods.base import StageContext
from bfrbench.methods.classic import denoise_sharpen
from bfrbench.methods.registry import get_method
from bfrbench.training.stage import run_stage


def _ctx(method, stage, faces, tmp_path, cfg):
    out = tmp_path / "models" / method.name / stage
    return StageContext(method.name, stage, cfg, {}, faces, out, out.parent, seed=0, size=32, progress=False)


def test_lq_is_the_identity(tiny_faces, tmp_path):
    m = get_method("lq")
    ctx = _ctx(m, "card", tiny_faces, tmp_path, {})
    run_stage(m, ctx)
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    assert np.array_equal(m.load(ctx.models_dir).restore(x), x)


def test_classic_fit_picks_the_best_grid_point(tiny_faces, tmp_path):
    m = get_method("classic")
    cfg = m.default_config("fit")
    cfg.update(num_faces=6, grid={"h": [0.0, 10.0], "amount": [0.0, 1.0], "radius": [1.0]})
    ctx = _ctx(m, "fit", tiny_faces, tmp_path, cfg)
    metrics = run_stage(m, ctx)
    card = json.loads((ctx.out_dir / "card.json").read_text())
    assert len(card["grid_results"]) == 4
    assert metrics["fit_psnr_rgb"] == max(r["psnr_rgb"] for r in card["grid_results"])
    restorer = m.load(ctx.models_dir)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    y = restorer.restore(x)
    assert y.shape == x.shape and y.dtype == np.uint8


def test_denoise_sharpen_identity_at_zero(real_face):
    assert np.array_equal(denoise_sharpen(real_face, 0.0, 0.0, 1.0), real_face)
    assert not np.array_equal(denoise_sharpen(real_face, 10.0, 0.0, 1.0), real_face)

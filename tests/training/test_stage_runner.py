"""The stage runner's promises: same bytes on a rerun, on a re-run of a finished stage, and after SIGKILL + resume.

Each case is a real training stage at tiny size, run in its own process (as `dvc repro` runs it). The three cases
are a plain regression (unet_l1, automatic optimisation), a GAN with manual optimisation and an EMA (CodeFormer's
VQGAN, discriminator on from step 1) and a diffusion stage (DifFace's prior: random timesteps and noise every step).
Kill points fall mid-epoch (12 train faces, batches of 4: 3 batches an epoch), after a checkpoint and before the end.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bfrbench.errors import ConfigError
from bfrbench.training.stage import check_vocabulary

SCRIPT = Path(__file__).with_name("stage_script.py")
TRAINER = {"accelerator": "cpu", "max_steps": 7, "log_every_n_steps": 1, "checkpoint_every_n_steps": 2}
CASES = {
    "unet_l1": ("train", 32, {"model": {"channels": [8, 16]}, "data": {"batch_size": 4, "val_count": 4}}),
    "codeformer": ("vqgan", 32, {
        "arch": {"img_size": 32, "nf": 8, "ch_mult": [1, 2], "res_blocks": 1, "attn_resolutions": [16],
                 "codebook_size": 16, "emb_dim": 8, "norm_groups": 4, "dim_embd": 16, "n_head": 2, "n_layers": 1,
                 "connect_list": ["32"]},
        "disc": {"nc": 3, "ndf": 8, "n_layers": 2}, "loss": {"lpips": 0.0, "adversarial_start": 1},
        "weights": "suite", "data": {"batch_size": 4, "num_workers": 0, "val_count": 4}}),
    "difface": ("prior", 32, {
        "arch": {"image_size": 32, "model_channels": 8, "out_channels": 6, "num_res_blocks": 1,
                 "attention_resolutions": [16], "channel_mult": [1, 2], "num_head_channels": 8, "norm_groups": 4},
        "weights": "suite", "data": {"batch_size": 4, "num_workers": 0, "val_count": 4}}),
}


def _run(method, tmp, name, faces, work, kill_at=0, steps=7):
    stage, size, cfg = CASES[method]
    cfg = {**cfg, "trainer": {**TRAINER, "max_steps": steps}}
    out = tmp / name / "models" / method / stage
    env = {**os.environ, "BFRBENCH_NO_MLFLOW": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(SCRIPT), method, stage, json.dumps(cfg), str(faces), str(out), str(work), "7",
           str(size)] + ([str(kill_at)] if kill_at else [])  # kill_at: a step (SIGKILL) or "term:STEP" (SIGTERM)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    return proc, out


def _bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(CASES))
def test_rerun_and_kill_give_the_same_bytes(method, tmp_path):
    from conftest import make_face_set

    faces = make_face_set(tmp_path / "faces")
    ref, ref_out = _run(method, tmp_path, "a", faces, tmp_path / "work_a")
    assert ref.returncode == 0, ref.stderr[-3000:]
    expected = _bytes(ref_out)
    assert {"card.json", "model.pt"} <= set(expected)
    card = json.loads(expected["card.json"])
    assert card["steps"] == 7 and card["final_metrics"], card
    assert "created" not in card and str(tmp_path) not in expected["card.json"].decode()

    # 1. a fresh rerun in its own work folder: bit-identical (seeded before the module is built)
    again, again_out = _run(method, tmp_path, "b", faces, tmp_path / "work_b")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _bytes(again_out) == expected

    # 2. a re-run of the finished stage (resumes at max_steps, trains nothing): the identical card and weights
    rerun, rerun_out = _run(method, tmp_path, "c", faces, tmp_path / "work_a")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _bytes(rerun_out) == expected

    # 3. SIGKILL at step 5 (checkpoints at 2 and 4 are on disk), then the same command again
    killed, killed_out = _run(method, tmp_path, "d", faces, tmp_path / "work_d", kill_at=5)
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    assert not (killed_out / "model.pt").exists()
    ckpts = sorted(p.name for p in (tmp_path / "work_d").rglob("*.ckpt"))
    assert "last.ckpt" in ckpts and "final.ckpt" not in ckpts, ckpts
    resumed, resumed_out = _run(method, tmp_path, "d", faces, tmp_path / "work_d")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _bytes(resumed_out) == expected


def test_old_keys_fail_with_the_new_name():
    with pytest.raises(ConfigError, match="loss.adversarial_start"):
        check_vocabulary({"disc_start": 10}, "x.yaml")
    with pytest.raises(ConfigError, match="optim.lr_disc"):
        check_vocabulary({"optim": {"disc_lr": 1e-4}}, "x.yaml")
    with pytest.raises(ConfigError, match="ema.decay"):
        check_vocabulary({"ema_decay": 0.99}, "x.yaml")
    with pytest.raises(ConfigError, match="restore"):
        check_vocabulary({"sampler": {"steps": 3}}, "x.yaml")
    check_vocabulary({"loss": {"adversarial_start": 3}, "optim": {"lr_disc": 1e-4}, "ema": {"decay": 0.9}}, "x")


@pytest.mark.slow
def test_sigterm_fails_the_stage_with_143_and_exports_nothing(tmp_path):
    """Lightning ends a SIGTERM'd fit with SystemExit() (status 0): `dvc repro` took such a stage as done and
    recorded an empty output folder. The runner exits 143 before exporting; the same command then resumes."""
    from bfrbench.training.trainer import SIGTERM_EXIT
    from conftest import make_face_set

    faces = make_face_set(tmp_path / "faces")
    stopped, out = _run("unet_l1", tmp_path, "a", faces, tmp_path / "work", kill_at="term:3")
    assert stopped.returncode == SIGTERM_EXIT == 143, stopped.stderr[-2000:]
    assert "stopped by SIGTERM at step" in stopped.stderr and "resume from the last checkpoint" in stopped.stderr
    assert not out.exists() or not any(out.iterdir()), "nothing exported"
    resumed, out = _run("unet_l1", tmp_path, "a", faces, tmp_path / "work")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (out / "card.json").is_file()

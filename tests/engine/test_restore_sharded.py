"""Restore on 2 CPU processes (Lightning DDP over gloo, through the real CLI): the same bytes as 1 process at the same
batch size (another batch size may change a last bit, see bfrbench.engine.restore_job); one MLflow run; and a
2-process restore killed with SIGKILL mid-way resumes to the same bytes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from tiny_models import DIFFACE_SAMPLING, env, folder_bytes, restore_cmd, run, train_tiny, write_lq, write_params

pytestmark = pytest.mark.slow

NFE = {"classic": 0, "unet_l1": 1, "difface": 1 + DIFFACE_SAMPLING["start_step"]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from conftest import make_face_set

    root = tmp_path_factory.mktemp("tiny")
    models = train_tiny(root, make_face_set(root / "faces"))
    return root, models, write_lq(root / "lq", 12)


@pytest.mark.parametrize("method", sorted(NFE))
def test_two_processes_give_the_bytes_of_one(method, tiny, tmp_path):
    root, models, lq = tiny
    one = run(restore_cmd(method, lq, tmp_path / "one", models, write_params(tmp_path / "p4.yaml", 4)),
              tmp_path, env(tmp_path))
    assert one.returncode == 0, one.stderr[-3000:]
    # 2 processes: batches 0 and 2 on rank 0, batch 1 on rank 1, the same images
    two = run(restore_cmd(method, lq, tmp_path / "two", models, write_params(tmp_path / "p4.yaml", 4),
                          "--devices", "2"), tmp_path, env(tmp_path, mlflow=True))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("wrote 12 restored faces") == 1, "rank 1 reports nothing"
    assert folder_bytes(tmp_path / "two") == folder_bytes(tmp_path / "one")
    meta = json.loads((tmp_path / "two.restore.json").read_text())
    assert meta["images"] == meta["images_restored"] == 12 and meta["devices"] == 2
    assert meta["nfe"] == NFE[method] and meta["seconds_per_image"] > 0 and meta["peak_host_memory_mb"] > 0
    assert not (tmp_path / ".two.restore-work").exists(), "the work folder is removed once merged"
    import mlflow

    mlflow.set_tracking_uri(env(tmp_path, mlflow=True)["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["bfrbench-smoke"], output_format="list")
    assert len(runs) == 1, "one MLflow run per restore, written by rank 0"
    assert runs[0].data.metrics["nfe"] == NFE[method] and runs[0].data.metrics["images"] == 12


def _kill_when(proc: subprocess.Popen, images, at_least: int, timeout: float = 600) -> int:
    """SIGKILL the whole process group (both ranks) once `at_least` images are in the work folder."""
    start = time.time()
    while time.time() - start < timeout:
        done = len(list(images.glob("*.png"))) if images.is_dir() else 0
        if done >= at_least or proc.poll() is not None:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return done


@pytest.mark.parametrize("resume_devices", ["2", "1"])
def test_killed_two_process_restore_resumes_to_the_same_bytes(resume_devices, tiny, tmp_path):
    root, models, _ = tiny
    lq = write_lq(tmp_path / "lq", 24, seed=4)
    params = write_params(tmp_path / "params.yaml", 1, difface={"start_step": 20})  # slow enough to kill mid-way
    ref = run(restore_cmd("difface", lq, tmp_path / "ref", models, params), tmp_path, env(tmp_path))
    assert ref.returncode == 0, ref.stderr[-3000:]

    work = tmp_path / "work"
    cmd = restore_cmd("difface", lq, tmp_path / "out", models, params, "--devices", "2", "--work", str(work))
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(tmp_path), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = _kill_when(proc, work / "images", at_least=4)
    assert 4 <= done < 24, f"the kill fell at {done} of 24 images: not mid-way"
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "out").exists(), "nothing half-written"

    resumed = run(cmd[:cmd.index("--devices") + 1] + [resume_devices] + cmd[cmd.index("--devices") + 2:],
                  tmp_path, env(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "ref")
    meta = json.loads((tmp_path / "out.restore.json").read_text())
    assert meta["images"] == 24 and meta["images_restored"] < 24, "the resumed run did only what was missing"
    assert not work.exists()


def test_ddp_spawn_inside_pytest(tiny, tmp_path, monkeypatch):
    """`strategy: ddp_spawn` (the one to use in-process under pytest): same bytes, rank 0's metadata returned."""
    from bfrbench.engine.devices import DeviceConfig
    from bfrbench.stages.restore import run_restore

    root, models, lq = tiny
    monkeypatch.setenv("BFRBENCH_NO_MLFLOW", "1")
    one = run_restore("unet_l1", lq, tmp_path / "one", models / "unet_l1", batch_size=4, progress=False)
    two = run_restore("unet_l1", lq, tmp_path / "two", models / "unet_l1", batch_size=4, progress=False,
                      devices=DeviceConfig("cpu", 2, "ddp_spawn"))
    assert folder_bytes(tmp_path / "two") == folder_bytes(tmp_path / "one")
    assert one["images"] == two["images"] == 12 and two["devices"] == 2 and two["nfe"] == 1


def test_fewer_batches_than_processes(tiny, tmp_path, monkeypatch):
    """One batch on 2 processes (a small set on many GPUs, or a resume with one batch left): rank 1 has no work and
    only waits at the merge; the bytes are those of one process."""
    from bfrbench.engine.devices import DeviceConfig
    from bfrbench.stages.restore import run_restore

    root, models, _ = tiny
    lq = write_lq(tmp_path / "lq", 3)
    monkeypatch.setenv("BFRBENCH_NO_MLFLOW", "1")
    one = run_restore("unet_l1", lq, tmp_path / "one", models / "unet_l1", batch_size=4, progress=False)
    two = run_restore("unet_l1", lq, tmp_path / "two", models / "unet_l1", batch_size=4, progress=False,
                      devices=DeviceConfig("cpu", 2, "ddp_spawn"))
    assert folder_bytes(tmp_path / "two") == folder_bytes(tmp_path / "one")
    assert one["images"] == two["images"] == 3

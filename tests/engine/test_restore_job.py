"""The restore job in one process: resume after a crash, the work folder's key, bad devices, the metadata file.

Method `lq` (no models, no network) keeps these fast; the sharded runs are in test_restore_sharded.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bfrbench.cli import main
from bfrbench.engine import restore_job
from bfrbench.engine.devices import DeviceConfig, available_devices, device_config
from bfrbench.errors import ConfigError
from bfrbench.io.images import write_image
from bfrbench.stages.restore import run_restore


@pytest.fixture
def lq(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(7):
        write_image(tmp_path / "lq" / f"f{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    return tmp_path / "lq"


def _restore(lq, out, *extra):
    return main(["--no-progress", "restore", "lq", "--lq", str(lq), "--out", str(out), *extra])


@pytest.fixture(autouse=True)
def _no_mlflow(monkeypatch):
    monkeypatch.setenv("BFRBENCH_NO_MLFLOW", "1")


def test_restore_writes_the_folder_and_its_speed_figures(lq, tmp_path, capsys):
    assert _restore(lq, tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"f{i}.png" for i in range(7)]
    meta = json.loads((tmp_path / "out.restore.json").read_text())
    assert meta["images"] == meta["images_restored"] == meta["images_timed"] == 7
    assert meta["nfe"] == 0 and meta["devices"] == 1 and meta["accelerator"] == "cpu"
    assert meta["seconds_per_image"] >= 0 and meta["peak_host_memory_mb"] > 0 and meta["peak_gpu_memory_mb"] is None
    assert not (tmp_path / ".out.restore-work").exists()
    assert "NFE 0" in capsys.readouterr().out


def test_a_crashed_restore_resumes_with_only_the_missing_batches(lq, tmp_path, monkeypatch):
    run_restore("lq", lq, tmp_path / "ref", tmp_path / "models", batch_size=3, progress=False)
    real_write = restore_job.RestoreJob.write
    calls = []

    def crash_on_second_batch(self, item, restored):
        calls.append([stem for stem, _ in item])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(self, item, restored)

    monkeypatch.setattr(restore_job.RestoreJob, "write", crash_on_second_batch)
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        run_restore("lq", lq, tmp_path / "out", tmp_path / "models", batch_size=3, progress=False, work=work)
    assert not (tmp_path / "out").exists() and len(list((work / "images").glob("*.png"))) == 3
    calls.clear()
    monkeypatch.setattr(restore_job.RestoreJob, "write", lambda self, item, r: calls.append(len(item))
                        or real_write(self, item, r))
    meta = run_restore("lq", lq, tmp_path / "out", tmp_path / "models", batch_size=3, progress=False, work=work)
    assert calls == [3, 1], "batches [f0 f1 f2] were done; [f3 f4 f5] and [f6] were not"
    assert meta["images_restored"] == 4 and meta["images_timed"] == 7
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == \
        {p.name: p.read_bytes() for p in (tmp_path / "ref").iterdir()}
    assert not work.exists()


def test_a_work_folder_of_another_run_is_refused_then_discarded_with_restart(lq, tmp_path, capsys):
    work = tmp_path / "work"
    (work / "images").mkdir(parents=True)
    (work / "key.json").write_text(json.dumps({"method": "difface", "sampling": {"start_step": 3}}))
    (work / "images" / "f0.png").write_bytes(b"made by another run")
    assert _restore(lq, tmp_path / "out", "--work", str(work)) == 2
    err = capsys.readouterr().err
    assert "left by a different run" in err and "method" in err and "--restart" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and (work / "images" / "f0.png").read_bytes() == b"made by another run"
    assert _restore(lq, tmp_path / "out", "--work", str(work), "--restart") == 0
    assert (tmp_path / "out" / "f0.png").read_bytes() == (lq / "f0.png").read_bytes()


def test_a_partial_restore_with_another_batch_size_is_refused(lq, tmp_path, monkeypatch):
    """The batch size is part of a restore's identity: CPU kernels may block another batch size differently, so images
    restored in batches of 3 are not mixed with images restored in batches of 2."""
    def crash(self, item, restored):
        raise KeyboardInterrupt

    real_write = restore_job.RestoreJob.write
    monkeypatch.setattr(restore_job.RestoreJob, "write", lambda self, item, r: real_write(self, item, r) or crash(
        self, item, r))
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        run_restore("lq", lq, tmp_path / "out", tmp_path / "models", batch_size=3, progress=False, work=work)
    with pytest.raises(ConfigError, match="differs in: batch_size"):
        run_restore("lq", lq, tmp_path / "out", tmp_path / "models", batch_size=2, progress=False, work=work)
    assert len(list((work / "images").glob("*.png"))) == 3 and not (tmp_path / "out").exists()


def test_an_existing_output_needs_overwrite(lq, tmp_path, capsys):
    assert _restore(lq, tmp_path / "out") == 0
    assert _restore(lq, tmp_path / "out") == 2 and "--overwrite" in capsys.readouterr().err
    assert _restore(lq, tmp_path / "out", "--overwrite") == 0


@pytest.mark.parametrize("flags, message", [
    (["--devices", "999"], "--devices 999, but this machine has only"),
    (["--devices", "0"], "devices must be a whole number >= 1"),
    (["--accelerator", "tpu"], "unknown accelerator 'tpu'"),
    (["--strategy", "fsdp"], "unknown strategy 'fsdp'"),
])
def test_bad_devices_are_clear_errors_and_nothing_is_written(flags, message, lq, tmp_path, capsys):
    assert _restore(lq, tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and "fix:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.restore-work").exists()
    assert not (tmp_path / "out.restore.json").exists()


def test_params_blocks_are_checked_like_the_flags():
    with pytest.raises(ConfigError, match="unknown accelerator 'tpu'"):
        device_config({"accelerator": "tpu"}, "restore")
    assert device_config({"accelerator": "cpu", "devices": 1, "strategy": "ddp_spawn"}, "score") == \
        DeviceConfig("cpu", 1, "ddp_spawn", 1)
    assert device_config({"devices": 1}, "restore", devices=available_devices("cpu")).devices >= 1
    with pytest.warns(UserWarning, match="deprecated"):  # the old `device:` key still names the accelerator
        assert device_config({"device": "cpu"}, "restore").accelerator == "cpu"
    assert not DeviceConfig().distributed and DeviceConfig(devices=2).distributed


def test_every_restorer_declares_its_nfe():
    from bfrbench.methods import classic, lq, unet_l1
    from bfrbench.methods.codeformer import method as codeformer

    assert lq._Identity.nfe == 0 and classic._Restorer.nfe == 0
    assert unet_l1._Restorer.nfe == 1 and codeformer._Restorer.nfe == 1

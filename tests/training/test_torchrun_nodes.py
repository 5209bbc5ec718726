"""Two nodes for real: two torchrun agents on 127.0.0.1 (c10d rendezvous, `--nnodes 2 --nproc-per-node 1`) run a
tiny training stage and a tiny restore, as docs/scaling.md tells a cluster user to, and give the bytes of the
one-command run.

Training is compared with Lightning's own 2-process DDP on one node (one `bfrbench train` command): the same world
size, so the same data shards and the same gloo all-reduce, and the weights must match bit for bit. (One process with
twice the batch is not a bit-level reference: its gradient sums in another order.) The restore is compared with the
plain one-process loop: its bytes do not depend on the number of processes (docs/scaling.md).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
TINY = {
    "model": {"channels": [8, 16]},
    "data": {"batch_size": 2, "val_count": 2, "num_workers": 0},
    "trainer": {"max_steps": 4, "log_every_n_steps": 1, "checkpoint_every_n_steps": 2, "strategy": "ddp"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp: Path) -> dict[str, str]:
    # One intra-op thread in every process of both runs: Lightning gives a CPU DDP process cores // local processes
    # threads (1 on one node with 2 processes, 2 on each 1-process "node" here), and a conv kernel with another
    # thread count can give other last bits.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1",
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}


def _two_agents(args: list[str], cwd: Path, env: dict[str, str],
                timeout: int = 900) -> list[subprocess.CompletedProcess]:
    """The same torchrun command as two agents (two 'nodes' of one process each) meeting at one c10d endpoint."""
    port = _free_port()
    cmd = [TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint",
           f"127.0.0.1:{port}", "--rdzv-id", f"bfrbench-test-{port}", "-m", "bfrbench.cli", "--no-progress", *args]
    agents = [subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    done = []
    for agent in agents:
        try:
            out, err = agent.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for a in agents:
                a.kill()
            raise
        done.append(subprocess.CompletedProcess(cmd, agent.returncode, out, err))
    return done


def _project(tmp: Path, trainer: dict) -> Path:
    from conftest import make_face_set

    make_face_set(tmp / "artifacts" / "faces")
    (tmp / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "trainer": {**TINY["trainer"], **trainer}}))
    params = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())
    params["size"] = 32
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp


def test_two_torchrun_nodes_train_and_restore_as_one_command(tmp_path):
    env_one = _env(tmp_path / "one")
    one = _project(tmp_path / "one", {"devices": 2, "num_nodes": 1})
    train = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "train", "unet_l1", "train", "--config",
             "tiny.yaml"]
    ref = subprocess.run(train, cwd=one, env=env_one, capture_output=True, text=True, timeout=900)
    assert ref.returncode == 0, ref.stderr[-3000:]

    nodes = _project(tmp_path / "nodes", {"devices": 1, "num_nodes": 2})
    agents = _two_agents(["train", "unet_l1", "train", "--config", "tiny.yaml"], nodes, _env(nodes))
    for agent in agents:
        assert agent.returncode == 0, agent.stdout[-2000:] + agent.stderr[-4000:]
    said = "".join(a.stdout for a in agents)
    assert said.count("wrote unet_l1/train to models/unet_l1/train") == 1, "global rank 0 alone reports"

    model = Path("models/unet_l1/train/model.pt")
    assert (nodes / model).read_bytes() == (one / model).read_bytes(), "2 nodes x 1 process != 1 node x 2 processes"
    card_one = json.loads((one / model.with_name("card.json")).read_text())
    card_nodes = json.loads((nodes / model.with_name("card.json")).read_text())
    assert card_nodes["steps"] == card_one["steps"] == 4
    assert card_nodes["final_metrics"] == card_one["final_metrics"]
    import mlflow

    mlflow.set_tracking_uri(_env(nodes)["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["bfrbench-smoke"], output_format="list")
    assert len(runs) == 1, "one MLflow run for the stage, not one per node"

    # Restore the same LQ faces with the trained model: one plain process, then two torchrun nodes.
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from tiny_models import write_lq, write_params

    lq = write_lq(tmp_path / "lq", 6)
    params = write_params(tmp_path / "restore_params.yaml", batch_size=2)  # 3 batches: both ranks restore
    restore = ["restore", "unet_l1", "--lq", str(lq), "--models", str(one / "models" / "unet_l1"), "--params",
               str(params)]
    single = subprocess.run([sys.executable, "-m", "bfrbench.cli", "--no-progress", *restore, "--out",
                             str(tmp_path / "restored_one")], cwd=tmp_path, env=env_one, capture_output=True,
                            text=True, timeout=900)
    assert single.returncode == 0, single.stderr[-3000:]
    agents = _two_agents([*restore, "--out", str(tmp_path / "restored_nodes"), "--devices", "1", "--num-nodes", "2"],
                         tmp_path, env_one)
    for agent in agents:
        assert agent.returncode == 0, agent.stdout[-2000:] + agent.stderr[-4000:]
    meta = json.loads((tmp_path / "restored_nodes.restore.json").read_text())
    assert meta["images"] == 6 and (meta["devices"], meta["num_nodes"]) == (1, 2), meta

    def images(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}

    assert images(tmp_path / "restored_nodes") == images(tmp_path / "restored_one")

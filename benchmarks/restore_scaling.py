"""Restore throughput of a diffusion method (DifFace) on 1 process and on N processes, in the same run.

Each configuration runs the real command (`bfrbench restore difface --lq ... --devices N`) on the same LQ faces and
models; the figure is the restore metadata's `images_per_second` (images over the time from the first batch's start
on any rank to the last batch's end: start-up and model loading left out). Configurations are interleaved and the
best of --repeat is kept, so the ratios are measured under the same load. On a GPU box (`--accelerator gpu`) N is
every GPU; on CPU it is --devices (default 2). "cores used" = img/s x CPU s/img: the cores the processes really
had while restoring (on a shared machine two processes may get less than two), which bounds the ratio.

The models are DifFace's two networks (SwinIR estimator, iDDPM prior) at --size px with random weights, in the model
folder layout the method loads (timing only: nothing they output is a restoration). On CPU every restore process
runs one torch thread (`bfrbench.engine.devices.CPU_THREADS`: the bytes must not depend on the process count), so
1 process uses one core and N processes use N.

    .venv/bin/python benchmarks/restore_scaling.py [--images 32] [--size 64] [--steps 10] [--batch-size 4]
                                                   [--repeat 2] [--devices 2] [--accelerator cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def estimator_arch(size: int) -> dict:
    return {"img_size": size // 8, "embed_dim": 48, "depths": [2, 2], "num_heads": [4, 4], "window_size": 4,
            "mlp_ratio": 2.0, "sf": 8}


def prior_arch(size: int) -> dict:
    return {"image_size": size, "model_channels": 32, "out_channels": 6, "num_res_blocks": 1,
            "attention_resolutions": [size // 4], "channel_mult": [1, 2, 2], "num_head_channels": 32,
            "norm_groups": 8}


def write_models(folder: Path, size: int) -> Path:
    """models/difface/{estimator,prior}/{card.json,model.pt} with random weights."""
    import torch

    from bfrbench.archs.iddpm_unet import IDDPMUNet
    from bfrbench.archs.swinir import SwinIRUnshuffle

    torch.manual_seed(0)
    for stage, cls, arch in (("estimator", SwinIRUnshuffle, estimator_arch(size)),
                             ("prior", IDDPMUNet, prior_arch(size))):
        out = folder / stage
        out.mkdir(parents=True, exist_ok=True)
        torch.save({"config": arch, "state_dict": cls(**arch).state_dict()}, out / "model.pt")
        card = {"method": "difface", "stage": stage, "source": "random weights (benchmark)", "seed": 0,
                "config": {"arch": arch, "diffusion_steps": 1000}}
        (out / "card.json").write_text(json.dumps(card))
    return folder


def write_lq(folder: Path, n: int, size: int) -> Path:
    import cv2
    from skimage import data

    from bfrbench.io.images import write_image

    face = cv2.resize(data.astronaut()[20:220, 130:330], (size, size), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    for i in range(n):  # different images (each draws its own noise), same cost
        noisy = np.clip(face + rng.normal(0, 8, face.shape), 0, 255).astype(np.uint8)
        write_image(folder / f"face_{i:04d}.png", noisy)
    return folder


def write_params(path: Path, size: int, steps: int, batch_size: int) -> Path:
    params = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())
    params["size"] = size
    params["sampling"]["difface"] = {"respacing": 25, "start_step": steps, "eta": 0.5}
    params["restore"]["batch_size"] = batch_size
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def restore(work: Path, name: str, accelerator: str, devices: int) -> dict:
    out = work / "results" / name
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "restore", "difface", "--lq", str(work / "lq"),
           "--out", str(out), "--models", str(work / "models"), "--params", str(work / "params.yaml"),
           "--accelerator", accelerator, "--devices", str(devices), "--overwrite"]
    env = {**os.environ, "BFRBENCH_NO_MLFLOW": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads((out.parent / f"{name}.restore.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="DifFace start_step: prior calls per image")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--devices", type=int, default=None, help="N (default: 2 on CPU, every GPU on gpu)")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    args = parser.parse_args()
    from bfrbench.engine.devices import available_devices

    n = args.devices or (available_devices("gpu") if args.accelerator == "gpu" else 2)
    configs = {"1 process": 1, f"{n} processes": n}
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="restore_scaling_") as tmp:
        work = Path(tmp)
        write_models(work / "models", args.size)
        write_lq(work / "lq", args.images, args.size)
        write_params(work / "params.yaml", args.size, args.steps, args.batch_size)
        best: dict[str, dict] = {}
        outputs: dict[str, bytes] = {}
        for _ in range(args.repeat):
            for label, devices in configs.items():
                meta = restore(work, label.replace(" ", "_"), args.accelerator, devices)
                if label not in best or meta["images_per_second"] > best[label]["images_per_second"]:
                    best[label] = meta
                folder = work / "results" / label.replace(" ", "_")
                outputs[label] = b"".join(p.read_bytes() for p in sorted(folder.iterdir()))
    base = best["1 process"]["images_per_second"]
    print(f"DifFace, {args.images} images at {args.size} px, {args.steps} prior steps (NFE "
          f"{best['1 process']['nfe']:g}), batch {args.batch_size}, {args.accelerator}, best of {args.repeat}")
    print(f"load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} (other work on the machine)")
    print("| configuration | img/s | x 1 process | s/img per device | CPU s/img | cores used | peak host MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, meta in best.items():
        cores = meta["images_per_second"] * meta["cpu_seconds_per_image"]
        print(f"| {label} | {meta['images_per_second']:.3f} | {meta['images_per_second'] / base:.2f}x | "
              f"{meta['seconds_per_image']:.3f} | {meta['cpu_seconds_per_image']:.3f} | {cores:.2f} | "
              f"{meta['peak_host_memory_mb']:.0f} |")
    same = len(set(outputs.values())) == 1
    print(f"outputs byte-identical across configurations: {same}")


if __name__ == "__main__":
    main()

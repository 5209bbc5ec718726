"""Where each pipeline stage writes, relative to the repository root (the folder dvc.yaml lives in)."""

from __future__ import annotations

from pathlib import Path

FACES = Path("artifacts/faces")
TESTSETS = Path("artifacts/testsets")
MODELS = Path("models")
RESULTS = Path("results")
SCORES = Path("scores")
REPORTS = Path("reports")
CHECKPOINTS = Path("checkpoints")  # resumable work folders (training, restore), outside DVC's outputs
SPEED = Path("speed")  # measured timings (restore speed files, the speed table): nothing DVC hashes, they vary by run


def testset_dir(name: str) -> Path:
    return TESTSETS / name


def model_dir(method: str) -> Path:
    return MODELS / method


def result_dir(method: str, testset: str) -> Path:
    return RESULTS / method / testset


def speed_file(method: str, testset: str) -> Path:
    """A pipeline restore's speed figures: outside `results/` (which the report stage hashes as a dependency)."""
    return SPEED / method / f"{testset}.json"


SEEDS = Path("seeds")  # stochastic methods restored and scored with more seeds (bfrbench.stages.seeds)
SUBMISSIONS = Path("submissions")  # outputs entered with `bfrbench submit` (bfrbench.stages.submissions)


def seeds_dir(method: str, testset: str) -> Path:
    return SEEDS / method / testset


def submission_dir(name: str, testset: str) -> Path:
    return SUBMISSIONS / name / testset


def restore_work_dir(method: str, testset: str) -> Path:
    return CHECKPOINTS / "restore" / method / testset


def score_dir(method: str, testset: str) -> Path:
    return SCORES / method / testset

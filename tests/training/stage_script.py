"""Runs one training stage through the stage runner in its own process (for the rerun and SIGKILL tests).

usage: python stage_script.py METHOD STAGE CONFIG_JSON FACES OUT WORK SEED SIZE [KILL_AT_STEP | term:STEP]
With KILL_AT_STEP, the process SIGKILLs itself when training is about to run that step (the checkpoints before it are
on disk): an abrupt end, as a cluster's OOM killer or a pre-empted node gives, not a clean exception. With term:STEP
it sends itself SIGTERM instead (a scheduler's or a user's polite stop, which Lightning turns into an exception).
"""

import json
import os
import signal
import sys
from pathlib import Path

import lightning as L

from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.training import trainer as trainer_module
from bfrbench.training.stage import run_stage


class KillAt(L.Callback):
    def __init__(self, step: int, sig: int = signal.SIGKILL):
        self.step, self.sig = step, sig

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.sig)


def main() -> None:
    method_name, stage, cfg_json, faces, out, work, seed, size = sys.argv[1:9]
    kill = sys.argv[9] if len(sys.argv) > 9 else ""
    sig = signal.SIGTERM if kill.startswith("term:") else signal.SIGKILL
    kill_at = int(kill.removeprefix("term:")) if kill else 0
    if kill_at:
        build = trainer_module.build_trainer

        def with_kill(*args, **kwargs):
            return build(*args, **{**kwargs, "extra_callbacks": [KillAt(kill_at, sig)]})

        trainer_module.build_trainer = with_kill
    method = get_method(method_name)
    out = Path(out)
    ctx = StageContext(method_name, stage, json.loads(cfg_json), {}, Path(faces), out, out.parent, seed=int(seed),
                       size=int(size), progress=False, extras={"work_root": Path(work)})
    run_stage(method, ctx)


if __name__ == "__main__":
    main()

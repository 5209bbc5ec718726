"""No-reference metrics through pyiqa 0.1.16 (`piqe`, `musiq`, `maniqa`, `clipiqa`, `topiq_nr-face`) with registry
weights (piqe has none).

pyiqa downloads weights itself when a network is built; here every file comes from the weights registry, verified,
and the network is built so that pyiqa has nothing to download:
- musiq: `pretrained_model_path=` the KonIQ checkpoint (loaded strictly by pyiqa);
- maniqa: pyiqa asks timm for an ImageNet ViT-B/8 first and then overwrites ALL of it with the MANIQA checkpoint
  (strict load), so the ViT is built without pretrained weights and the checkpoint is loaded strictly afterwards;
- clipiqa: `backbone=` the local OpenAI CLIP RN50 file (pyiqa's CLIP loader accepts a path); no other weights;
- topiq_nr-face: the ResNet-50 trunk is built without ImageNet weights and the TOPIQ checkpoint (which holds the
  trunk too) is loaded strictly with weight_keys='params'. pyiqa's optional face re-alignment (facexlib RetinaFace +
  parsing net, two more downloads) is off: bfrbench scores FFHQ-aligned crops already (see the registry protocol).
Missing files give "unavailable: weights ... missing ...; run bfrbench weights fetch ..." before anything is built.
Inputs: uint8 RGB -> float32 [0, 1], one image at a time (a value never depends on its batch neighbours).
"""

from __future__ import annotations

import contextlib
import io
import types
from pathlib import Path

import numpy as np

from bfrbench.errors import AssetError, unavailable
from bfrbench.metrics.base import Metric
from bfrbench.metrics.spec import MetricSpec
from bfrbench.metrics.weights_check import missing_reason, resolve

PYIQA_PIN = "pyiqa==0.1.16"


@contextlib.contextmanager
def _patched(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())  # pyiqa prints "Loading pretrained model ..." lines


def build_musiq(paths: dict[str, Path]):
    import pyiqa

    with _quiet():
        return pyiqa.create_metric("musiq", device="cpu", pretrained_model_path=str(paths["musiq_koniq"]))


def build_maniqa(paths: dict[str, Path]):
    import pyiqa
    import timm
    from pyiqa.archs import maniqa_arch
    from pyiqa.archs.arch_util import load_pretrained_network

    def no_download(name, pretrained=False, **kwargs):  # every ViT weight is replaced by the strict load below
        return timm.create_model(name, pretrained=False, **kwargs)

    with _patched(maniqa_arch, "timm", types.SimpleNamespace(create_model=no_download)), _quiet():
        model = pyiqa.create_metric("maniqa", device="cpu", pretrained=False)
        load_pretrained_network(model.net, str(paths["maniqa_koniq"]), True)
    return model


def build_clipiqa(paths: dict[str, Path]):
    import pyiqa

    with _quiet():
        return pyiqa.create_metric("clipiqa", device="cpu", backbone=str(paths["clip_rn50"]))


class _NoFaceRealignment:
    """Stands in for facexlib's FaceRestoreHelper, which pyiqa builds (downloading two detectors) even when unused."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        raise RuntimeError("face re-alignment is disabled in bfrbench's topiq_nr-face (inputs are aligned crops)")


def build_topiq_face(paths: dict[str, Path]):
    import pyiqa
    from pyiqa.archs import topiq_arch
    from pyiqa.archs.arch_util import load_pretrained_network

    with _patched(topiq_arch, "FaceRestoreHelper", _NoFaceRealignment), _quiet():
        model = pyiqa.create_metric(
            "topiq_nr-face", device="cpu", pretrained=False, backbone_pretrain=False, align_crop_face=False
        )
        load_pretrained_network(model.net, str(paths["topiq_nr_cgfiqa_res50"]), True, weight_keys="params")
    return model


def build_piqe(paths: dict[str, Path]):
    import pyiqa

    with _quiet():
        return pyiqa.create_metric("piqe", device="cpu")  # hand-crafted: no weights to load


BUILDERS = {"piqe": build_piqe, "musiq": build_musiq, "maniqa": build_maniqa, "clipiqa": build_clipiqa,
            "topiq_nr-face": build_topiq_face}


class PyiqaNoReference(Metric):
    def __init__(self, spec: MetricSpec):
        super().__init__(spec)
        if spec.name not in BUILDERS:
            raise ValueError(f"no pyiqa builder for metric '{spec.name}'")
        self._model = None

    def check_available(self) -> str | None:
        import importlib.util

        if importlib.util.find_spec("pyiqa") is None:
            return unavailable("pyiqa is not installed", f"pip install {PYIQA_PIN}")
        return missing_reason(self.spec.weights)

    def _load(self):
        if self._model is None:
            reason = self.check_available()
            if reason:  # refuse: never score with anything but the verified official weights
                raise AssetError(f"metric '{self.name}' {reason}")
            # resolve() verifies again (sha256 or name prefix): a file swapped since check_available is still refused
            self._model = BUILDERS[self.name]({entry: resolve(entry) for entry in self.spec.weights})
        return self._model

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        import torch

        model = self._load()
        x = torch.from_numpy(pred.transpose(0, 3, 1, 2).copy()).float() / 255.0  # copy: views may have negative strides
        with torch.inference_mode():
            return np.array([float(model(x[i : i + 1]).reshape(-1)[0]) for i in range(len(x))])

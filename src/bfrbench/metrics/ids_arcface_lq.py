"""`ids_arcface_r18_lq`: the identity angle between each restored face and its OWN LQ INPUT, for test sets without
ground truth (the real LQ sets: LFW-Test, WebPhoto-Test, WIDER-Test, ...).

What it is: `ids_arcface_r18`'s measurement (VQFR's convention: ArcFace resnet_face18, 8-bit gray 128x128 as
cv2.imread(png, 0), (x - 127.5) / 127.5, arccos of the cosine in degrees) with the LQ input in place of the ground
truth. What it is not: an identity error. The LQ face is degraded (blur, noise, JPEG, low resolution), so its
embedding is itself off the true identity; a restoration that recovers the person can still be tens of degrees from
its LQ input, and one that copies the LQ blur scores best. Read it as "how far the restoration moved the face's
identity features away from what the input shows": useful to compare methods on the same real set, to flag
identity drift, never to compare with `ids_arcface_r18` numbers. It needs no ground truth (kind NR in the registry).

Pairing: the LQ image of a restored image is the file with the same stem in `lq_dir` (the restore stage names its
outputs after their inputs); a restored image without one is an error naming it. LQ images of any size are accepted
(each is resized to 128x128 on its own); the LQ folder's file names and contents are part of the run's resume key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bfrbench.errors import BFRBenchError, PairingError, unavailable
from bfrbench.metrics.base import _check_rgb_batch
from bfrbench.metrics.ids_arcface import WEIGHTS_ENTRIES, IdsArcfaceR18, angle_degrees
from bfrbench.metrics.reference_folder import relative_path
from bfrbench.metrics.spec import MetricSpec

OPTION_HINT = "bfrbench score ... --option ids_arcface_r18_lq.lq_dir=PATH/TO/LQ"


class IdsArcfaceR18Lq(IdsArcfaceR18):
    """`lq_dir`: the folder of LQ inputs (required; stems as the restored images'); `convert`: apply read_image's
    documented conversions (gray/RGBA/16-bit) to LQ files; `weights_entry`, `batch_size`: as ids_arcface_r18's."""

    def __init__(self, spec: MetricSpec, lq_dir: str | None = None, weights_entry: str = WEIGHTS_ENTRIES[0],
                 convert: bool = False, batch_size: int = 16):
        super().__init__(spec, weights_entry=weights_entry, batch_size=batch_size)
        self.lq_dir = Path(lq_dir) if lq_dir is not None else None
        self.convert = bool(convert)
        self._lq_index: dict[str, Path] | None = None
        self._settings: dict | None = None

    def check_available(self) -> str | None:
        reason = super().check_available()  # the weights first, as every metric reports them
        if reason:
            return reason
        if self.lq_dir is None:
            return unavailable("this metric compares each restored face with its LQ input and needs the LQ folder",
                               OPTION_HINT)
        if not self.lq_dir.is_dir():
            return unavailable(f"LQ folder {self.lq_dir} does not exist", OPTION_HINT)
        return None

    def lq_index(self) -> dict[str, Path]:
        if self._lq_index is None:
            from bfrbench.io.pairing import index_by_stem

            self._lq_index = index_by_stem(self.lq_dir)
        return self._lq_index

    def settings(self) -> dict:
        if self.lq_dir is None:
            return {"lq_dir": None}
        if self._settings is None:
            # Names and contents: a rerun against other LQ images must not resume rows scored against these.
            digest = hashlib.sha256()
            for path in sorted(self.lq_index().values()):
                digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
            self._settings = {"lq_dir": relative_path(self.lq_dir), "lq_files_sha256": digest.hexdigest(),
                              "weights_entry": self.weights_entry}
        return self._settings

    def read_lq(self, stems: list[str]) -> list[np.ndarray]:
        from bfrbench.io.images import read_image

        index = self.lq_index()
        missing = [s for s in stems if s not in index]
        if missing:
            raise PairingError(f"{self.lq_dir}: no LQ image for restored image '{missing[0]}' "
                               f"({len(missing)} of this batch)",
                               fix="point lq_dir at the LQ folder these images were restored from")
        return [read_image(index[s], convert=self.convert) for s in stems]

    def score_stems(self, stems: list[str], pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        _check_rgb_batch(pred, "pred")
        if len(stems) != len(pred):
            raise ValueError(f"metric '{self.name}': {len(stems)} stems for {len(pred)} images")
        lq = self.read_lq(stems)
        emb_lq, emb_pred = self.embed(lq), self.embed(pred)
        return angle_degrees(emb_pred, emb_lq)

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        raise BFRBenchError(f"metric '{self.name}' pairs each image with its LQ input by file stem",
                            fix="call score_stems(stems, pred, gt), as the scoring engine does")

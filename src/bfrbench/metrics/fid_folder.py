"""`fid_folder`: FID of the restored set against a user-given folder of reference images (e.g. FFHQ), pytorch-fid's
protocol: the CodeFormer author's convention ("FID needs a reference dataset, here we use the FFHQ as our reference
dataset. You can use pytorch_fid toolbox", sczhou/CodeFormer issue #41), i.e. `python -m pytorch_fid RESTORED FFHQ`.

The same network, weights, input convention ("pytorch_fid") and statistics as `fid_gt`; only the reference differs:
the images pytorch-fid would read from `reference_dir` (bfrbench.metrics.reference_folder: its file selection, PIL
decoding, features cached by the folder's file-list hash). The result records the folder, its image count and the
sha256 of its sorted file list (names and sizes) beside the value, so a number always says which reference it used.
"""

from __future__ import annotations

import numpy as np

from bfrbench.errors import AssetError, unavailable
from bfrbench.metrics.feature_set import MIN_IMAGES
from bfrbench.metrics.fid import INCEPTION_WEIGHTS, _Fid
from bfrbench.metrics.frechet import feature_stats
from bfrbench.metrics.reference_folder import ReferenceFolder, pytorch_fid_extensions, relative_path
from bfrbench.metrics.spec import MetricSpec


class FidFolder(_Fid):
    """`reference_dir`: the folder of reference images (required), read as pytorch-fid reads a folder."""

    convention = "pytorch_fid"
    stats_entry = None

    def __init__(self, spec: MetricSpec, reference_dir: str | None = None, device: str = "cpu"):
        super().__init__(spec, device)
        self.reference = ReferenceFolder(reference_dir) if reference_dir is not None else None
        self._reference_features: np.ndarray | None = None

    @property
    def feature_kinds(self) -> tuple[str, ...]:
        return ("pred",)  # the reference is the folder, never the run's ground truth

    def option_hint(self) -> str:
        return f"bfrbench score ... --option {self.name}.reference_dir=PATH/TO/FFHQ"

    def check_available(self) -> str | None:
        reason = super().check_available()  # the Inception weights, and pytorch-fid (its file selection)
        if reason:
            return reason
        if self.reference is None:
            return unavailable("this metric compares with a folder of reference images (e.g. FFHQ) and needs it",
                               self.option_hint())
        if not self.reference.folder.is_dir():
            return unavailable(f"reference folder {self.reference.folder} does not exist", self.option_hint())
        if len(self.reference.files) < MIN_IMAGES:
            return unavailable(f"reference folder {self.reference.folder} holds {len(self.reference.files)} image(s) "
                               f"pytorch-fid would read (at least {MIN_IMAGES} needed; extensions "
                               f"{', '.join(sorted(pytorch_fid_extensions()))}, not in subfolders)", self.option_hint())
        return None

    def settings(self) -> dict:
        if self.reference is None:
            return {"reference_dir": None}
        # The file-list hash makes a resumed run with another reference folder content start over.
        return {"reference_dir": relative_path(self.reference.folder),
                "reference_files_sha256": self.reference.sha256 if self.reference.folder.is_dir() else None}

    def reference_features(self) -> np.ndarray:
        if self._reference_features is None:
            reason = self.check_available()
            if reason:
                raise AssetError(f"metric '{self.name}' {reason}")
            from bfrbench.weights import get_asset

            network_sha256 = get_asset(INCEPTION_WEIGHTS).sha256
            self._reference_features = self.reference.features(self._network(), self.convention, network_sha256,
                                                               self.device)
        return self._reference_features

    def reference_stats(self, features):
        return feature_stats(self.reference_features())

    def reference_count(self, features):
        return len(self.reference_features())

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        return {**super().compute_from_features(features), **self.reference.record()}

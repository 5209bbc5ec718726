"""BasicSR 1.4.2's `basicsr/data/degradations.py`, loaded from its PyPI sdist without the package `__init__`.

BasicSR's `__init__` imports torchvision internals that current torchvision removed, so `import basicsr` fails;
the degradation functions need numpy, cv2, scipy and torch, plus one torchvision function whose import moved (the
loader rewrites that single line and nothing else). The sdist is downloaded once, verified
by sha256 and cached like any other asset; the module is built in memory from the archived source.
"""

from __future__ import annotations

import functools
import tarfile
import types

from bfrbench.assets import Asset, fetch

BASICSR_SDIST = Asset(
    name="basicsr-1.4.2-sdist",
    filename="basicsr-1.4.2.tar.gz",
    sha256="b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87",
    urls=(
        "https://files.pythonhosted.org/packages/86/41/00a6b000f222f0fa4c6d9e1d6dcc9811a374cabb8abb9d408b77de39648c/"
        "basicsr-1.4.2.tar.gz",
    ),
    licence="Apache-2.0",
    description="BasicSR 1.4.2 source distribution (reference degradation functions, NIQE prior)",
)


def read_member(member: str, download: bool = True) -> bytes:
    path = fetch(BASICSR_SDIST, download=download, progress=False)
    with tarfile.open(path, "r:gz") as tar:
        handle = tar.extractfile(f"basicsr-1.4.2/{member}")
        if handle is None:
            raise FileNotFoundError(f"{member} not in {path}")
        return handle.read()


@functools.lru_cache(maxsize=1)
def load_degradations(download: bool = True) -> types.ModuleType:
    """The reference `basicsr.data.degradations` module (functions use numpy's global random state)."""
    source = read_member("basicsr/data/degradations.py", download).decode("utf-8")
    # The one import that torchvision >= 0.17 moved (only the torch Poisson-noise helper uses it).
    moved = "from torchvision.transforms.functional_tensor import rgb_to_grayscale"
    if moved not in source:
        raise RuntimeError("basicsr 1.4.2 degradations.py no longer has the expected torchvision import")
    source = source.replace(moved, "from torchvision.transforms.functional import rgb_to_grayscale")
    module = types.ModuleType("basicsr_reference_degradations")
    module.__file__ = f"{BASICSR_SDIST.filename}:basicsr/data/degradations.py"
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module

"""What the wheel ships: every non-Python file under src/bfrbench is listed in package-data, and every pattern there
matches a file (a pattern that matches nothing is a promise the wheel does not keep)."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; requires-python still admits 3.10

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "bfrbench"


def test_package_data_is_exactly_the_data_files():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bfrbench"]
    data = {p.relative_to(PACKAGE) for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    unmatched = sorted(str(p) for p in data if not any(p.match(pattern) for pattern in patterns))
    assert not unmatched, f"non-Python files under src/bfrbench missing from package-data: {unmatched}"
    empty = [pattern for pattern in patterns if not any(p.match(pattern) for p in data)]
    assert not empty, f"package-data patterns that match no file: {empty}"

import subprocess
import sys


def test_help_does_not_import_torch():
    code = ("import sys; from bfrbench.cli import build_parser; build_parser().format_help(); "
            "bad = [m for m in ('torch', 'lightning', 'cv2', 'mlflow', 'dvc', 'pyiqa') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_help_runs():
    out = subprocess.run([sys.executable, "-m", "bfrbench.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "restore" in out.stdout


def test_user_error_exits_nonzero_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bfrbench.cli", "restore", "lq", "--lq", str(tmp_path / "nope"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "nope" in out.stderr

"""User-facing errors.

Everything a user can cause (bad file, bad config, missing weights) raises `BFRBenchError`: the CLI prints its message
and exits non-zero without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class BFRBenchError(Exception):
    """An error the user can fix; the message names the file or key and the fix."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class ImageError(BFRBenchError):
    """An image file that cannot be used as it is."""


class ConfigError(BFRBenchError):
    """A configuration key or value that is wrong."""


class PairingError(BFRBenchError):
    """Prediction and ground-truth folders that do not pair one-to-one by file stem."""


class AssetError(BFRBenchError):
    """Weights or data that are missing, or whose checksum does not match."""


def unavailable(why: str, command: str) -> str:
    """The one format of an availability reason: what is missing and the command that fixes it.

    It lives here, beside the errors, because both the weights registry and the metrics report unavailability (a
    missing file, a library that does not import), and the leaderboard shows the string as is instead of a number.
    """
    return f"unavailable: {why}; run {command}"

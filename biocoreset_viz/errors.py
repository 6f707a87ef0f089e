"""Errors a user can act on.

Every error raised for bad input derives from :class:`BiocoresetError` and carries a
message that fits on one line; the command-line interface prints that line and
exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path


class BiocoresetError(Exception):
    """Base class of the errors caused by the user's input or environment."""


class InputError(BiocoresetError, ValueError):
    """Bad input data: names the file, the line and the record where it can.

    Attributes:
        reason: what is wrong, without the location.
        path: the file, or ``None`` for in-memory input.
        line: 1-based line number in the file, or ``None``.
        record: the record's id, or ``None``.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        record: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.line = line
        self.record = record
        location = self.path or "<input>"
        if line is not None:
            location += f":{line}"
        message = f"{location}: {reason}"
        if record is not None:
            message += f" (record {record!r})"
        super().__init__(message)


class ModelNotFoundError(BiocoresetError, FileNotFoundError):
    """Model weights are not on this machine (nothing is downloaded at run time)."""


class RunDirectoryError(BiocoresetError):
    """A run directory is missing, incomplete, or belongs to a different analysis."""


class ConfigError(BiocoresetError, ValueError):
    """An invalid setting (a parameter out of range, an unknown name)."""


class MissingDependencyError(BiocoresetError, ImportError):
    """An optional dependency (a package extra) is needed but not installed."""


class MMseqsNotFoundError(BiocoresetError, FileNotFoundError):
    """The MMseqs2 program is not installed (``pip install "biocoreset_viz[mmseqs]"``)."""

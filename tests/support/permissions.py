"""Unreadable files, also for a test run as root (which reads anything).

:func:`make_unreadable` takes a file's permissions away and, where the process can
still read it (root), makes ``open`` refuse it as the kernel would for another user.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def make_unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``open(path)`` raises ``PermissionError`` from now on (until the test ends)."""
    path.chmod(0)
    if not os.access(path, os.R_OK):
        return
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)

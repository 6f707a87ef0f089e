"""Which heavy modules an import loads, checked in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys


def modules_loaded_by(imports: str, watched: tuple[str, ...]) -> list[str]:
    """The names of ``watched`` in ``sys.modules`` after ``import <imports>`` in a new Python."""
    code = f"import sys, {imports}; print(sorted(m for m in {watched!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ast.literal_eval(done.stdout.strip())

"""The coreset's downloads: FASTA (exactly its records), CSV of ids, JSON manifest.

:class:`CoresetExports` is part of :class:`~biocoreset_viz.app.store.DataStore`:
it reads the store's current ``selection``, ``run_dir`` and ``manifest``. Every
export is built in memory (no file is written), so a served page never leaves
anything behind.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from biocoreset_viz.app.loading import load_run_sequences
from biocoreset_viz.errors import RunDirectoryError


class CoresetExports:
    """The exports of a store's current selection (mixed into the DataStore)."""

    selection: Any
    run_dir: Path | None
    manifest: dict[str, Any]

    def fasta_unavailable(self) -> str | None:
        """Why the coreset's FASTA cannot be exported, or ``None`` when it can."""
        if self.run_dir is None:
            return "the scores were not loaded from a run directory"
        recorded = (self.manifest.get("input") or {}).get("path")
        if not recorded:
            return "the run's manifest records no input sequence file"
        if str(recorded).startswith("demo:"):
            return None
        if Path(recorded).is_file() or (self.run_dir / recorded).is_file():
            return None
        return "the scored input file recorded in the manifest is missing"

    def coreset_fasta(self) -> bytes:
        """The coreset's sequences as FASTA, exactly its records.

        Raises:
            RunDirectoryError: the run's input sequences cannot be found.
        """
        reason = self.fasta_unavailable()
        if reason is not None:
            raise RunDirectoryError(f"cannot export FASTA: {reason}")
        buffer = io.BytesIO()
        self.selection.to_fasta(buffer, load_run_sequences(str(self.run_dir)))
        return buffer.getvalue()

    def coreset_csv(self) -> bytes:
        """``index,id`` of the coreset as CSV."""
        buffer = io.BytesIO()
        self.selection.to_csv(buffer)
        return buffer.getvalue()

    def coreset_manifest(self) -> bytes:
        """The selection's JSON manifest: method, parameters, seed, indices and ids."""
        buffer = io.BytesIO()
        self.selection.save(buffer)
        return buffer.getvalue()

    def export_name(self) -> str:
        """A file-name stem for exports (the selection's name)."""
        return self.selection.name

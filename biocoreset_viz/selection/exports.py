"""A selection's exports as bytes (FASTA, CSV of ids, JSON manifest) and where they are written.

Every export is built as bytes first, then written to a path or handed to an
open binary file (``io.BytesIO``, an upload response ...), so the dashboard
never needs a temporary file. A path is written atomically (a temporary file
and a rename); a path ending in ``.gz`` is gzip-compressed, deterministically
(no timestamp, so the same selection gives the same bytes). A file object gets
the plain bytes. Every export reads back with the project's own readers
(:func:`~biocoreset_viz.sequences.read_sequences` for FASTA,
:func:`~biocoreset_viz.sequences.read_ids` for the CSV, ``Selection.load`` for
JSON): the CSV is RFC 4180 (ids holding commas, quotes or line breaks are quoted),
and a FASTA id that whitespace or control characters would break is written
percent-escaped (:func:`~biocoreset_viz.sequences.escape_fasta_id`) or refused.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from biocoreset_viz.errors import ConfigError

# A path (str or os.PathLike) or a writable binary file object.
ExportTarget = str | os.PathLike | IO[bytes]


def is_file_object(target: Any) -> bool:
    """Whether ``target`` is an open file (anything with ``write``) rather than a path."""
    return hasattr(target, "write")


def write_export(target: ExportTarget, data: bytes) -> Path | IO[bytes]:
    """Write ``data`` to ``target``: a path (atomically; gzip when it ends in ``.gz``)
    or a writable binary file object (plain bytes).

    Returns:
        the path written, or the file object itself.

    Raises:
        ConfigError: the path cannot be written (no permission, a read-only or
            full disk, a missing folder that cannot be made), naming it and why.
    """
    if is_file_object(target):
        target.write(data)  # type: ignore[union-attr]
        return target  # type: ignore[return-value]
    from biocoreset_viz.runs import atomic_write_bytes

    path = Path(target)  # type: ignore[arg-type]
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    try:
        return atomic_write_bytes(path, data)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from error


def csv_bytes(indices: Iterable[int], ids: Iterable[str]) -> bytes:
    """``index,id`` rows (with a header row) as UTF-8 CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "id"])
    writer.writerows(zip(indices, ids, strict=True))
    return buffer.getvalue().encode("utf-8")


def fasta_bytes(
    records: Iterable[tuple[str, str]], line_width: int = 80, *, unsafe_ids: str = "escape"
) -> bytes:
    """``(id, sequence)`` records as UTF-8 FASTA (``unsafe_ids``: ``"escape"`` or
    ``"refuse"``, see :func:`~biocoreset_viz.sequences.write_fasta_records`)."""
    from biocoreset_viz.sequences import write_fasta_records

    buffer = io.BytesIO()
    write_fasta_records(buffer, records, line_width, unsafe_ids=unsafe_ids)
    return buffer.getvalue()


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    """A JSON manifest, indented, with a final newline (as run-directory JSON files are)."""
    return (json.dumps(payload, indent=2) + "\n").encode("utf-8")

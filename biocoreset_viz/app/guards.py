"""The served dashboard's guards: which runs a browser may open, and which uploads it may send.

* :func:`resolve_run_dir`: a ``?run=`` path, refused unless it resolves (symbolic
  links included) to a run directory inside the server's root folder;
* :func:`read_uploaded_ids`: an uploaded file, size-limited and read with the
  same readers and errors as a file given to the command line: a FASTA, a
  CSV/TSV with an id column (the dashboard's own "Ids (CSV)" export included)
  or with a sequence column.

The upload limit is :data:`MAX_UPLOAD_BYTES`, stated in the page, checked in the
browser before a file is sent (:mod:`~biocoreset_viz.app.upload`) and here again,
with the same words (:func:`upload_too_large`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from biocoreset_viz.errors import InputError, RunDirectoryError
from biocoreset_viz.runs import ScoreTable
from biocoreset_viz.sequences import CSV_SUFFIXES, FASTA_SUFFIXES, TSV_SUFFIXES, read_ids

# uploads larger than this are refused (in the browser, and here before they are parsed);
# in decimal megabytes, as the page states it
MAX_UPLOAD_BYTES = 5_000_000
# the sequence files whose records carry ids (a plain one-per-line file names none)
UPLOAD_SUFFIXES = (*sorted(FASTA_SUFFIXES), *sorted(CSV_SUFFIXES), *sorted(TSV_SUFFIXES))
# what the browser's file picker offers
UPLOAD_ACCEPT = ",".join((*UPLOAD_SUFFIXES, ".gz"))


def resolve_run_dir(requested: str | Path | None, root: str | Path) -> Path:
    """The run directory ``requested`` relative to ``root``, refusing anything outside it.

    Symbolic links are resolved first, so a link inside the root that points
    elsewhere is refused too.

    Args:
        requested: a path relative to ``root`` (``None`` or empty: ``root`` itself).
        root: the folder the server may open runs from.

    Raises:
        RunDirectoryError: the path leaves the root, or is not a run directory.
    """
    base = Path(root).resolve()
    text = "" if requested is None else str(requested)
    if "\x00" in text:
        raise RunDirectoryError("run path contains a NUL character")
    candidate = (base / text).resolve()
    if candidate != base and not candidate.is_relative_to(base):
        raise RunDirectoryError(f"run {text!r} is outside the folder this server may open")
    if not ScoreTable.exists(candidate):
        raise RunDirectoryError(f"run {text or '.'!r} is not a run directory with scores")
    return candidate


def upload_suffix(name: str) -> str:
    """The suffix an upload is read by (``.fasta``, ``.csv.gz`` ...).

    Raises:
        InputError: not a FASTA, CSV or TSV file name (optionally ``.gz``).
    """
    suffixes = [s.lower() for s in Path(name).suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes.pop()
    if not suffixes or suffixes[-1] not in UPLOAD_SUFFIXES:
        raise InputError(
            f"unsupported file type; upload FASTA, CSV or TSV ({', '.join(UPLOAD_SUFFIXES)}, "
            "optionally .gz)",
            path=name,
        )
    return suffixes[-1] + (".gz" if compressed else "")


def size_text(size: int) -> str:
    """A file size as the page writes it, in decimal units: "5 MB", "7.3 MB", "70 kB"."""
    if size < 100_000:
        return f"{size / 1e3:.1f}".removesuffix(".0") + " kB"
    return f"{size / 1e6:.1f}".removesuffix(".0") + " MB"


def upload_too_large(name: str, size: int, max_bytes: int = MAX_UPLOAD_BYTES) -> InputError:
    """The error for an upload over the limit (the same words in the browser and here)."""
    return InputError(
        f"file is {size_text(size)}; uploads are limited to {size_text(max_bytes)}", path=name
    )


def read_uploaded_ids(
    data: bytes, filename: str, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> list[str]:
    """The record ids of an uploaded FASTA, CSV or TSV file (optionally gzipped).

    The bytes are checked for size, written to a private temporary file with the
    upload's suffix (the sequence reader reads files), and read with
    :func:`~biocoreset_viz.sequences.read_ids`, so they are validated exactly
    like a file given to the command line; a CSV/TSV needs only an id column
    (``index,id``, the dashboard's own export, reads back).

    Raises:
        InputError: too large, an unsupported file type, or bad content; the
            message names the uploaded file's name (never the temporary path).
    """
    name = Path(str(filename or "upload")).name or "upload"
    if len(data) > max_bytes:
        raise upload_too_large(name, len(data), max_bytes)
    suffix = upload_suffix(name)
    with tempfile.TemporaryDirectory(prefix="biocoreset-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return read_ids(path)
        except InputError as error:
            raise InputError(
                error.reason, path=name, line=error.line, record=error.record
            ) from None

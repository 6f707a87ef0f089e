"""The Ray engine's input: files, folders and globs, read as one pool, record by record.

Sequence files (FASTA, CSV/TSV, plain, gzip too) through
:func:`biocoreset_viz.sequences.iter_sequences`, and Parquet files (an id, a
sequence and label columns) one record batch at a time, validated the same way.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from biocoreset_viz.errors import InputError
from biocoreset_viz.sequences import (
    DETECTION_RECORDS,
    FASTA_SUFFIXES,
    ID_COLUMNS,
    SEQUENCE_COLUMNS,
    SequenceRecord,
    detect_molecule,
    invalid_characters,
    iter_sequences,
    normalize_sequence,
)

PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
# Suffixes taken from a folder given as input (a trailing .gz is ignored).
_FOLDER_SUFFIXES = FASTA_SUFFIXES | PARQUET_SUFFIXES | {".csv", ".tsv", ".tab", ".txt", ".seq"}
_PARQUET_BATCH_ROWS = 8192


def expand_inputs(inputs: str | Path | Sequence[str | Path]) -> list[Path]:
    """Input files in reading order: files as given, folders and globs sorted by name.

    Raises:
        InputError: a path that does not exist, a glob or folder that matches nothing.
    """
    given = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if not given:
        raise InputError("no input files given")
    files: list[Path] = []
    for item in given:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and _suffix(p) in _FOLDER_SUFFIXES and not p.name.startswith(".")
            )
            if not found:
                raise InputError("folder holds no sequence or Parquet files", path=path)
            files.extend(found)
        elif path.exists():
            files.append(path)
        elif any(c in str(item) for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(str(item)) if Path(p).is_file())
            if not matches:
                raise InputError("no file matches this pattern", path=str(item))
            files.extend(matches)
        else:
            raise InputError("no such file", path=path)
    return files


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _is_parquet(path: Path) -> bool:
    return _suffix(path) in PARQUET_SUFFIXES


def _parquet_columns(path: Path) -> tuple[str | None, str, list[str]]:
    """``(id column or None, sequence column, label columns)`` of a Parquet file."""
    names = pq.read_schema(path).names
    lowered = {name.strip().lower(): name for name in names}
    sequence = next((lowered[c] for c in SEQUENCE_COLUMNS if c in lowered), None)
    if sequence is None:
        raise InputError(
            f"no sequence column: expected one of {', '.join(SEQUENCE_COLUMNS)}, "
            f"found {', '.join(names)}",
            path=path,
        )
    identifier = next((lowered[c] for c in ID_COLUMNS if c in lowered), None)
    labels = [n for n in names if n not in (sequence, identifier) and n != "index"]
    return identifier, sequence, labels


def _parquet_raw_records(path: Path) -> Iterator[tuple[str, str, dict[str, str] | None]]:
    """``(id, raw sequence, labels)`` of a Parquet file, one record batch at a time."""
    identifier, sequence, labels = _parquet_columns(path)
    columns = [c for c in (identifier, sequence, *labels) if c is not None]
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=columns):
        data = batch.to_pydict()
        for offset, raw in enumerate(data[sequence]):
            row += 1
            name = data[identifier][offset] if identifier else f"seq{row}"
            label_values = {c: data[c][offset] for c in labels} or None
            if label_values is not None:
                label_values = {k: ("" if v is None else str(v)) for k, v in label_values.items()}
            yield (
                ("" if name is None else str(name)),
                ("" if raw is None else str(raw)),
                label_values,
            )


def _parquet_records(path: Path, molecule: str) -> tuple[str, Iterator[SequenceRecord]]:
    """The molecule (detected when ``"auto"``) and the validated records of a Parquet file."""
    if molecule == "auto":
        head = [raw for _, raw, _ in _take(_parquet_raw_records(path), DETECTION_RECORDS)]
        if not head:
            raise InputError("no sequence records found (parquet)", path=path)
        molecule = detect_molecule(head)

    def records() -> Iterator[SequenceRecord]:
        for row, (name, raw, labels) in enumerate(_parquet_raw_records(path), start=1):
            if not name:
                raise InputError(f"empty id in row {row}", path=path)
            sequence = normalize_sequence(raw, molecule)  # type: ignore[arg-type]
            if not sequence:
                raise InputError("empty sequence", path=path, record=name)
            bad = invalid_characters(sequence, molecule)  # type: ignore[arg-type]
            if bad:
                shown = " ".join(repr(c) for c in bad[:12])
                raise InputError(f"invalid {molecule} characters {shown}", path=path, record=name)
            yield SequenceRecord(name, sequence, "", row, labels)

    return molecule, records()


def _take(items: Iterable[Any], count: int) -> list[Any]:
    out = []
    for item in items:
        out.append(item)
        if len(out) == count:
            break
    return out


def iter_input_records(
    files: Sequence[Path], molecule: str = "auto"
) -> tuple[str, Iterator[SequenceRecord]]:
    """Stream the records of several files as one pool, in order.

    The molecule is detected on the first file (``"auto"``) and then required of
    every file. Ids must be unique within each file (the reader checks that);
    across files :func:`stage_inputs` checks them.

    Returns:
        ``(molecule, records)``.
    """
    first = files[0]
    if _is_parquet(first):
        resolved, first_records = _parquet_records(first, molecule)
    else:
        reader = iter_sequences(first, molecule=molecule)
        resolved, first_records = reader.molecule, iter(reader)

    def chained() -> Iterator[SequenceRecord]:
        yield from first_records
        for path in files[1:]:
            if _is_parquet(path):
                yield from _parquet_records(path, resolved)[1]
            else:
                yield from iter_sequences(path, molecule=resolved)

    return resolved, chained()

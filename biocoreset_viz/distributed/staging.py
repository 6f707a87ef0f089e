"""Staging: the Ray engine's input streamed into ``RUN_DIR/inputs``, one Parquet file per shard.

The same pass counts the pool, records its lengths and computes the input
fingerprint the local engine computes, so that no machine ever holds the whole
pool. A finished staging is reused while the input files are unchanged (same
paths, sizes and modification times). :class:`StagedInput` is a
:class:`~biocoreset_viz.influence.plan.ScoringPool`: the scoring plan is made from
it as from sequences in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biocoreset_viz.distributed.inputs import expand_inputs, iter_input_records
from biocoreset_viz.errors import InputError
from biocoreset_viz.influence.identity import InputDigest
from biocoreset_viz.runs import INPUTS_DIR, SHARD_PATTERN, atomic_write_bytes, read_json, write_json
from biocoreset_viz.sequences import SequenceSet

INPUT_SUMMARY_NAME = "summary.json"
INPUT_LENGTHS_NAME = "lengths.npy"
_STAGING_FORMAT = 1


@dataclass
class StagedInput:
    """A pool staged as Parquet shards in ``RUN_DIR/inputs`` (see :func:`stage_inputs`).

    Attributes:
        folder: ``RUN_DIR/inputs``.
        count: sequences in the pool.
        sha256: the input fingerprint (equal to ``influence.input_fingerprint`` of
            the same sequences read into memory).
        molecule: ``"rna"`` or ``"protein"``.
        shard_size: sequences per staged shard (the score shard size).
        sources: the input files, in reading order.
        label_columns: label columns carried from the input.
    """

    folder: Path
    count: int
    sha256: str
    molecule: str
    shard_size: int
    sources: list[str]
    label_columns: list[str]

    @property
    def source(self) -> str | None:
        """The single input file, or ``None`` for sharded input (for error messages)."""
        return self.sources[0] if len(self.sources) == 1 else None

    @property
    def n_parts(self) -> int:
        return -(-self.count // self.shard_size)

    @property
    def lengths(self) -> np.ndarray:
        """``(N,)`` residues per sequence (memory-mapped)."""
        return np.load(self.folder / INPUT_LENGTHS_NAME, mmap_mode="r")

    def part_path(self, part: int) -> Path:
        return self.folder / SHARD_PATTERN.format(part)

    def read_part(self, part: int) -> pd.DataFrame:
        """One staged shard: ``index``, ``id``, ``sequence`` and the label columns."""
        return pq.read_table(self.part_path(part)).to_pandas()

    def part_sequences(self, part: int) -> tuple[np.ndarray, SequenceSet]:
        """``(global indices, sequences)`` of one staged shard."""
        frame = self.read_part(part)
        return frame["index"].to_numpy(np.int64), _sequence_set(frame, self)

    def subset(self, indices: np.ndarray) -> SequenceSet:
        """The sequences at the sorted pool ``indices``, in that order, read shard by shard."""
        indices = np.asarray(indices, dtype=np.int64)
        frames = []
        for part in np.unique(indices // self.shard_size):
            rows = indices[indices // self.shard_size == part] - part * self.shard_size
            frames.append(self.read_part(int(part)).iloc[rows])
        frame = pd.concat(frames, ignore_index=True)
        return _sequence_set(frame, self)

    def input_record(self) -> dict[str, Any]:
        """The manifest's ``input`` entry: the source, count and fingerprint, the files."""
        return {
            "path": self.source,
            "count": self.count,
            "sha256": self.sha256,
            "paths": self.sources,
            "staged": INPUTS_DIR,
        }

    def record_id(self, index: int) -> str:
        """The id of the sequence at pool position ``index``."""
        frame = self.read_part(index // self.shard_size)
        return str(frame["id"].iloc[index % self.shard_size])


def _sequence_set(frame: pd.DataFrame, staged: StagedInput) -> SequenceSet:
    labels = frame[staged.label_columns].reset_index(drop=True) if staged.label_columns else None
    return SequenceSet(
        [str(i) for i in frame["id"]],
        [str(s) for s in frame["sequence"]],
        staged.molecule,  # type: ignore[arg-type]
        labels,
        staged.source,
    )


def _source_stamp(files: Sequence[Path]) -> list[dict[str, Any]]:
    stamps = []
    for path in files:
        stat = path.stat()
        stamps.append(
            {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        )
    return stamps


def _write_staged_part(path: Path, rows: list[dict[str, Any]], label_columns: list[str]) -> None:
    frame = pd.DataFrame(
        {
            "index": np.array([r["index"] for r in rows], dtype=np.int64),
            "id": pd.array([r["id"] for r in rows], dtype=object),
            "sequence": pd.array([r["sequence"] for r in rows], dtype=object),
        }
    )
    for column in label_columns:
        frame[column] = [(r["labels"] or {}).get(column) for r in rows]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def stage_inputs(
    inputs: str | Path | Sequence[str | Path],
    run_dir: str | Path,
    *,
    shard_size: int,
    molecule: str = "auto",
    progress: bool = True,
) -> StagedInput:
    """Stream the input into ``RUN_DIR/inputs/part-XXXXX.parquet``, one file per score shard.

    Holds one shard of records at a time, plus 4 bytes of length and 8 bytes of id
    hash per sequence. Reuses a finished staging of the same files (paths, sizes,
    modification times), shard size and molecule.

    Raises:
        InputError: bad input (naming the file and record), or an id used twice.
    """
    from tqdm.auto import tqdm

    files = expand_inputs(inputs)
    folder = Path(run_dir) / INPUTS_DIR
    summary_path = folder / INPUT_SUMMARY_NAME
    stamps = _source_stamp(files)
    wanted = {"sources": stamps, "shard_size": shard_size, "requested_molecule": molecule}
    if summary_path.exists():
        summary = read_json(summary_path)
        if summary.get("format") == _STAGING_FORMAT and all(
            summary.get(k) == v for k, v in wanted.items()
        ):
            return _staged_from_summary(folder, summary)
    folder.mkdir(parents=True, exist_ok=True)
    summary_path.unlink(missing_ok=True)
    for stale in folder.glob("part-*.parquet"):
        stale.unlink()

    resolved, records = iter_input_records(files, molecule)
    digest = InputDigest()
    lengths: list[np.ndarray] = []
    id_hashes: list[np.ndarray] = []
    label_columns: list[str] = []
    buffer: list[dict[str, Any]] = []
    count = 0
    bar = tqdm(unit="seq", desc="staging input", disable=not progress, dynamic_ncols=True)

    def flush() -> None:
        part = (count - 1) // shard_size
        _write_staged_part(folder / SHARD_PATTERN.format(part), buffer, label_columns)
        lengths.append(np.fromiter((len(r["sequence"]) for r in buffer), np.int32, len(buffer)))
        id_hashes.append(np.fromiter((_id_hash(r["id"]) for r in buffer), np.uint64, len(buffer)))
        bar.update(len(buffer))
        buffer.clear()

    for record in records:
        digest.update(record.id, record.sequence)  # as influence.input_fingerprint
        if record.labels:
            label_columns.extend(c for c in record.labels if c not in label_columns)
        buffer.append(
            {"index": count, "id": record.id, "sequence": record.sequence, "labels": record.labels}
        )
        count += 1
        if len(buffer) == shard_size:
            flush()
    if buffer:
        flush()
    bar.close()
    if count == 0:
        raise InputError("no sequences to score", path=str(files[0]))
    _check_unique_ids(np.concatenate(id_hashes), folder, shard_size)
    np.save(folder / INPUT_LENGTHS_NAME, np.concatenate(lengths))
    summary = {
        "format": _STAGING_FORMAT,
        **wanted,
        "molecule": resolved,
        "count": count,
        "sha256": digest.hexdigest(),
        "label_columns": label_columns,
    }
    write_json(summary_path, summary)  # written last: its presence marks a finished staging
    return _staged_from_summary(folder, summary)


def _staged_from_summary(folder: Path, summary: dict[str, Any]) -> StagedInput:
    return StagedInput(
        folder=folder,
        count=int(summary["count"]),
        sha256=summary["sha256"],
        molecule=summary["molecule"],
        shard_size=int(summary["shard_size"]),
        sources=[s["path"] for s in summary["sources"]],
        label_columns=list(summary["label_columns"]),
    )


def _id_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _check_unique_ids(hashes: np.ndarray, folder: Path, shard_size: int) -> None:
    """Refuse an id used twice across the input files (8-byte hashes, then the names)."""
    values, counts = np.unique(hashes, return_counts=True)
    suspects = set(values[counts > 1].tolist())
    if not suspects:
        return
    seen: set[str] = set()
    for path in sorted(folder.glob("part-*.parquet")):
        for name in pq.read_table(path, columns=["id"]).column("id").to_pylist():
            if _id_hash(name) in suspects:
                if name in seen:
                    raise InputError("duplicate id across the input files", record=name)
                seen.add(name)

"""Score with Ray Data: many GPUs, many machines, pools that do not fit in memory.

:func:`score_with_ray` writes the same run directory as
:func:`biocoreset_viz.influence.score_run` (``manifest.json``, ``fisher.pt``,
``scores/part-XXXXX.parquet``) with the same scores, bit for bit on the same
hardware and thread count, and either engine resumes the other's run. It works in
three steps:

1. **Stage the input, streaming.** The FASTA/CSV/plain files and Parquet files
   (sharded input: several files, a folder or a glob, read in order) are read
   record by record and written to ``RUN_DIR/inputs/part-XXXXX.parquet``, one file
   per score shard, so no machine ever holds the whole pool. The same pass counts
   the pool, records its lengths and computes the input fingerprint the local
   engine computes. A finished staging is reused while the input files are
   unchanged (same paths, sizes and modification times).
2. **Fine-tune and fit the Fisher on the driver**, on the Fisher subset only
   (:func:`biocoreset_viz.influence.fisher_stage`, exactly as the local engine).
3. **Score the shards with an actor pool**: a Ray Dataset holds one row per shard
   still to score, and ``map_batches`` hands them to actors that each hold one
   model (one actor per GPU, or per ``cpus_per_actor`` CPUs). An actor reads its
   staged shard, scores it with the local engine's own code and writes the score
   shard atomically. A shard is written whole or not at all, and writing it twice
   writes the same file, so when a worker dies Ray restarts the actor and retries
   its shards with no row lost or duplicated; a final check reads the ``index``
   column of every shard and requires every input position exactly once.

Ray is an optional dependency: ``pip install "biocoreset_viz[distributed]"``.
The run directory must be on storage that every node can read and write (NFS, a
parallel file system) when the cluster has more than one machine: see
``docs/scaling.md``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biocoreset_viz.errors import ConfigError, InputError, MissingDependencyError, RunDirectoryError
from biocoreset_viz.runs import (
    SCORES_DIR,
    SHARD_PATTERN,
    ScoreTable,
    atomic_write_bytes,
    read_json,
    shard_paths,
    write_json,
    write_shard,
)
from biocoreset_viz.sequences import (
    DETECTION_RECORDS,
    FASTA_SUFFIXES,
    ID_COLUMNS,
    SEQUENCE_COLUMNS,
    SequenceRecord,
    SequenceSet,
    detect_molecule,
    invalid_characters,
    iter_sequences,
    normalize_sequence,
)

INPUTS_DIR = "inputs"
INPUT_SUMMARY_NAME = "summary.json"
INPUT_LENGTHS_NAME = "lengths.npy"
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
# Suffixes taken from a folder given as input (a trailing .gz is ignored).
_FOLDER_SUFFIXES = FASTA_SUFFIXES | PARQUET_SUFFIXES | {".csv", ".tsv", ".tab", ".txt", ".seq"}
_STAGING_FORMAT = 1
_PARQUET_BATCH_ROWS = 8192
# A test-only hook (see tests/test_distributed.py): when this environment variable
# names a folder, an actor that finds the file ``<point>-part-XXXXX`` there renames
# it (so it fires once) and exits the worker process at that point of that shard.
CRASH_HOOK_ENV = "BIOCORESET_TEST_CRASH_DIR"
INSTALL_HINT = 'pip install "biocoreset_viz[distributed]"'


class RayNotInstalledError(MissingDependencyError):
    """The Ray engine was asked for but Ray (``ray[data]``) is not installed."""


def require_ray():
    """Import Ray and Ray Data, or raise :class:`RayNotInstalledError` saying how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401 (the engine needs the Data library, not only the core)
    except ImportError as error:
        raise RayNotInstalledError(
            f"the Ray engine needs Ray Data, which is not installed: {INSTALL_HINT}"
        ) from error
    return ray


@dataclass
class RayOptions:
    """Where and how wide the Ray engine runs.

    Attributes:
        address: the cluster to join: ``None`` joins the one named by ``RAY_ADDRESS``
            or starts a local one; ``"auto"`` joins the cluster this node belongs to;
            ``"ray://host:10001"`` connects a remote client.
        num_actors: scoring actors (each loads one model); ``None``: one per GPU of
            the cluster when ``gpus_per_actor`` > 0, otherwise one per
            ``cpus_per_actor`` CPUs; never more than the shards to score.
        cpus_per_actor: CPUs reserved per actor (and its torch threads).
        gpus_per_actor: GPUs per actor; ``None``: 1 when the cluster has GPUs and
            the config's device is not ``"cpu"``, else 0.
        max_restarts: how often a dead actor is restarted (its shards are retried
            as often) before the run fails.
        num_cpus: CPUs of a local cluster started here (``None``: all of this machine).
    """

    address: str | None = None
    num_actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float | None = None
    max_restarts: int = 3
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.num_actors is not None and (
            isinstance(self.num_actors, bool)
            or not isinstance(self.num_actors, int)
            or self.num_actors < 1
        ):
            raise ConfigError(f"num_actors must be None or >= 1, got {self.num_actors!r}")
        if not self.cpus_per_actor > 0:
            raise ConfigError(f"cpus_per_actor must be > 0, got {self.cpus_per_actor!r}")
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise ConfigError(f"gpus_per_actor must be >= 0, got {self.gpus_per_actor!r}")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ConfigError(f"max_restarts must be an integer >= 0, got {self.max_restarts!r}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(f"num_cpus must be None or >= 1, got {self.num_cpus!r}")


# ---------------------------------------------------------------------------- input


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
    digest = hashlib.sha256()
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
        # The same bytes, in the same order, as influence.input_fingerprint.
        digest.update(record.id.encode())
        digest.update(b"\x1f")
        digest.update(record.sequence.encode())
        digest.update(b"\x1e")
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


# ---------------------------------------------------------------------------- actors


def _crash_point(point: str, part: int) -> None:
    """The test-only crash hook (see :data:`CRASH_HOOK_ENV`); nothing when the variable is unset."""
    folder = os.environ.get(CRASH_HOOK_ENV)
    if not folder:
        return
    trigger = Path(folder) / f"{point}-{SHARD_PATTERN.format(part).removesuffix('.parquet')}"
    try:
        os.rename(trigger, trigger.with_name(trigger.name + ".fired"))
    except FileNotFoundError:
        return
    os._exit(1)  # a worker dying without cleanup, as on a lost node or a segfault


class ShardScorer:
    """A Ray actor that holds one model and scores whole shards (``map_batches`` callable).

    Each call gets a batch of shard numbers, reads their staged sequences, scores
    them with the local engine's code and writes the score shards atomically.
    """

    def __init__(self, payload: Any, run_dir: str, threads: int) -> None:
        import torch

        from biocoreset_viz.influence import _prepare_model

        if not isinstance(payload, dict):  # an ObjectRef Ray did not resolve for us
            import ray

            payload = ray.get(payload)
        torch.set_num_threads(max(1, threads))
        self.run_dir = Path(run_dir)
        self.config = payload["config"]
        self.model = payload["model"]
        self.alphabet = payload["alphabet"]
        self.targets = payload["targets"]
        self.max_length = payload["max_length"]
        self.staged: StagedInput = payload["staged"]
        self.device, _ = _prepare_model(self.model, self.config)
        self.weights = {n: w.to(self.device) for n, w in payload["weights"].items()}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from biocoreset_viz.influence import _score_chunk

        parts = [int(p) for p in batch["part"]]
        rows = []
        for part in parts:
            indices, sequences = self.staged.part_sequences(part)
            frame, embeddings = _score_chunk(
                self.model,
                self.alphabet,
                sequences,
                np.arange(len(sequences)),  # positions in this shard: same batches as local
                self.config,
                self.targets,
                self.weights,
                self.max_length,
                self.device,
                lambda _: None,
            )
            frame["index"] = indices  # positions in the pool
            _crash_point("before-write", part)
            write_shard(self.run_dir / SCORES_DIR / SHARD_PATTERN.format(part), frame, embeddings)
            _crash_point("after-write", part)
            rows.append(len(frame))
        return {"part": np.array(parts, dtype=np.int64), "rows": np.array(rows, dtype=np.int64)}


# ---------------------------------------------------------------------------- the engine


def _connect(ray, options: RayOptions) -> bool:
    """Join or start a cluster; ``True`` when this call started the session (and ends it)."""
    if ray.is_initialized():
        return False
    import logging

    arguments: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if options.address is None and not os.environ.get("RAY_ADDRESS"):
        arguments.update(num_cpus=options.num_cpus, include_dashboard=False)
    ray.init(address=options.address, **arguments)
    return True


def _pool_shape(ray, options: RayOptions, config, pending: int) -> tuple[int, float, float]:
    """``(actors, CPUs per actor, GPUs per actor)`` for this cluster."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    cpus = float(resources.get("CPU", 1))
    per_gpu = options.gpus_per_actor
    if per_gpu is None:
        per_gpu = 1.0 if gpus >= 1 and config.device != "cpu" else 0.0
    if per_gpu > gpus or (config.device == "cuda" and not per_gpu):
        raise ConfigError(
            f"device {config.device!r} with {per_gpu:g} GPUs per actor, but the cluster "
            f"has {gpus:g} GPUs"
        )
    if not per_gpu and options.cpus_per_actor > cpus:
        raise ConfigError(
            f"{options.cpus_per_actor:g} CPUs per actor, but the cluster has {cpus:g} CPUs"
        )
    actors = options.num_actors
    if actors is None:
        actors = int(gpus // per_gpu) if per_gpu else int(cpus // options.cpus_per_actor)
    return max(1, min(actors, pending)), options.cpus_per_actor, per_gpu


def _check_complete(run_dir: Path, count: int) -> None:
    """Every pool position exactly once across the score shards, or an error."""
    paths = shard_paths(run_dir)
    index = pq.ParquetDataset(paths).read(columns=["index"]).column("index").to_numpy()
    if len(index) != count or not np.array_equal(np.sort(index), np.arange(count)):
        unique = len(np.unique(index))
        raise RunDirectoryError(
            f"{run_dir}: the score shards hold {len(index)} rows ({unique} distinct positions) "
            f"for a pool of {count}; rerun to score the missing shards"
        )


def score_with_ray(
    inputs: str | Path | Sequence[str | Path],
    model: str | Path | tuple[Any, Any],
    run_dir: str | Path,
    config=None,
    *,
    finetune_settings=None,
    options: RayOptions | None = None,
    molecule: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
) -> ScoreTable:
    """:func:`~biocoreset_viz.influence.score_run` on a Ray cluster, streaming the input.

    Same run directory, same scores, same resumability: shards already scored are
    skipped, a killed run continues where it stopped, and a worker that dies has
    its shards retried (see the module docstring).

    Args:
        inputs: a sequence file (FASTA, CSV/TSV, plain, gzip too) or a Parquet file
            (``id``, ``sequence`` and label columns), several of them, a folder or a glob.
        model: a name or checkpoint path, or a ``(model, alphabet)`` pair.
        run_dir: the run directory; shared by every node of a multi-node cluster.
        config: an :class:`~biocoreset_viz.influence.InfluenceConfig`; its device
            must be ``"auto"``, ``"cpu"`` or ``"cuda"`` (Ray gives each actor its GPU).
        finetune_settings: as for ``score_run``.
        options: the cluster and the actor pool (default :class:`RayOptions`).
        molecule: ``"rna"``, ``"protein"`` or ``"auto"``.
        overwrite: replace a run made with other settings.
        progress: progress bars.

    Raises:
        RayNotInstalledError: Ray is not installed.
    """
    ray = require_ray()
    from biocoreset_viz.influence import (
        FinetuneSettings,
        InfluenceConfig,
        _ensure_writable,
        _prepare_model,
        check_molecule,
        complete_score_manifest,
        effective_max_length,
        fisher_stage,
        fisher_targets,
        resolve_targets,
        start_score_manifest,
    )
    from biocoreset_viz.models import load_model

    config = config or InfluenceConfig()
    settings = finetune_settings or FinetuneSettings()
    options = options or RayOptions()
    if config.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(
            f"device {config.device!r}: the Ray engine gives each actor its own GPU; "
            "use 'auto', 'cuda' or 'cpu'"
        )
    run_dir = Path(run_dir).resolve()
    _ensure_writable(run_dir)
    if isinstance(model, tuple):
        network, alphabet = model
        model_name = getattr(network, "biocoreset_source", None)
    else:
        network, alphabet = load_model(model)
        model_name = str(model)
    staged = stage_inputs(
        inputs, run_dir, shard_size=config.shard_size, molecule=molecule, progress=progress
    )
    check_molecule(alphabet, staged)  # type: ignore[arg-type]
    resolve_targets(network, config.target)  # fail fast on a bad target
    max_length = effective_max_length(network, config)
    lengths = staged.lengths
    too_long = np.flatnonzero(lengths > max_length)
    if config.truncation == "error" and len(too_long):
        first = int(too_long[0])
        raise InputError(
            f"{len(too_long)} sequences exceed max_length {max_length} residues "
            f"(this one has {lengths[first]}); use truncation='head' to keep their start",
            path=staged.source,
            record=staged.record_id(first),
        )

    fisher, finetune_summary = fisher_stage(
        network,
        alphabet,
        run_dir,
        config,
        settings,
        n_pool=staged.count,
        input_sha256=staged.sha256,
        subset_sequences=staged.subset,
        overwrite=overwrite,
        progress=progress,
    )
    _prepare_model(network, config)  # the dtype the local engine fingerprints the model in
    targets = fisher_targets(network, fisher, config)
    weights = fisher.inverse_weights(config.damping, config.damping_mode)
    input_record = {
        "path": staged.source,
        "count": staged.count,
        "sha256": staged.sha256,
        "paths": staged.sources,
        "staged": INPUTS_DIR,
    }
    manifest = start_score_manifest(
        network,
        fisher,
        config,
        run_dir,
        alphabet=alphabet,
        targets=targets,
        max_length=max_length,
        input_record=input_record,
        model_name=model_name,
        overwrite=overwrite,
        extra_manifest={"engine": {"name": "ray"}, "finetune": finetune_summary},
    )
    # After start_score_manifest, which deletes the scores of another identity (overwrite).
    pending = [
        part
        for part in range(staged.n_parts)
        if not (run_dir / SCORES_DIR / SHARD_PATTERN.format(part)).exists()
    ]
    if pending:  # a finished run is completed without starting a cluster
        started_here = _connect(ray, options)
        try:
            actors, cpus, gpus = _pool_shape(ray, options, config, len(pending))
            manifest["engine"].update(actors=actors, cpus_per_actor=cpus, gpus_per_actor=gpus)
            with warnings.catch_warnings():
                # Ray deprecations (its own context fields, the retry bounds we pass):
                # nothing a user of this package can act on.
                warnings.simplefilter("ignore", DeprecationWarning)
                _score_parts(
                    ray,
                    pending,
                    payload={
                        "config": config,
                        "model": network.to("cpu"),
                        "alphabet": alphabet,
                        "targets": targets,
                        "weights": weights,
                        "max_length": max_length,
                        "staged": staged,
                    },
                    run_dir=run_dir,
                    shape=(actors, cpus, gpus),
                    options=options,
                    staged=staged,
                    progress=progress,
                )
        finally:
            if started_here:
                ray.shutdown()
    _check_complete(run_dir, staged.count)
    complete_score_manifest(run_dir, manifest, scored=staged.count, truncated=int(len(too_long)))
    return ScoreTable.load(run_dir)


def _score_parts(
    ray,
    pending: list[int],
    *,
    payload: dict[str, Any],
    run_dir: Path,
    shape: tuple[int, float, float],
    options: RayOptions,
    staged: StagedInput,
    progress: bool,
) -> None:
    """Score the ``pending`` shards with an actor pool; returns when all are written."""
    from tqdm.auto import tqdm

    actors, cpus, gpus = shape
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours below counts sequences, not blocks
    # One shard per block: a retried task then redoes one shard, not a block of them.
    dataset = ray.data.from_items(
        [{"part": part} for part in pending], override_num_blocks=len(pending)
    )
    arguments: dict[str, Any] = {
        "batch_size": 1,
        "compute": ray.data.ActorPoolStrategy(size=actors),
        "fn_constructor_kwargs": {
            "payload": ray.put(payload),
            "run_dir": str(run_dir),
            "threads": max(1, int(cpus)),
        },
        "num_cpus": cpus,
        "num_gpus": gpus,
    }
    # Ray Data restarts dead actors and retries their tasks without limit by default;
    # a bound turns a shard that kills every worker into an error instead of a hang.
    # Ray deprecates passing these (to be removed): a Ray without them keeps its default.
    bounds = {"max_restarts": options.max_restarts, "max_task_retries": options.max_restarts}
    try:
        scored = dataset.map_batches(ShardScorer, **arguments, **bounds)
    except TypeError:
        scored = dataset.map_batches(ShardScorer, **arguments)
    total = sum(min(staged.shard_size, staged.count - part * staged.shard_size) for part in pending)
    bar = tqdm(total=total, unit="seq", desc="scoring (ray)", disable=not progress)
    for row in scored.iter_rows():
        bar.update(int(row["rows"]))
    bar.close()

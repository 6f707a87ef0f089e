"""The Selection record: which sequences a coreset holds, how they were chosen, and from what.

A fitted selector becomes a :class:`Selection` (indices, ids, method, parameters,
seed, source run, CCI stratum table) that saves to ``RUN_DIR/selections/<name>.json``
and exports FASTA, CSV and JSON, each to a path or a binary file object
(:mod:`biocoreset_viz.selection.exports`). A loaded selection is checked against
its schema and, inside a run directory, against that run
(:mod:`biocoreset_viz.selection.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError
from biocoreset_viz.runs import MANIFEST_NAME, SELECTIONS_DIR
from biocoreset_viz.selection.exports import (
    ExportTarget,
    csv_bytes,
    fasta_bytes,
    is_file_object,
    json_bytes,
    write_export,
)
from biocoreset_viz.selection.schema import (
    SELECTION_FORMAT,
    SELECTION_VERSION,
    STRATA_COLUMNS,
    check_against_run,
    check_manifest,
)

if TYPE_CHECKING:
    from biocoreset_viz.selection.base import BaseSelector

__all__ = ["SELECTION_FORMAT", "SELECTION_VERSION", "STRATA_COLUMNS", "Selection"]


def _frame_from_records(records: list[dict[str, Any]] | None) -> pd.DataFrame | None:
    if records is None:
        return None
    frame = pd.DataFrame.from_records(records, columns=list(STRATA_COLUMNS))
    for column in STRATA_COLUMNS:
        frame[column] = frame[column].astype(
            np.float64 if column in ("left", "right") else np.int64
        )
    return frame


def default_name(method: str, params: Mapping[str, Any], n: int, seed: int | None) -> str:
    """A selection name from its method and parameters, e.g. ``cci-n200-b0.1-k50-seed0``."""
    parts = [method, f"n{n}"]
    if method == "cci":
        parts += [f"b{params.get('hard_cutoff')}", f"k{params.get('n_strata')}"]
        if params.get("strata") == "quantile":
            parts.append("quantile")
    elif method == "diversity":
        parts.append(str(params.get("strategy")))
    elif method == "identity":
        parts.append(f"id{params.get('min_seq_id')}")
    if seed is not None:
        parts.append(f"seed{seed}")
    return "-".join(parts)


def _json_param(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return repr(value)  # a Generator or the like: recorded, not reproducible


@dataclass(eq=False)
class Selection:
    """A coreset: which sequences, how they were chosen, and from what.

    Attributes:
        indices: selected positions in the pool, sorted ascending, int64.
        ids: their sequence ids (same order), or ``None`` when unknown.
        method: ``cci``, ``topi``, ``bottomi``, ``random``, ``diversity`` or ``identity``.
        params: the selector's parameters.
        seed: integer seed, or ``None`` (not reproducible).
        n_total: pool size N.
        name: the selection's name (its file name in a run directory).
        source_run: the run directory the scores came from, or ``None``.
        strata: CCI's per-stratum table (``stratum``, ``left``, ``right``,
            ``available``, ``budget``, ``selected``), else ``None``.
        summary: other fitted facts (cutoff value, clusters ...).
        created: UTC time of creation, ISO 8601.
        package_version: the biocoreset_viz version that made it.
        partial: ``None``, or what was missing from the run it was selected from
            (``allow_partial``: ``rows``, ``pool``, ``missing_shards``, ``status``).
    """

    indices: np.ndarray
    ids: np.ndarray | None
    method: str
    params: dict[str, Any]
    seed: int | None
    n_total: int
    name: str
    source_run: str | None = None
    strata: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    package_version: str = ""
    partial: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int64)
        if self.ids is not None:
            self.ids = np.asarray(self.ids, dtype=object)
            if len(self.ids) != len(self.indices):
                raise InputError(f"{len(self.ids)} ids for {len(self.indices)} indices")
        if not self.created:
            self.created = datetime.now(UTC).isoformat(timespec="seconds")
        if not self.package_version:
            from biocoreset_viz import __version__

            self.package_version = __version__

    @property
    def n(self) -> int:
        """Coreset size."""
        return len(self.indices)

    def __len__(self) -> int:
        return self.n

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selection):
            return NotImplemented
        same_ids = (self.ids is None and other.ids is None) or (
            self.ids is not None
            and other.ids is not None
            and np.array_equal(self.ids.astype(str), other.ids.astype(str))
        )
        same_strata = (self.strata is None and other.strata is None) or (
            self.strata is not None
            and other.strata is not None
            and self.strata.equals(other.strata)
        )
        return (
            np.array_equal(self.indices, other.indices)
            and same_ids
            and same_strata
            and self.to_dict(with_members=False) == other.to_dict(with_members=False)
        )

    @classmethod
    def from_selector(
        cls,
        selector: BaseSelector,
        *,
        ids: Sequence[str] | np.ndarray | None = None,
        name: str | None = None,
        source_run: str | Path | None = None,
    ) -> Selection:
        """The result of a fitted selector; ``ids`` are the whole pool's ids (length N)."""
        if not hasattr(selector, "indices_"):
            raise ConfigError(f"{type(selector).__name__} is not fitted: call fit first")
        indices = selector.indices_
        selected_ids = None
        if ids is not None:
            pool_ids = np.asarray(ids, dtype=object)
            if len(pool_ids) != selector.n_samples_:
                raise InputError(
                    f"ids has {len(pool_ids)} entries for a pool of {selector.n_samples_}"
                )
            selected_ids = pool_ids[indices]
        params = {k: _json_param(v) for k, v in selector.get_params().items()}
        strata = selector._strata_table()
        return cls(
            indices=indices,
            ids=selected_ids,
            method=selector.method,
            params=params,
            seed=selector.seed,
            n_total=selector.n_samples_,
            name=name or default_name(selector.method, params, len(indices), selector.seed),
            source_run=None if source_run is None else str(source_run),
            strata=None if strata is None else strata.copy(),
            summary={k: _json_param(v) for k, v in selector._summary().items()},
        )

    # ----------------------------------------------------------- JSON manifest

    def to_dict(self, *, with_members: bool = True) -> dict[str, Any]:
        """The JSON manifest as a dict (``with_members=False``: without indices/ids)."""
        payload: dict[str, Any] = {
            "format": SELECTION_FORMAT,
            "version": SELECTION_VERSION,
            "name": self.name,
            "method": self.method,
            "params": dict(self.params),
            "seed": self.seed,
            "n": self.n,
            "n_total": self.n_total,
            "source_run": self.source_run,
            "created": self.created,
            "package_version": self.package_version,
            "summary": dict(self.summary),
            "strata": None
            if self.strata is None
            else [
                {
                    c: (float(v) if c in ("left", "right") else int(v))
                    for c, v in zip(STRATA_COLUMNS, row, strict=True)
                }
                for row in self.strata[list(STRATA_COLUMNS)].itertuples(index=False)
            ],
        }
        if self.partial is not None:
            payload["partial"] = dict(self.partial)
        if with_members:
            payload["indices"] = self.indices.tolist()
            payload["ids"] = None if self.ids is None else [str(i) for i in self.ids]
        return payload

    @classmethod
    def from_dict(cls, payload: Any) -> Selection:
        """A selection from its JSON manifest, checked against the schema
        (:func:`~biocoreset_viz.selection.schema.check_manifest`); indices given out
        of order are sorted, their ids with them.

        Raises:
            InputError: a manifest that breaks the schema.
        """
        payload = check_manifest(payload)
        indices = np.asarray(payload["indices"], dtype=np.int64)
        ids = payload.get("ids")
        ids = None if ids is None else np.asarray(ids, dtype=object)
        order = np.argsort(indices, kind="stable")
        return cls(
            indices=indices[order],
            ids=None if ids is None else ids[order],
            method=payload["method"],
            params=dict(payload["params"]),
            seed=payload["seed"],
            n_total=int(payload["n_total"]),
            name=payload["name"],
            source_run=payload.get("source_run"),
            strata=_frame_from_records(payload.get("strata")),
            summary=dict(payload.get("summary") or {}),
            created=payload.get("created", ""),
            package_version=payload.get("package_version", ""),
            partial=payload.get("partial"),
        )

    @staticmethod
    def path_in_run(run_dir: str | Path, name: str) -> Path:
        """``RUN_DIR/selections/<name>.json``."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"selection name must be a plain file name, got {name!r}")
        return Path(run_dir) / SELECTIONS_DIR / f"{name}.json"

    def save(self, target: ExportTarget) -> Path | IO[bytes]:
        """Write the JSON manifest: to a ``.json`` file (atomically), into a run
        directory (any other path: ``RUN_DIR/selections/<name>.json``), or to a
        writable binary file object.

        Returns:
            the file written, or the file object itself.

        Raises:
            RunDirectoryError: the run directory cannot be written (read-only).
            ConfigError: another path cannot be written.
        """
        if is_file_object(target) or Path(target).suffix.lower() == ".json":  # type: ignore[arg-type]
            return write_export(target, json_bytes(self.to_dict()))
        run_dir = Path(target)  # type: ignore[arg-type]
        file = self.path_in_run(run_dir, self.name)
        try:
            return write_export(file, json_bytes(self.to_dict()))
        except ConfigError as error:
            cause = error.__cause__
            reason = getattr(cause, "strerror", None) or cause or error
            raise RunDirectoryError(
                f"{run_dir}: cannot save the selection in {SELECTIONS_DIR}/ ({reason}); "
                "select with save=False (--no-save), or write it elsewhere (--out NAME.json)"
            ) from error

    to_json = save

    @classmethod
    def load(
        cls, path: str | Path, name: str | None = None, *, run: str | Path | None = None
    ) -> Selection:
        """Read a selection: a ``.json`` file, or ``(run_dir, name)``, and check it.

        The manifest is checked against its schema; a selection inside a run
        directory (``RUN_DIR/selections/<name>.json``), or any selection given
        ``run``, is also checked against that run: the same pool size, and the
        run's id at every selected index.

        Raises:
            RunDirectoryError: no such selection, a manifest that is not valid JSON
                or breaks the schema, or one that does not match its run.
        """
        file = cls.path_in_run(path, name) if name is not None else Path(path)
        if not file.is_file():
            raise RunDirectoryError(f"{file}: no such selection")
        try:
            selection = cls.from_dict(_read_selection_json(file))
        except (KeyError, ValueError, TypeError) as error:
            reason = getattr(error, "reason", error)  # an InputError's text without "<input>:"
            raise RunDirectoryError(
                f"{file}: not a readable selection manifest ({reason})"
            ) from error
        run_dir = Path(run) if run is not None else _enclosing_run(file)
        if run_dir is not None:
            try:
                check_against_run(
                    selection.indices,
                    selection.ids,
                    selection.n_total,
                    run_dir,
                    partial=selection.partial is not None,
                )
            except InputError as error:
                raise RunDirectoryError(
                    f"{file}: does not belong to the run {run_dir}: {error.reason}"
                ) from error
        return selection

    @classmethod
    def exists(cls, path: str | Path, name: str | None = None) -> bool:
        """Whether a selection file exists (a ``.json`` path, or ``(run_dir, name)``)."""
        file = cls.path_in_run(path, name) if name is not None else Path(path)
        return file.is_file()

    # ----------------------------------------------------------------- exports

    def to_csv(self, target: ExportTarget) -> Path | IO[bytes]:
        """Write ``index,id`` rows of the coreset (``id`` empty when unknown) to a path
        (gzip when it ends in ``.gz``) or a writable binary file object.

        Returns:
            the file written, or the file object itself.
        """
        ids = self.ids if self.ids is not None else [""] * self.n
        return write_export(target, csv_bytes(self.indices.tolist(), ids))

    def to_fasta(
        self,
        target: ExportTarget,
        sequences: Any,
        *,
        line_width: int = 80,
        unsafe_ids: str = "escape",
    ) -> Path | IO[bytes]:
        """Write the coreset's sequences as FASTA to a path (gzip when it ends in ``.gz``)
        or a writable binary file object.

        Args:
            target: output file, or an open binary file such as ``io.BytesIO``.
            sequences: a :class:`~biocoreset_viz.sequences.SequenceSet` of the pool, or
                a mapping id -> sequence.
            line_width: residues per FASTA line.
            unsafe_ids: an id that whitespace or control characters would break in a
                FASTA header is ``"escape"``-d (percent-escaped, as
                :func:`~biocoreset_viz.sequences.escape_fasta_id`) or ``"refuse"``-d.

        Returns:
            the file written, or the file object itself.

        Raises:
            InputError: a selected id is missing from ``sequences``, the selection
                has no ids and ``sequences`` is not the pool in index order, or
                (``unsafe_ids="refuse"``) an id needs escaping.
        """
        records = self.fasta_records(sequences)
        return write_export(target, fasta_bytes(records, line_width, unsafe_ids=unsafe_ids))

    def fasta_records(self, sequences: Any) -> list[tuple[str, str]]:
        """``(id, sequence)`` of every selected sequence, in index order.

        Looked up by id in ``sequences`` (a SequenceSet or a mapping id -> sequence);
        a selection without ids reads positions of the whole pool in index order.

        Raises:
            InputError: an id without a sequence, or no ids and no whole pool.
        """
        from biocoreset_viz.sequences import sequences_for_ids

        if self.ids is not None:
            ids = [str(i) for i in self.ids]
            return list(zip(ids, sequences_for_ids(ids, sequences, role="selected"), strict=True))
        pool_ids = getattr(sequences, "ids", None)
        pool = getattr(sequences, "sequences", None)
        if pool_ids is None or pool is None or len(pool_ids) != self.n_total:
            raise InputError(
                "this selection has no ids: pass the whole pool as a SequenceSet in index order"
            )
        return [(pool_ids[i], pool[i]) for i in self.indices]


def _read_selection_json(file: Path) -> Any:
    """The parsed JSON of a selection file.

    Raises:
        InputError: unreadable, not UTF-8 JSON, or nested too deeply to parse.
    """
    import json

    try:
        with open(file, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise InputError(f"cannot read it ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise InputError("not UTF-8 text") from error
    except json.JSONDecodeError as error:
        raise InputError(
            f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from error
    except RecursionError as error:
        raise InputError("JSON nested too deeply to be a selection") from error


def _enclosing_run(file: Path) -> Path | None:
    """The run directory a ``RUN_DIR/selections/<name>.json`` file lies in, else ``None``."""
    folder = file.parent
    if folder.name == SELECTIONS_DIR and (folder.parent / MANIFEST_NAME).is_file():
        return folder.parent
    return None


def list_selections(run_dir: str | Path) -> list[str]:
    """Names of the selections saved in a run directory."""
    folder = Path(run_dir) / SELECTIONS_DIR
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

"""Whole reads: a run directory checked against its manifest before anything reads it.

:func:`check_run` is cheap: the manifest's status, the shard layout it promises
(:class:`ShardLayout`), and every promised shard present with the rows and the
positions it should hold, read from the Parquet footers alone
(:func:`shard_damage`); :meth:`~biocoreset_viz.runs.ScoreTable.load` calls it
before reading and :func:`check_rows` after (every position once, ids unique). A
partial or damaged run is refused with one line saying what is wrong, how many
rows are there and what to do, unless the reader passes ``allow_partial``; the
scorer uses the same checks to find what a resumed run must redo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.run_lock import RunWriter, run_writer
from biocoreset_viz.runs import SCORES_DIR, SHARD_PATTERN, read_manifest, shard_paths


@dataclass(frozen=True)
class ShardLayout:
    """How a run's pool is cut into score shards: shard ``p`` holds the positions
    ``[p * rows_per_shard, min((p + 1) * rows_per_shard, rows))``."""

    rows: int
    rows_per_shard: int

    @property
    def count(self) -> int:
        return -(-self.rows // self.rows_per_shard)

    def positions(self, part: int) -> tuple[int, int]:
        """``(start, stop)`` of shard ``part``."""
        start = part * self.rows_per_shard
        return start, min(start + self.rows_per_shard, self.rows)

    def record(self) -> dict[str, int]:
        """The manifest's ``shards`` entry."""
        return {"count": self.count, "rows": self.rows, "rows_per_shard": self.rows_per_shard}


def shard_layout(manifest: Mapping[str, Any]) -> ShardLayout | None:
    """The shard layout a scoring run's manifest promises (``None``: a table saved by
    :meth:`ScoreTable.save`, which promises only what its shards hold).

    Read from the ``shards`` entry, or, in a manifest older than it, from the input
    count (``counts.scored`` once complete) and ``config.shard_size``.
    """
    recorded = manifest.get("shards")
    if isinstance(recorded, Mapping):
        rows, size = recorded.get("rows"), recorded.get("rows_per_shard")
    elif manifest.get("status") in ("scoring", "complete"):
        config, source = manifest.get("config") or {}, manifest.get("input") or {}
        counts = manifest.get("counts") or {}
        rows = counts.get("scored", source.get("count")) if isinstance(counts, Mapping) else None
        size = config.get("shard_size") if isinstance(config, Mapping) else None
    else:
        return None
    valid = all(isinstance(v, int) and not isinstance(v, bool) for v in (rows, size))
    return ShardLayout(rows, size) if valid and rows >= 0 and size > 0 else None  # type: ignore[arg-type]


def _index_bounds(metadata: pq.FileMetaData) -> tuple[int, int] | None:
    """The smallest and largest ``index`` of a shard, from its footer's statistics."""
    if metadata.num_row_groups == 0:
        return None
    group = metadata.row_group(0)
    column = next(
        (i for i in range(group.num_columns) if group.column(i).path_in_schema == "index"), None
    )
    if column is None:
        return None
    low = high = None
    for g in range(metadata.num_row_groups):
        stats = metadata.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return int(low), int(high)


def shard_damage(path: Path, start: int, stop: int) -> str | None:
    """What is wrong with the shard of positions ``[start, stop)``, from its footer alone
    (``None``: it holds those rows, as far as its metadata tells)."""
    try:
        metadata = pq.read_metadata(path)
    except (OSError, pa.ArrowException):
        return "not a readable Parquet file"
    if "index" not in metadata.schema.names:
        return "no index column"
    if metadata.num_rows != stop - start:
        return f"{metadata.num_rows:,} rows where the run has {stop - start:,}"
    bounds = _index_bounds(metadata)
    if bounds is not None and metadata.num_rows and bounds != (start, stop - 1):
        return f"positions {bounds[0]:,}-{bounds[1]:,} where it should hold {start:,}-{stop - 1:,}"
    return None


@dataclass
class ShardSurvey:
    """The score files of a run directory sorted against its layout."""

    intact: list[Path]  # in shard order
    missing: list[int]
    damaged: list[tuple[int, Path, str]]  # (shard number, shard, what is wrong)
    extra: list[Path]  # part-*.parquet files that are no shard of the layout


def survey_shards(run_dir: str | Path, layout: ShardLayout) -> ShardSurvey:
    """Every promised shard present, absent or damaged (footers only), and the extras."""
    found = {path.name: path for path in shard_paths(run_dir)}
    survey = ShardSurvey([], [], [], [])
    for part in range(layout.count):
        path = found.pop(SHARD_PATTERN.format(part), None)
        problem = None if path is None else shard_damage(path, *layout.positions(part))
        if path is None:
            survey.missing.append(part)
        elif problem is not None:
            survey.damaged.append((part, path, problem))
        else:
            survey.intact.append(path)
    survey.extra = sorted(found.values())
    return survey


@dataclass(frozen=True)
class RunStatus:
    """What a run directory holds, against what its manifest promises (:func:`check_run`).

    Attributes:
        run_dir: the run directory.
        status: the manifest's ``status`` (``"complete"``, ``"scoring"``), or ``None``
            for a table saved by :meth:`ScoreTable.save`.
        layout: the promised shards, or ``None`` when the manifest promises none.
        shards: the shards to read: every intact one of the layout, in order.
        missing: shard numbers absent.
        damaged: ``(shard number, file name, what is wrong)`` of shards that cannot
            be used.
        extra: score files that are no shard of the layout (copies ...), not read.
        writer: a live writer holding the run's lock, if any.
    """

    run_dir: Path
    status: str | None
    layout: ShardLayout | None
    shards: tuple[Path, ...]
    missing: tuple[int, ...] = ()
    damaged: tuple[tuple[int, str, str], ...] = ()
    extra: tuple[str, ...] = ()
    writer: RunWriter | None = None

    @property
    def pool_size(self) -> int | None:
        """The number of sequences the run scores (``None``: not recorded)."""
        return None if self.layout is None else self.layout.rows

    @property
    def rows(self) -> int | None:
        """Rows in :attr:`shards`, by the layout (``None`` without one)."""
        if self.layout is None:
            return None
        done = set(range(self.layout.count)) - set(self.missing)
        done -= {part for part, _, _ in self.damaged}
        return sum(self.layout.positions(p)[1] - self.layout.positions(p)[0] for p in done)

    @property
    def problems(self) -> list[str]:
        """What is wrong, one phrase each (empty: a whole run)."""
        found = []
        if self.status not in (None, "complete"):
            doing = (
                f"being scored now by {self.writer.describe()}"
                if self.writer is not None
                else "a scoring run that stopped before the end"
            )
            found.append(f"its manifest says status {self.status!r} ({doing})")
        elif self.writer is not None:  # rescoring a finished run (--overwrite)
            found.append(f"it is being written now by {self.writer.describe()}")
        if self.missing:
            verb = "is" if len(self.missing) == 1 else "are"
            found.append(
                f"{len(self.missing)} of its {self.layout.count} score shards {verb} missing "  # type: ignore[union-attr]
                f"({_part_list(self.missing)})"
            )
        for _, name, reason in self.damaged[:3]:
            found.append(f"{SCORES_DIR}/{name} is damaged ({reason})")
        if len(self.damaged) > 3:
            found.append(f"{len(self.damaged) - 3} more shards are damaged")
        if self.extra:
            shown = ", ".join(self.extra[:3]) + (" ..." if len(self.extra) > 3 else "")
            files = "1 file" if len(self.extra) == 1 else f"{len(self.extra)} files"
            found.append(f"{files} in {SCORES_DIR}/ not among the run's shards ({shown}: a copy?)")
        return found

    @property
    def complete(self) -> bool:
        return not self.problems

    def partial_record(self) -> dict[str, Any]:
        """What a selection made from this partial run records (its ``partial`` entry)."""
        return {
            "rows": self.rows,
            "pool": self.pool_size,
            "status": self.status,
            "missing_shards": list(self.missing),
            "damaged_shards": [part for part, _, _ in self.damaged],
            "ignored_files": list(self.extra),
        }

    def message(self) -> str:
        """One line: what is wrong, how many rows are there, and what to do."""
        what = "; ".join(self.problems)
        rows = "" if self.rows is None else f"; {self.rows:,} of {self.pool_size:,} rows are there"
        if self.writer is not None:
            advice = "wait for it to finish"
        elif self.extra and not (self.missing or self.damaged or self.status != "complete"):
            advice = f"remove {'it' if len(self.extra) == 1 else 'them'} from {SCORES_DIR}/"
        else:
            advice = (
                "rerun the same `biocoreset score` command to resume (it scores only "
                "what is missing or damaged)"
            )
        partial = (  # only select reads a partial run; evaluate and serve refuse one
            ", or select from the rows that are there with `biocoreset select --allow-partial` "
            "(select_from_run(..., allow_partial=True))"
        )
        kind = "damaged" if self.damaged or self.extra else "incomplete"
        return f"{self.run_dir}: {kind} run: {what}{rows}; {advice}{partial if self.shards else ''}"


def _part_list(parts: Sequence[int]) -> str:
    names = [SHARD_PATTERN.format(p) for p in parts[:3]]
    return ", ".join(names) + (f" and {len(parts) - 3} more" if len(parts) > 3 else "")


def check_run(run_dir: str | Path, *, allow_partial: bool = False) -> RunStatus:
    """Check a run directory before anything reads it, cheaply: the manifest's status,
    and every promised shard present with its rows and positions (Parquet footers only).

    Args:
        run_dir: the run directory.
        allow_partial: accept a run that is unfinished, misses shards, has damaged
            ones or extra files, as long as some shard is intact: its
            :attr:`RunStatus.shards` are then what can be read.

    Returns:
        The run's :class:`RunStatus`.

    Raises:
        RunDirectoryError: not a run directory, a damaged manifest, no score shards,
            or (without ``allow_partial``) any problem: one line naming it, the rows
            there and what to do (resume, wait, remove copies, or ``--allow-partial``).
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    status = manifest.get("status")
    status = status if isinstance(status, str) else None
    layout = shard_layout(manifest)
    if layout is None:
        run = RunStatus(run_dir, status, None, tuple(shard_paths(run_dir)))
    else:
        survey = survey_shards(run_dir, layout)
        run = RunStatus(
            run_dir,
            status,
            layout,
            tuple(survey.intact),
            tuple(survey.missing),
            tuple((part, path.name, reason) for part, path, reason in survey.damaged),
            tuple(path.name for path in survey.extra),
        )
    if status not in (None, "complete") or run.problems:
        run = dataclasses.replace(run, writer=run_writer(run_dir))
    if not run.shards and not run.missing and not run.damaged:
        raise RunDirectoryError(
            f"{run_dir}: no score shards in {SCORES_DIR}/ (run `biocoreset score`)"
        )
    if run.problems and not (allow_partial and run.shards):
        raise RunDirectoryError(run.message())
    return run


def check_rows(run: RunStatus, index: np.ndarray, ids: pd.Series, *, partial: bool) -> None:
    """The rows read: every position once (all of them, for a whole run), ids unique.

    Raises:
        RunDirectoryError: a position twice or missing, or an id twice.
    """
    expected = run.pool_size if run.pool_size is not None else len(index)
    repeated = int(np.count_nonzero(np.diff(index) == 0))
    if repeated:
        problem = f"{repeated:,} positions are scored twice"
    elif not partial and not np.array_equal(index, np.arange(expected)):
        problem = f"the shards hold {len(index):,} rows, not positions 0-{expected - 1:,} once each"
    elif len(index) and (index[0] < 0 or index[-1] >= expected):
        problem = f"positions outside 0-{expected - 1:,}"
    elif not ids.is_unique:
        first = ids[ids.duplicated()].iloc[0]
        problem = f"{int(ids.duplicated().sum()):,} ids occur twice (first: {first!r})"
    else:
        return
    raise RunDirectoryError(
        f"{run.run_dir}: damaged run: {problem}; rescore it (biocoreset score ... --overwrite)"
    )

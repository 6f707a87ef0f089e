"""What a saved selection must hold: its JSON manifest checked field by field, and against its run.

A selection file is user-editable text, so nothing in it is trusted:
:func:`check_manifest` refuses a manifest whose fields have the wrong type, whose
indices are out of range, negative or repeated, whose ids do not line up with the
indices, or whose ``n`` or stratum table disagrees with its members;
:func:`check_against_run` refuses one whose pool size or ids differ from the run
directory it is read from. Each raises :class:`~biocoreset_viz.errors.InputError`
with a one-line reason (the record names the file).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from biocoreset_viz.errors import InputError

SELECTION_FORMAT = "biocoreset-selection"
SELECTION_VERSION = 1
STRATA_COLUMNS = ("stratum", "left", "right", "available", "budget", "selected")

# field -> (accepted JSON types, required); ints exclude booleans (checked apart)
_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "name": ((str,), True),
    "method": ((str,), True),
    "params": ((dict,), True),
    "seed": ((int, type(None)), True),
    "n": ((int,), True),
    "n_total": ((int,), True),
    "indices": ((list,), True),
    "ids": ((list, type(None)), False),
    "source_run": ((str, type(None)), False),
    "created": ((str,), False),
    "package_version": ((str,), False),
    "summary": ((dict, type(None)), False),
    "strata": ((list, type(None)), False),
    "partial": ((dict, type(None)), False),
}
_JSON_TYPE_NAMES = {
    str: "a string",
    dict: "an object",
    int: "an integer",
    list: "a list",
    type(None): "null",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in _JSON_TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, float) else type(value).__name__


def _check_field(payload: Mapping[str, Any], key: str) -> None:
    kinds, required = _FIELDS[key]
    if key not in payload:
        if required:
            raise InputError(f"the field {key!r} is missing")
        return
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        wanted = " or ".join(_JSON_TYPE_NAMES[kind] for kind in kinds)
        raise InputError(f"{key!r} must be {wanted}, found {_type_name(value)}")


def check_manifest(payload: Any) -> dict[str, Any]:
    """``payload`` (parsed JSON) checked as a selection manifest; returns it as a dict.

    Raises:
        InputError: not an object, another format or version, a field of the wrong
            type, an unknown method, or members that contradict each other
            (:func:`check_members`).
    """
    if not isinstance(payload, dict):
        raise InputError(f"expected a JSON object at the top level, found {_type_name(payload)}")
    if payload.get("format") != SELECTION_FORMAT:
        raise InputError(f"not a {SELECTION_FORMAT} manifest (format={payload.get('format')!r})")
    if payload.get("version") != SELECTION_VERSION:
        raise InputError(f"unsupported selection manifest version {payload.get('version')!r}")
    for key in _FIELDS:
        _check_field(payload, key)
    from biocoreset_viz.selection.methods import METHODS

    if payload["method"] not in METHODS:
        raise InputError(f"unknown method {payload['method']!r} (known: {', '.join(METHODS)})")
    if not payload["name"]:
        raise InputError("the selection's name is empty")
    check_members(payload["indices"], payload.get("ids"), payload["n"], payload["n_total"])
    _check_strata(payload.get("strata"), payload["n"])
    return payload


def check_members(indices: Any, ids: Any, n: int, n_total: int) -> None:
    """The members of a selection: ``n`` distinct integer indices in ``[0, n_total)`` and,
    when given, ``n`` distinct string ids, one per index.

    Raises:
        InputError: the first contradiction found.
    """
    if n < 0 or n_total < 0:
        raise InputError(f"n={n} and n_total={n_total} must not be negative")
    if n > n_total:
        raise InputError(f"n={n} is larger than the pool (n_total={n_total})")
    if len(indices) != n:
        raise InputError(f"n={n} but the selection lists {len(indices)} indices")
    if any(isinstance(i, bool) or not isinstance(i, int) for i in indices):
        bad = next(i for i in indices if isinstance(i, bool) or not isinstance(i, int))
        raise InputError(f"indices must be integers, found {bad!r}")
    array = np.asarray(indices, dtype=object)
    outside = [int(i) for i in array if not 0 <= i < n_total]
    if outside:
        raise InputError(
            f"{len(outside)} indices outside the pool [0, {n_total}) (first: {outside[0]})"
        )
    values = np.asarray(indices, dtype=np.int64)
    unique, counts = np.unique(values, return_counts=True)
    if len(unique) != len(values):
        raise InputError(
            f"{len(values) - len(unique)} repeated indices (first: {int(unique[counts > 1][0])})"
        )
    if ids is None:
        return
    if len(ids) != n:
        raise InputError(f"{len(ids)} ids for {n} indices")
    if any(not isinstance(i, str) for i in ids):
        bad = next(i for i in ids if not isinstance(i, str))
        raise InputError(f"ids must be strings, found {_type_name(bad)} {bad!r}")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        first = next(i for i in ids if i in seen or seen.add(i))
        raise InputError(f"repeated id {first!r}")


def _check_strata(strata: list[Any] | None, n: int) -> None:
    if strata is None:
        return
    for row in strata:
        if not isinstance(row, dict) or set(STRATA_COLUMNS) - set(row):
            raise InputError(f"every stratum must be an object with {', '.join(STRATA_COLUMNS)}")
        if any(
            isinstance(row[c], bool) or not isinstance(row[c], int | float) for c in STRATA_COLUMNS
        ):
            raise InputError(f"stratum {row.get('stratum')!r} holds a value that is not a number")
    selected = sum(int(row["selected"]) for row in strata)
    if selected != n:
        raise InputError(f"the strata table counts {selected} selected sequences, but n={n}")


def check_against_run(
    indices: np.ndarray, ids: np.ndarray | None, n_total: int, run_dir: Path, *, partial: bool
) -> None:
    """A selection's pool size and ids against the run directory it belongs to.

    The run is read as :meth:`~biocoreset_viz.runs.ScoreTable.load` reads it (its
    integrity checked), ``index`` and ``id`` only; a selection stamped partial is
    checked against the shards present.

    Raises:
        InputError: another pool size, or an id that is not the run's id at its index.
        RunDirectoryError: the run itself is damaged or incomplete.
    """
    from biocoreset_viz.runs import ScoreTable

    table = ScoreTable.load(run_dir, embeddings=False, columns=[], allow_partial=partial)
    pool = table.pool_size
    if n_total != pool:
        raise InputError(f"it was made on a pool of {n_total:,}, but the run holds {pool:,}")
    if ids is None or not len(indices):
        return
    positions = table.frame["index"].to_numpy()
    where = np.searchsorted(positions, indices)
    present = (where < len(positions)) & (
        positions[np.minimum(where, len(positions) - 1)] == indices
    )
    if not present.all():
        first = int(indices[~present][0])
        raise InputError(f"index {first} is not among the run's scored rows")
    run_ids = table.frame["id"].to_numpy()[where].astype(str)
    wrong = np.flatnonzero(run_ids != np.asarray(ids, dtype=str))
    if len(wrong):
        k = int(wrong[0])
        raise InputError(
            f"{len(wrong)} ids do not match the run's ids at their indices "
            f"(first: index {int(indices[k])} is {str(run_ids[k])!r} in the run, "
            f"{str(ids[k])!r} here)"
        )

"""Two-dimensional maps of the sequence embeddings: UMAP, with PCA as the instant fallback.

:func:`project_umap` maps the ``(N, D)`` embeddings of a run to a frame of
``index``, ``x``, ``y``. UMAP takes seconds to minutes, so its result is cached as
``projection-<key>.parquet``, where the key hashes the UMAP parameters and the
run's identity (manifest and score shards): a rescored run or other parameters
never reuse a stale map. The cache lives in the run directory when it is
writable, otherwise (an installed, read-only demo run) in the user cache folder
``$XDG_CACHE_HOME/biocoreset_viz/projections`` (``~/.cache`` by default).

:func:`project_pca` is exact, deterministic and fast (one covariance on a sample
and a matrix product), so a dashboard can show it at once and swap in UMAP when a
background computation finishes.

Millions of sequences: UMAP is fitted on a seeded random sample of
``sample_size`` sequences (default 50,000) and the rest are placed with
``UMAP.transform``, chunk by chunk.

umap-learn imports numba and compiles on first use; it is imported only inside
the functions that need it.

:func:`points_in_polygon` tells which points of a map lie in a region drawn on
it (a lasso).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError
from biocoreset_viz.runs import (
    PROJECTION_PREFIX,
    ScoreTable,
    atomic_write_bytes,
    read_manifest,
    shard_paths,
)

PROJECTION_COLUMNS = ("index", "x", "y")
# bumped when the way a projection is computed changes, so old caches are not reused
PROJECTION_FORMAT = 1
# rows placed per UMAP.transform call (bounds its memory)
_TRANSFORM_CHUNK = 50_000
# rows used to estimate the covariance of PCA
_PCA_SAMPLE = 100_000


@dataclass(frozen=True)
class ProjectionSettings:
    """Parameters of a UMAP projection (they key its cache file).

    Attributes:
        n_neighbors: UMAP neighbourhood size (local vs. global structure).
        min_dist: how tightly UMAP packs neighbours, in [0, 1].
        metric: distance between embeddings (``"cosine"``, ``"euclidean"`` ...).
        random_state: seed of UMAP and of the fitting sample.
        sample_size: fit UMAP on at most this many sequences and ``transform`` the
            rest; ``None`` fits on all.
    """

    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    random_state: int = 0
    sample_size: int | None = 50_000

    def __post_init__(self) -> None:
        if isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, int):
            raise ConfigError(f"n_neighbors must be an integer >= 2, got {self.n_neighbors!r}")
        if self.n_neighbors < 2:
            raise ConfigError(f"n_neighbors must be an integer >= 2, got {self.n_neighbors!r}")
        if not 0.0 <= float(self.min_dist) <= 1.0:
            raise ConfigError(f"min_dist must be in [0, 1], got {self.min_dist!r}")
        if self.sample_size is not None and (
            isinstance(self.sample_size, bool)
            or not isinstance(self.sample_size, int)
            or self.sample_size < 2
        ):
            raise ConfigError(
                f"sample_size must be None or an integer >= 2, got {self.sample_size!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cache_key(self, identity: str) -> str:
        """16 hex digits hashing these settings and a run identity."""
        payload = {
            "method": "umap",
            "format": PROJECTION_FORMAT,
            "settings": self.to_dict(),
            "run": identity,
        }
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def file_name(self, identity: str) -> str:
        """``projection-<key>.parquet``."""
        return f"{PROJECTION_PREFIX}{self.cache_key(identity)}.parquet"


# --------------------------------------------------------------------- caching


def run_identity(run_dir: str | Path) -> str:
    """A hash that changes whenever the run's scores change.

    Built from the manifest's ``identity`` record (model, input, Fisher and
    config hashes written by scoring), or the whole manifest when it has none,
    plus the names and sizes of the score shards. Timestamps and the folder's
    location do not enter it, so a copied or installed run keeps its caches.
    """
    manifest = read_manifest(run_dir)
    shards = shard_paths(run_dir)
    if not shards:
        raise RunDirectoryError(f"{run_dir}: no score shards to project")
    payload = {
        "identity": manifest.get("identity") or manifest,
        "shards": [[path.name, path.stat().st_size] for path in shards],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def user_cache_dir() -> Path:
    """Where projections of read-only runs go: ``$XDG_CACHE_HOME/biocoreset_viz/projections``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "biocoreset_viz" / "projections"


def projection_candidates(run_dir: str | Path, settings: ProjectionSettings) -> list[Path]:
    """The places a cached projection of this run and these settings may be, in order."""
    name = settings.file_name(run_identity(run_dir))
    return [Path(run_dir) / name, user_cache_dir() / name]


def find_projection(run_dir: str | Path, settings: ProjectionSettings | None = None) -> Path | None:
    """The cached UMAP projection of a run with these settings, or ``None``."""
    settings = settings or ProjectionSettings()
    for path in projection_candidates(run_dir, settings):
        if path.is_file():
            return path
    return None


def read_projection(path: str | Path, n_rows: int | None = None) -> pd.DataFrame:
    """A projection file as a frame of ``index``, ``x``, ``y`` sorted by index.

    Raises:
        RunDirectoryError: missing columns, or not ``n_rows`` rows when given.
    """
    frame = pd.read_parquet(path)
    missing = [c for c in PROJECTION_COLUMNS if c not in frame.columns]
    if missing:
        raise RunDirectoryError(f"{path}: not a projection (no columns {missing})")
    if n_rows is not None and len(frame) != n_rows:
        raise RunDirectoryError(f"{path}: {len(frame)} rows for a run of {n_rows} sequences")
    return frame[list(PROJECTION_COLUMNS)].sort_values("index", ignore_index=True)


def _writable(folder: Path) -> bool:
    """Whether new files can be created in ``folder``."""
    return os.access(folder, os.W_OK)


def write_projection(
    run_dir: str | Path, frame: pd.DataFrame, settings: ProjectionSettings | None = None
) -> Path:
    """Cache a projection: in the run directory if writable, else in :func:`user_cache_dir`.

    Returns:
        the file written.
    """
    settings = settings or ProjectionSettings()
    buffer = io.BytesIO()
    frame[list(PROJECTION_COLUMNS)].to_parquet(buffer, index=False)
    data = buffer.getvalue()
    first, fallback = projection_candidates(run_dir, settings)
    if _writable(Path(run_dir)):
        try:
            return atomic_write_bytes(first, data)
        except OSError:
            pass  # e.g. a read-only mount that os.access does not see
    return atomic_write_bytes(fallback, data)


# ------------------------------------------------------------------ computing


def _embedding_matrix(embeddings: Any, *, min_rows: int = 3) -> np.ndarray:
    """Embeddings to project as float32 ``(N, D)``, N >= ``min_rows``.

    Raises:
        InputError: another shape, fewer rows, or NaN/infinite values.
    """
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2:
        raise InputError(f"embeddings must be a 2-D (N, D) array, got shape {matrix.shape}")
    if len(matrix) < min_rows:
        raise InputError(f"need at least {min_rows} embeddings to project, got {len(matrix)}")
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise InputError("embeddings contain NaN or infinite values")
    return matrix


def pca_coordinates(
    embeddings: Any, *, sample_size: int = _PCA_SAMPLE, random_state: int = 0
) -> np.ndarray:
    """The first two principal components, ``(N, 2)`` float32.

    The covariance is estimated on at most ``sample_size`` rows (all of them when
    fewer), in float64; each axis is signed so that its largest loading is
    positive, which makes the map reproducible. One or two rows work too (a
    point, a segment), so that a tiny run still has a map.
    """
    matrix = _embedding_matrix(embeddings, min_rows=1)
    n_rows, dim = matrix.shape
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n_rows, sample_size, replace=False)) if n_rows > sample_size else None
    sample = (matrix if rows is None else matrix[rows]).astype(np.float64)
    mean = sample.mean(axis=0)
    centred = sample - mean
    covariance = centred.T @ centred / max(len(sample) - 1, 1)
    values, vectors = np.linalg.eigh(covariance)
    axes = vectors[:, np.argsort(values)[::-1][:2]]
    if axes.shape[1] < 2:  # one-dimensional embeddings: the second axis is flat
        axes = np.hstack([axes, np.zeros((dim, 2 - axes.shape[1]))])
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(2)])
    axes *= np.where(signs == 0, 1.0, signs)
    coordinates = (matrix - mean.astype(np.float32)) @ axes.astype(np.float32)
    return np.ascontiguousarray(coordinates, dtype=np.float32)


def umap_coordinates(embeddings: Any, settings: ProjectionSettings | None = None) -> np.ndarray:
    """UMAP coordinates, ``(N, 2)`` float32 (fitted on a sample when N > ``sample_size``)."""
    settings = settings or ProjectionSettings()
    matrix = _embedding_matrix(embeddings)
    n_rows = len(matrix)
    with warnings.catch_warnings():
        # umap warns that a fixed random_state disables its parallel threads: wanted here
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        import umap

        model = umap.UMAP(
            n_neighbors=min(settings.n_neighbors, n_rows - 1),
            min_dist=float(settings.min_dist),
            metric=settings.metric,
            random_state=settings.random_state,
            n_components=2,
        )
        if settings.sample_size is None or n_rows <= settings.sample_size:
            return np.asarray(model.fit_transform(matrix), dtype=np.float32)
        rng = np.random.default_rng(settings.random_state)
        fitted = np.sort(rng.choice(n_rows, settings.sample_size, replace=False))
        out = np.empty((n_rows, 2), dtype=np.float32)
        out[fitted] = model.fit_transform(matrix[fitted])
        rest = np.setdiff1d(np.arange(n_rows), fitted, assume_unique=True)
        for start in range(0, len(rest), _TRANSFORM_CHUNK):
            rows = rest[start : start + _TRANSFORM_CHUNK]
            out[rows] = model.transform(matrix[rows])
    return out


def _frame(index: np.ndarray, coordinates: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": np.asarray(index, dtype=np.int64),
            "x": coordinates[:, 0].astype(np.float32),
            "y": coordinates[:, 1].astype(np.float32),
        }
    )


def _source(source: Any) -> tuple[np.ndarray, np.ndarray, Path | None]:
    """``(embeddings, index, run_dir)`` of a run directory, a ScoreTable or an array."""
    if isinstance(source, str | Path):
        table = ScoreTable.load(source, embeddings=True, columns=[])
        run_dir: Path | None = Path(source)
    elif isinstance(source, ScoreTable):
        table, run_dir = source, source.run_dir
    else:
        matrix = np.asarray(source)
        return matrix, np.arange(len(matrix), dtype=np.int64), None
    if table.embeddings is None:
        raise RunDirectoryError(f"{run_dir or 'the score table'}: the scores hold no embeddings")
    return table.embeddings, table.frame["index"].to_numpy(np.int64), run_dir


def project_pca(
    source: Any, *, sample_size: int = _PCA_SAMPLE, random_state: int = 0
) -> pd.DataFrame:
    """PCA map of a run directory, a :class:`~biocoreset_viz.runs.ScoreTable` or ``(N, D)`` embeddings.

    Returns:
        ``index``, ``x``, ``y`` (``index`` 0..N-1 for an array).
    """
    embeddings, index, _ = _source(source)
    coordinates = pca_coordinates(embeddings, sample_size=sample_size, random_state=random_state)
    return _frame(index, coordinates)


def project_umap(
    source: Any,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    random_state: int = 0,
    sample_size: int | None = 50_000,
    cache: bool = True,
) -> pd.DataFrame:
    """UMAP map of the embeddings, cached for a run directory.

    Args:
        source: a run directory, a :class:`~biocoreset_viz.runs.ScoreTable` loaded
            with embeddings, or an ``(N, D)`` array (never cached).
        n_neighbors, min_dist, metric, random_state, sample_size: see
            :class:`ProjectionSettings`.
        cache: read and write ``projection-<key>.parquet`` (see the module docs).

    Returns:
        ``index``, ``x``, ``y``, sorted by index.

    Raises:
        RunDirectoryError: the run has no embeddings.
        ConfigError: bad settings.
    """
    settings = ProjectionSettings(n_neighbors, min_dist, metric, random_state, sample_size)
    run_dir = Path(source) if isinstance(source, str | Path) else getattr(source, "run_dir", None)
    if cache and run_dir is not None:
        found = find_projection(run_dir, settings)
        if found is not None:
            return read_projection(found)
    embeddings, index, run_dir = _source(source)
    frame = _frame(index, umap_coordinates(embeddings, settings))
    if cache and run_dir is not None:
        write_projection(run_dir, frame, settings)
    return frame


# ------------------------------------------------------------------ regions


def points_in_polygon(x: Any, y: Any, xs: Any, ys: Any) -> np.ndarray:
    """Which points lie inside a polygon (even-odd rule), as a boolean mask.

    Args:
        x, y: point coordinates, ``(N,)``.
        xs, ys: polygon vertices in order (closed implicitly).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    inside = np.zeros(len(x), dtype=bool)
    if len(xs) < 3:
        return inside
    # only points inside the polygon's bounding box can be inside it
    box = np.flatnonzero((x >= xs.min()) & (x <= xs.max()) & (y >= ys.min()) & (y <= ys.max()))
    px, py = x[box], y[box]
    crossing = np.zeros(len(box), dtype=bool)
    for (x1, y1), (x2, y2) in zip(
        zip(xs, ys, strict=True), zip(np.roll(xs, -1), np.roll(ys, -1), strict=True), strict=True
    ):
        straddles = (y1 > py) != (y2 > py)
        if not straddles.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        crossing ^= straddles & (px < at)
    inside[box] = crossing
    return inside

"""Read, normalise and validate RNA and protein sequences.

Formats (chosen by suffix, a trailing ``.gz`` ignored; gzip is detected from the
content, not the name):

* FASTA: ``.fa .fasta .faa .fna .fas .ffn .frn``; the id is the header's first
  whitespace-delimited token (a tab separates it too), the rest is its description;
  lines starting with ``;`` are comments.
* CSV / TSV: ``.csv`` / ``.tsv .tab``, read as RFC 4180 (quoted fields may hold the
  delimiter, quotes and line breaks); a header row with a sequence column
  (``sequence``, ``seq``) and usually an id column (``id``, ``name``, ``identifier``,
  ``accession``); every other column is carried along as a label (``family``,
  ``cluster``, ``structure`` ...).
* plain text: ``.txt .seq``; one sequence per line, ids ``seq1``, ``seq2`` ...

Every format may start with a UTF-8 byte-order mark, which is skipped.

Normalisation: whitespace removed, uppercase, alignment gaps ``-`` and ``.``
removed, trailing ``*`` stops stripped, and ``T`` -> ``U`` for RNA.

Alphabets (after normalisation):

* RNA: ``A C G U`` plus the IUPAC ambiguity codes ``R Y S W K M B D H V N``.
* protein: the 20 standard amino acids plus ``X`` (unknown), ``B`` (D or N),
  ``Z`` (E or Q), ``J`` (I or L), ``U`` (selenocysteine), ``O`` (pyrrolysine).

Bad input raises :class:`~biocoreset_viz.errors.InputError` whose one-line message
names the file, the line and the record (an unreadable file and corrupt gzip data
too); a bad argument (an unknown molecule or format) raises
:class:`~biocoreset_viz.errors.ConfigError`.

FASTA is written by :func:`~biocoreset_viz.fasta_writer.write_fasta_records`
(importable from here too), so that every written file reads back here under the
same ids.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import itertools
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.fasta_writer import (
    escape_fasta_id,
    fasta_id,
    unescape_fasta_id,
    write_fasta_records,
)

__all__ = [  # the FASTA writer's names, read and written here since before it had a module
    "escape_fasta_id",
    "fasta_id",
    "unescape_fasta_id",
    "write_fasta_records",
]

Molecule = Literal["rna", "protein"]
MOLECULES: tuple[Molecule, ...] = ("rna", "protein")

RNA_STANDARD = "ACGU"
RNA_AMBIGUITY = "RYSWKMBDHVN"
PROTEIN_STANDARD = "ACDEFGHIKLMNPQRSTVWY"
PROTEIN_AMBIGUITY = "XBZJUO"
ALPHABETS: dict[str, frozenset[str]] = {
    "rna": frozenset(RNA_STANDARD + RNA_AMBIGUITY),
    "protein": frozenset(PROTEIN_STANDARD + PROTEIN_AMBIGUITY),
}
# Letters that occur in protein but never in a nucleotide sequence: seeing them in
# input declared as RNA means a protein file was passed as RNA.
PROTEIN_ONLY_LETTERS = frozenset("EFILPQXZJO")

# File-name suffixes of each format (lower case; a trailing ".gz" aside): the only
# definition, read by infer_format and by every face that names file types.
FASTA_SUFFIXES = frozenset({".fa", ".fasta", ".faa", ".fna", ".fas", ".ffn", ".frn", ".mfa"})
CSV_SUFFIXES = frozenset({".csv"})
TSV_SUFFIXES = frozenset({".tsv", ".tab"})
PLAIN_SUFFIXES = frozenset({".txt", ".seq"})
Format = Literal["fasta", "csv", "tsv", "plain"]
FORMATS: tuple[Format, ...] = ("fasta", "csv", "tsv", "plain")

ID_COLUMNS = ("id", "name", "identifier", "accession", "seq_id")
SEQUENCE_COLUMNS = ("sequence", "seq")

# Records used to guess the molecule of a file when it is not given.
DETECTION_RECORDS = 200
_NUCLEOTIDE_LETTERS = frozenset("ACGTUN")
_GAP_TABLE = str.maketrans("", "", "-. \t\r\n")


class SequenceRecord(NamedTuple):
    """One sequence as read: its id, normalised sequence and where it came from."""

    id: str
    sequence: str
    description: str = ""
    line: int | None = None
    labels: dict[str, str] | None = None


def normalize_sequence(raw: str, molecule: Molecule) -> str:
    """Uppercase, drop whitespace and gaps, strip trailing ``*``; ``T`` -> ``U`` for RNA."""
    sequence = raw.translate(_GAP_TABLE).upper().rstrip("*")
    if molecule == "rna":
        sequence = sequence.replace("T", "U")
    return sequence


def invalid_characters(sequence: str, molecule: Molecule) -> list[str]:
    """Characters of ``sequence`` outside the molecule's alphabet, sorted."""
    return sorted(set(sequence) - ALPHABETS[molecule])


def detect_molecule(sequences: Iterable[str]) -> Molecule:
    """Guess ``"rna"`` or ``"protein"`` from sequence letters.

    RNA when at least 90% of the letters (``N`` and ``X`` aside) are ``A C G T U``;
    DNA letters count as RNA because ``T`` becomes ``U``. Only letters count: digits,
    gaps and other symbols are no evidence of either molecule (an RNA file with
    position numbers is RNA with invalid characters, not protein).
    """
    counts: Counter[str] = Counter()
    for sequence in sequences:
        counts.update(c for c in sequence.upper() if c.isalpha())
    informative = sum(n for letter, n in counts.items() if letter not in "NX")
    if informative == 0:
        return "rna" if counts and set(counts) <= _NUCLEOTIDE_LETTERS else "protein"
    nucleotides = sum(counts[letter] for letter in "ACGTU")
    return "rna" if nucleotides / informative >= 0.9 else "protein"


def check_molecule(molecule: str) -> str:
    """Validate a molecule argument (``"rna"``, ``"protein"`` or ``"auto"``).

    Raises:
        ConfigError: any other value.
    """
    if molecule not in (*MOLECULES, "auto"):
        raise ConfigError(f"molecule must be 'rna', 'protein' or 'auto', got {molecule!r}")
    return molecule


def infer_format(path: str | Path) -> Format | None:
    """The format implied by a file name's suffix (``.gz`` ignored), or ``None``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    for fmt, known in (
        ("fasta", FASTA_SUFFIXES),
        ("csv", CSV_SUFFIXES),
        ("tsv", TSV_SUFFIXES),
        ("plain", PLAIN_SUFFIXES),
    ):
        if suffix in known:
            return fmt  # type: ignore[return-value]
    return None


class _Line(NamedTuple):
    number: int
    text: str


def _open_lines(path: Path) -> Iterator[_Line]:
    """Yield decoded lines (without line ends) of a plain or gzip file; a UTF-8
    byte-order mark at the start is skipped.

    Raises:
        InputError: missing or unreadable file, a directory, an empty file, binary
            content, corrupt gzip data or text that is not UTF-8 (naming the line).
    """
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.is_dir():
        raise InputError("is a directory, not a sequence file", path=path)
    try:
        with open(path, "rb") as probe:
            head = probe.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        raw = opener(path, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as error:  # permissions and the like
        raise InputError(f"cannot open: {error.strerror or error}", path=path) from error
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number = 0
    with raw:
        try:
            for number, line in enumerate(raw, start=1):
                if b"\x00" in line:
                    raise InputError(
                        "binary content, not a text sequence file", path=path, line=number
                    )
                try:
                    text = decoder.decode(line)
                except UnicodeDecodeError as error:
                    raise InputError(
                        "not UTF-8 text (binary or another encoding)", path=path, line=number
                    ) from error
                yield _Line(number, text.rstrip("\r\n"))
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise InputError(
                f"corrupt gzip data: {error}", path=path, line=number or None
            ) from error
        except OSError as error:  # a read error of the disk or the network file system
            raise InputError(
                f"cannot read: {error.strerror or error}", path=path, line=number + 1
            ) from error
    if number == 0:
        raise InputError("empty file", path=path)


def _sniff_format(first_line: str) -> Format:
    if first_line.startswith(">"):
        return "fasta"
    lowered = first_line.lower()
    for delimiter, fmt in (("\t", "tsv"), (",", "csv")):
        if delimiter in first_line and any(
            column.strip() in SEQUENCE_COLUMNS for column in lowered.split(delimiter)
        ):
            return fmt  # type: ignore[return-value]
    return "plain"


def _fasta_raw_records(path: Path, lines: Iterator[_Line]) -> Iterator[tuple[str, str, int, str]]:
    """Yield ``(id, description, header line, raw sequence)`` from FASTA lines."""
    header: tuple[str, str, int] | None = None
    chunks: list[str] = []
    for number, text in lines:
        if text.startswith(">"):
            if header is not None:
                yield (*header, "".join(chunks))
            words = text[1:].split(None, 1)  # the id ends at the first space or tab
            if not words:
                raise InputError("header line without a record name", path=path, line=number)
            header = (words[0], words[1].strip() if len(words) > 1 else "", number)
            chunks = []
        elif text.startswith(";"):
            continue
        elif header is None:
            if text.strip():
                raise InputError(
                    f"text before the first '>' header: {text.strip()[:40]!r}",
                    path=path,
                    line=number,
                )
        else:
            chunks.append(text)
    if header is not None:
        yield (*header, "".join(chunks))


class _TableRows:
    """RFC 4180 rows of CSV/TSV lines (a quoted field may span lines), each with the
    number of the line it starts on; blank lines between rows are skipped."""

    def __init__(self, path: Path, lines: Iterator[_Line], delimiter: str) -> None:
        self.path = path
        self.lines = lines
        self.start: int | None = None
        self.reader = csv.reader(self._feed(), delimiter=delimiter, strict=True)

    def _feed(self) -> Iterator[str]:
        for number, text in self.lines:
            if self.start is None:
                self.start = number
            yield text + "\n"

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            self.start = None
            try:
                row = next(self.reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InputError(
                    f"malformed CSV: {error}", path=self.path, line=self.start
                ) from error
            if len(row) > 1 or (row and row[0].strip()):  # not a blank line
                yield self.start or 0, row


def _table_raw_records(
    path: Path, lines: Iterator[_Line], delimiter: str, *, ids_only: bool = False
) -> Iterator[tuple[str | None, str, int, dict[str, str]]]:
    """Yield ``(id or None, raw sequence, line, labels)`` from CSV/TSV lines
    (``ids_only``: an id column without a sequence column is enough; sequences "")."""
    numbered = iter(_TableRows(path, lines, delimiter))
    first = next(numbered, None)
    if first is None:
        return
    header_line, columns = first
    lowered = [column.strip().lower() for column in columns]
    sequence_column = next((lowered.index(c) for c in SEQUENCE_COLUMNS if c in lowered), None)
    id_column = next((lowered.index(c) for c in ID_COLUMNS if c in lowered), None)
    if ids_only and id_column is None and sequence_column is None:
        raise InputError(
            f"no id column: expected one of {', '.join(ID_COLUMNS)} in the header, "
            f"found {', '.join(columns)}",
            path=path,
            line=header_line,
        )
    if sequence_column is None and not ids_only:
        raise InputError(
            f"no sequence column: expected one of {', '.join(SEQUENCE_COLUMNS)} in the header, "
            f"found {', '.join(columns)}",
            path=path,
            line=header_line,
        )
    label_columns = [
        (i, columns[i].strip())
        for i in range(len(columns))
        if i not in (sequence_column, id_column)
    ]
    for number, row in numbered:
        if len(row) != len(columns):
            raise InputError(
                f"{len(row)} fields where the header has {len(columns)}", path=path, line=number
            )
        labels = {name: row[i] for i, name in label_columns}
        yield (
            (None if id_column is None else row[id_column].strip()),
            "" if sequence_column is None else row[sequence_column],
            number,
            labels,
        )


class SequenceReader:
    """Stream the records of a sequence file, validated one at a time.

    Iterating yields :class:`SequenceRecord` objects and never holds the whole file
    in memory (only the set of ids seen, to reject duplicates). With
    ``molecule="auto"`` the first records are read ahead to detect the molecule,
    which is then available as :attr:`molecule`.

    Args:
        path: the file to read.
        molecule: ``"rna"``, ``"protein"`` or ``"auto"``.
        format: ``"fasta"``, ``"csv"``, ``"tsv"`` or ``"plain"``; default from the suffix,
            else from the first line.
        validate: check every sequence against the molecule's alphabet.
        ids_only: (for :func:`read_ids`) a CSV/TSV needs only an id column.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        molecule: str = "auto",
        format: str | None = None,
        validate: bool = True,
        ids_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.ids_only = ids_only
        check_molecule(molecule)
        if format is not None and format not in FORMATS:
            raise ConfigError(f"format must be fasta, csv, tsv or plain, got {format!r}")
        self.validate = validate
        lines = _open_lines(self.path)
        first = next((line for line in lines if line.text.strip()), None)
        if first is None:
            raise InputError("empty file (only blank lines)", path=self.path)
        self.format: Format = format or infer_format(self.path) or _sniff_format(first.text)  # type: ignore[assignment]
        self._raw = self._raw_records(itertools.chain([first], lines))
        if molecule == "auto":
            self._lookahead = list(itertools.islice(self._raw, DETECTION_RECORDS))
            if not self._lookahead:
                raise InputError(
                    f"no sequence records found ({self.format} format)", path=self.path
                )
            self.molecule: Molecule = detect_molecule(r[1] for r in self._lookahead)
        else:
            self._lookahead = []
            self.molecule = molecule  # type: ignore[assignment]
        self._started = False

    def _raw_records(
        self, lines: Iterator[_Line]
    ) -> Iterator[tuple[str, str, int, str, dict | None]]:
        """Yield ``(id, raw sequence, line, description, labels)``."""
        if self.format == "fasta":
            for name, description, number, raw in _fasta_raw_records(self.path, lines):
                yield name, raw, number, description, None
        elif self.format in ("csv", "tsv"):
            delimiter = "," if self.format == "csv" else "\t"
            for count, (name, raw, number, labels) in enumerate(
                _table_raw_records(self.path, lines, delimiter, ids_only=self.ids_only), start=1
            ):
                if name == "":
                    raise InputError("empty id", path=self.path, line=number)
                yield name or f"seq{count}", raw, number, "", labels
        else:
            count = 0
            for number, text in lines:
                if text.strip():
                    if text.lstrip().startswith(">"):
                        raise InputError(
                            "FASTA header in a plain one-sequence-per-line file "
                            "(give the file a FASTA suffix or format='fasta')",
                            path=self.path,
                            line=number,
                        )
                    count += 1
                    yield f"seq{count}", text, number, "", None

    def __iter__(self) -> Iterator[SequenceRecord]:
        if self._started:
            raise RuntimeError("a SequenceReader can be iterated only once; open the file again")
        self._started = True
        seen: set[str] = set()
        count = 0
        for name, raw, number, description, labels in itertools.chain(self._lookahead, self._raw):
            where = _Where(self.path, number, name)
            sequence = _checked_sequence(raw, self.molecule, self.validate, seen, where)
            count += 1
            yield SequenceRecord(name, sequence, description, number, labels)
        if count == 0:
            raise InputError(f"no sequence records found ({self.format} format)", path=self.path)


class _Where(NamedTuple):
    """Where a record came from, for error messages."""

    path: str | Path | None
    line: int | None
    record: str

    def error(self, reason: str) -> InputError:
        return InputError(reason, path=self.path, line=self.line, record=self.record)


def _checked_sequence(
    raw: str, molecule: Molecule, validate: bool, seen: set[str], where: _Where
) -> str:
    """``raw`` normalised, refused when empty, with bad letters, or under an id in ``seen``
    (to which its id is then added)."""
    sequence = normalize_sequence(raw, molecule)
    if not sequence:
        raise where.error("empty sequence")
    if validate:
        _check_letters(sequence, molecule, where)
    if where.record in seen:
        raise where.error("duplicate id")
    seen.add(where.record)
    return sequence


def _check_letters(sequence: str, molecule: Molecule, where: _Where) -> None:
    bad = invalid_characters(sequence, molecule)
    if not bad:
        return
    shown = " ".join(repr(c) for c in bad[:12]) + (" ..." if len(bad) > 12 else "")
    reason = f"invalid {molecule} characters {shown}"
    if molecule == "rna" and PROTEIN_ONLY_LETTERS & set(bad):
        reason += ": this looks like a protein sequence; read it with molecule='protein'"
    elif any(c.isdigit() for c in bad):
        reason += ": digits are not residues (position numbers in the sequence lines?)"
    raise where.error(reason)


def iter_sequences(
    path: str | Path, *, molecule: str = "auto", format: str | None = None, validate: bool = True
) -> SequenceReader:
    """Stream a sequence file record by record (see :class:`SequenceReader`)."""
    return SequenceReader(path, molecule=molecule, format=format, validate=validate)


@dataclass
class SequenceStats:
    """Summary statistics of a :class:`SequenceSet` (what ``biocoreset info`` prints)."""

    count: int
    molecule: Molecule
    length_min: int
    length_median: float
    length_mean: float
    length_max: int
    length_quantiles: dict[str, float]
    composition: dict[str, float]
    unique_sequences: int
    duplicate_records: int

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        q = self.length_quantiles
        letters = sorted(self.composition.items(), key=lambda kv: -kv[1])
        composition = ", ".join(f"{letter} {share:.1%}" for letter, share in letters[:25])
        return [
            f"records            {self.count:,}",
            f"molecule           {self.molecule}",
            f"length min/median/mean/max  {self.length_min:,} / {self.length_median:,.0f} / "
            f"{self.length_mean:,.1f} / {self.length_max:,}",
            "length quantiles   " + ", ".join(f"{k} {v:,.0f}" for k, v in q.items()),
            f"alphabet           {''.join(sorted(self.composition))}",
            f"composition        {composition}",
            f"unique sequences   {self.unique_sequences:,}",
            f"duplicate records  {self.duplicate_records:,} "
            f"(exact copies of an earlier record; collapse them with collapse_duplicates)",
        ]


@dataclass
class SequenceSet:
    """Sequences in memory, in input order, with optional per-sequence labels.

    Attributes:
        ids: unique record ids.
        sequences: normalised sequences.
        molecule: ``"rna"`` or ``"protein"``.
        labels: a DataFrame with one row per sequence in the same order (columns such
            as ``family``, ``cluster``, ``structure``), or ``None``.
        source: where the sequences came from (a path or a dataset name).
    """

    ids: list[str]
    sequences: list[str]
    molecule: Molecule
    labels: pd.DataFrame | None = None
    source: str | None = None
    _lengths: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.sequences):
            raise InputError(
                f"{len(self.ids)} ids for {len(self.sequences)} sequences", path=self.source
            )
        if self.labels is not None:
            if len(self.labels) != len(self.sequences):
                raise InputError(
                    f"{len(self.labels)} label rows for {len(self.sequences)} sequences",
                    path=self.source,
                )
            self.labels = self.labels.reset_index(drop=True)

    @classmethod
    def from_sequences(
        cls,
        sequences: Sequence[str],
        ids: Sequence[str] | None = None,
        *,
        molecule: str = "auto",
        labels: pd.DataFrame | None = None,
        validate: bool = True,
        source: str | None = None,
    ) -> SequenceSet:
        """Build a set from strings in memory, normalised and validated like a file."""
        check_molecule(molecule)
        if ids is None:
            ids = [f"seq{i}" for i in range(1, len(sequences) + 1)]
        if len(ids) != len(sequences):
            raise InputError(f"{len(ids)} ids for {len(sequences)} sequences", path=source)
        if not sequences:
            raise InputError("no sequences", path=source)
        resolved: Molecule = (
            detect_molecule(sequences[:DETECTION_RECORDS]) if molecule == "auto" else molecule  # type: ignore[assignment]
        )
        seen: set[str] = set()
        normalised = [
            _checked_sequence(raw, resolved, validate, seen, _Where(source, None, str(name)))
            for name, raw in zip(ids, sequences, strict=True)
        ]
        return cls([str(i) for i in ids], normalised, resolved, labels, source)

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[SequenceRecord]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int) -> SequenceRecord:
        labels = None if self.labels is None else self.labels.iloc[index].to_dict()
        return SequenceRecord(self.ids[index], self.sequences[index], labels=labels)

    @property
    def lengths(self) -> np.ndarray:
        """Sequence lengths in residues, ``int64``, shape ``(N,)``."""
        if self._lengths is None or len(self._lengths) != len(self.sequences):
            self._lengths = np.fromiter((len(s) for s in self.sequences), np.int64, len(self))
        return self._lengths

    def subset(self, indices: Sequence[int] | np.ndarray) -> SequenceSet:
        """The sequences at ``indices`` (in that order), labels included."""
        indices = np.asarray(indices, dtype=np.int64)
        labels = None if self.labels is None else self.labels.iloc[indices].reset_index(drop=True)
        return SequenceSet(
            [self.ids[i] for i in indices],
            [self.sequences[i] for i in indices],
            self.molecule,
            labels,
            self.source,
        )

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with ``id``, ``sequence``, ``length`` and the label columns."""
        frame = pd.DataFrame({"id": self.ids, "sequence": self.sequences, "length": self.lengths})
        if self.labels is not None:
            frame = pd.concat([frame, self.labels], axis=1)
        return frame

    def duplicate_groups(self) -> np.ndarray:
        """For each sequence, the index of the first sequence identical to it, ``(N,)``."""
        first: dict[str, int] = {}
        return np.fromiter(
            (first.setdefault(s, i) for i, s in enumerate(self.sequences)), np.int64, len(self)
        )

    def collapse_duplicates(self) -> SequenceSet:
        """Keep the first copy of each exact duplicate; add a ``copies`` label column."""
        groups = self.duplicate_groups()
        keep = np.flatnonzero(groups == np.arange(len(self)))
        copies = np.bincount(groups, minlength=len(self))[keep]
        collapsed = self.subset(keep)
        labels = (
            collapsed.labels
            if collapsed.labels is not None
            else pd.DataFrame(index=range(len(keep)))
        )
        collapsed.labels = labels.assign(copies=copies)
        return collapsed

    def stats(self) -> SequenceStats:
        """Counts, length distribution, composition and duplicates."""
        lengths = self.lengths
        composition: Counter[str] = Counter()
        for sequence in self.sequences:
            composition.update(sequence)
        total = sum(composition.values())
        unique = len(set(self.sequences))
        quantiles = {
            f"p{q}": float(v)
            for q, v in zip((5, 25, 75, 95), np.percentile(lengths, [5, 25, 75, 95]), strict=True)
        }
        return SequenceStats(
            count=len(self),
            molecule=self.molecule,
            length_min=int(lengths.min()),
            length_median=float(np.median(lengths)),
            length_mean=float(lengths.mean()),
            length_max=int(lengths.max()),
            length_quantiles=quantiles,
            composition={k: v / total for k, v in sorted(composition.items())},
            unique_sequences=unique,
            duplicate_records=len(self) - unique,
        )

    def write_fasta(
        self, target: str | os.PathLike | IO, *, line_width: int = 80, unsafe_ids: str = "escape"
    ) -> Path | IO:
        """Write the sequences as FASTA to a path (gzip when it ends in ``.gz``) or an
        open file (text or binary); returns the path, or the file object itself.
        ``unsafe_ids``: as :func:`write_fasta_records`."""
        return write_fasta_records(
            target, zip(self.ids, self.sequences, strict=True), line_width, unsafe_ids=unsafe_ids
        )


def sequences_for_ids(ids: Iterable[Any], sequences: Any, *, role: str = "requested") -> list[str]:
    """The sequences of ``ids``, in that order, from a SequenceSet or a mapping id -> sequence.

    Args:
        ids: record ids (compared as strings).
        sequences: a :class:`SequenceSet` or a mapping id -> sequence.
        role: how the error message names the ids (``"scored"``, ``"selected"``).

    Raises:
        InputError: an id has no sequence (naming the set's source, the number of
            missing ids and the first of them).
        TypeError: ``sequences`` is neither a SequenceSet nor a mapping.
    """
    wanted = [str(i) for i in ids]
    source = getattr(sequences, "source", None)
    if hasattr(sequences, "ids") and hasattr(sequences, "sequences"):  # a SequenceSet
        if list(sequences.ids) == wanted:
            return list(sequences.sequences)
        sequences = dict(zip(sequences.ids, sequences.sequences, strict=True))
    if not isinstance(sequences, Mapping):
        raise TypeError(f"sequences must be a SequenceSet or a mapping, got {type(sequences)}")
    missing = [i for i in wanted if i not in sequences]
    if missing:
        raise InputError(
            f"{len(missing)} {role} ids have no sequence (first: {missing[0]!r}); "
            "is this the file that was scored?",
            path=source,
        )
    return [sequences[i] for i in wanted]


def read_ids(path: str | Path, *, format: str | None = None) -> list[str]:
    """The record ids of a FASTA, CSV/TSV or plain file, in file order, sequences unread.

    A CSV/TSV needs an id column (or a sequence column, whose rows are then
    ``seq1``, ``seq2`` ...), so the ids CSV a selection exports reads too.

    Raises:
        InputError: bad input (an empty or duplicate id, no id column ...).
    """
    reader = SequenceReader(path, molecule="protein", format=format, validate=False, ids_only=True)
    ids: list[str] = []
    seen: set[str] = set()
    for name, _raw, number, _description, _labels in reader._raw:
        if name in seen:
            raise InputError("duplicate id", path=reader.path, line=number, record=name)
        seen.add(name)
        ids.append(name)
    if not ids:
        raise InputError(f"no records found ({reader.format} format)", path=reader.path)
    return ids


def read_sequences(
    path: str | Path,
    *,
    molecule: str = "auto",
    format: str | None = None,
    validate: bool = True,
    collapse_duplicates: bool = False,
) -> SequenceSet:
    """Read a whole sequence file into a :class:`SequenceSet`.

    Args:
        path: FASTA, CSV/TSV or plain text, optionally gzip-compressed.
        molecule: ``"rna"``, ``"protein"`` or ``"auto"`` (detected from the letters).
        format: override the format implied by the suffix.
        validate: check letters against the molecule's alphabet.
        collapse_duplicates: keep only the first copy of exact duplicate sequences and
            record the number of copies in a ``copies`` label column.

    Raises:
        InputError: for any bad input, naming the file, line and record.
    """
    reader = SequenceReader(path, molecule=molecule, format=format, validate=validate)
    ids: list[str] = []
    sequences: list[str] = []
    label_rows: list[dict[str, str]] = []
    for record in reader:
        ids.append(record.id)
        sequences.append(record.sequence)
        if record.labels:
            label_rows.append(record.labels)
    labels = pd.DataFrame(label_rows) if label_rows else None
    result = SequenceSet(ids, sequences, reader.molecule, labels, str(path))
    return result.collapse_duplicates() if collapse_duplicates else result

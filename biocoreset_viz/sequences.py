"""Read, normalise and validate RNA and protein sequences.

Formats (chosen by suffix, a trailing ``.gz`` ignored; gzip is detected from the
content, not the name):

* FASTA: ``.fa .fasta .faa .fna .fas .ffn .frn``; the id is the header's first word,
  the rest is its description; lines starting with ``;`` are comments.
* CSV / TSV: ``.csv`` / ``.tsv .tab``; a header row with a sequence column
  (``sequence``, ``seq``) and usually an id column (``id``, ``name``, ``identifier``,
  ``accession``); every other column is carried along as a label (``family``,
  ``cluster``, ``structure`` ...).
* plain text: ``.txt .seq``; one sequence per line, ids ``seq1``, ``seq2`` ...

Normalisation: whitespace removed, uppercase, alignment gaps ``-`` and ``.``
removed, trailing ``*`` stops stripped, and ``T`` -> ``U`` for RNA.

Alphabets (after normalisation):

* RNA: ``A C G U`` plus the IUPAC ambiguity codes ``R Y S W K M B D H V N``.
* protein: the 20 standard amino acids plus ``X`` (unknown), ``B`` (D or N),
  ``Z`` (E or Q), ``J`` (I or L), ``U`` (selenocysteine), ``O`` (pyrrolysine).

Bad input raises :class:`~biocoreset_viz.errors.InputError` whose one-line message
names the file, the line and the record.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from biocoreset_viz.errors import InputError

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

FASTA_SUFFIXES = frozenset({".fa", ".fasta", ".faa", ".fna", ".fas", ".ffn", ".frn", ".mfa"})
CSV_SUFFIXES = frozenset({".csv"})
TSV_SUFFIXES = frozenset({".tsv", ".tab"})
PLAIN_SUFFIXES = frozenset({".txt", ".seq"})
Format = Literal["fasta", "csv", "tsv", "plain"]

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

    RNA when at least 90% of the letters (gaps, ``N`` and ``X`` aside) are
    ``A C G T U``; DNA letters count as RNA because ``T`` becomes ``U``.
    """
    counts: Counter[str] = Counter()
    for sequence in sequences:
        counts.update(sequence.translate(_GAP_TABLE).upper())
    informative = sum(n for letter, n in counts.items() if letter not in "NX*")
    if informative == 0:
        return "rna" if counts and set(counts) <= _NUCLEOTIDE_LETTERS else "protein"
    nucleotides = sum(counts[letter] for letter in "ACGTU")
    return "rna" if nucleotides / informative >= 0.9 else "protein"


def check_molecule(molecule: str) -> str:
    """Validate a molecule argument (``"rna"``, ``"protein"`` or ``"auto"``)."""
    if molecule not in (*MOLECULES, "auto"):
        raise ValueError(f"molecule must be 'rna', 'protein' or 'auto', got {molecule!r}")
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
    """Yield decoded lines (without line ends) of a plain or gzip file.

    Raises:
        InputError: missing file, a directory, an empty file, binary content or text
            that is not UTF-8 (naming the line).
    """
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.is_dir():
        raise InputError("is a directory, not a sequence file", path=path)
    with open(path, "rb") as probe:
        head = probe.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        raw = opener(path, "rb")  # noqa: SIM115 (closed by the with below; open errors reported)
    except OSError as error:  # permissions and the like
        raise InputError(f"cannot open: {error.strerror or error}", path=path) from error
    decoder = codecs.getincrementaldecoder("utf-8")()
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
        except (gzip.BadGzipFile, EOFError) as error:
            raise InputError(
                f"corrupt gzip data: {error}", path=path, line=number or None
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
            name, _, description = text[1:].strip().partition(" ")
            if not name:
                raise InputError("header line without a record name", path=path, line=number)
            header = (name, description.strip(), number)
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


def _table_raw_records(
    path: Path, lines: Iterator[_Line], delimiter: str
) -> Iterator[tuple[str | None, str, int, dict[str, str]]]:
    """Yield ``(id or None, raw sequence, line, labels)`` from CSV/TSV lines."""
    numbered = ((line.number, line.text) for line in lines if line.text.strip())
    first = next(numbered, None)
    if first is None:
        return
    header_line, header_text = first
    columns = next(csv.reader([header_text], delimiter=delimiter))
    lowered = [column.strip().lower() for column in columns]
    sequence_column = next((lowered.index(c) for c in SEQUENCE_COLUMNS if c in lowered), None)
    if sequence_column is None:
        raise InputError(
            f"no sequence column: expected one of {', '.join(SEQUENCE_COLUMNS)} in the header, "
            f"found {', '.join(columns)}",
            path=path,
            line=header_line,
        )
    id_column = next((lowered.index(c) for c in ID_COLUMNS if c in lowered), None)
    label_columns = [
        (i, columns[i].strip())
        for i in range(len(columns))
        if i not in (sequence_column, id_column)
    ]
    for number, text in numbered:
        row = next(csv.reader([text], delimiter=delimiter))
        if len(row) != len(columns):
            raise InputError(
                f"{len(row)} fields where the header has {len(columns)}", path=path, line=number
            )
        labels = {name: row[i] for i, name in label_columns}
        yield (
            (None if id_column is None else row[id_column].strip()),
            row[sequence_column],
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
    """

    def __init__(
        self,
        path: str | Path,
        *,
        molecule: str = "auto",
        format: str | None = None,
        validate: bool = True,
    ) -> None:
        self.path = Path(path)
        check_molecule(molecule)
        if format is not None and format not in ("fasta", "csv", "tsv", "plain"):
            raise ValueError(f"format must be fasta, csv, tsv or plain, got {format!r}")
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
                _table_raw_records(self.path, lines, delimiter), start=1
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
            sequence = normalize_sequence(raw, self.molecule)
            if not sequence:
                raise InputError("empty sequence", path=self.path, line=number, record=name)
            if self.validate:
                _check_letters(sequence, self.molecule, path=self.path, line=number, record=name)
            if name in seen:
                raise InputError("duplicate id", path=self.path, line=number, record=name)
            seen.add(name)
            count += 1
            yield SequenceRecord(name, sequence, description, number, labels)
        if count == 0:
            raise InputError(f"no sequence records found ({self.format} format)", path=self.path)


def _check_letters(
    sequence: str, molecule: Molecule, *, path: str | Path | None, line: int | None, record: str
) -> None:
    bad = invalid_characters(sequence, molecule)
    if not bad:
        return
    shown = " ".join(repr(c) for c in bad[:12]) + (" ..." if len(bad) > 12 else "")
    reason = f"invalid {molecule} characters {shown}"
    if molecule == "rna" and PROTEIN_ONLY_LETTERS & set(bad):
        reason += ": this looks like a protein sequence; read it with molecule='protein'"
    raise InputError(reason, path=path, line=line, record=record)


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
            raise ValueError(f"{len(self.ids)} ids for {len(self.sequences)} sequences")
        if self.labels is not None:
            if len(self.labels) != len(self.sequences):
                raise ValueError(
                    f"{len(self.labels)} label rows for {len(self.sequences)} sequences"
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
            raise ValueError(f"{len(ids)} ids for {len(sequences)} sequences")
        if not sequences:
            raise InputError("no sequences", path=source)
        resolved: Molecule = (
            detect_molecule(sequences[:DETECTION_RECORDS]) if molecule == "auto" else molecule  # type: ignore[assignment]
        )
        normalised = []
        seen: set[str] = set()
        for name, raw in zip(ids, sequences, strict=True):
            name = str(name)
            sequence = normalize_sequence(raw, resolved)
            if not sequence:
                raise InputError("empty sequence", path=source, record=name)
            if validate:
                _check_letters(sequence, resolved, path=source, line=None, record=name)
            if name in seen:
                raise InputError("duplicate id", path=source, record=name)
            seen.add(name)
            normalised.append(sequence)
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

    def write_fasta(self, path: str | Path, *, line_width: int = 80) -> Path:
        """Write the sequences as FASTA (gzip when ``path`` ends in ``.gz``)."""
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wt", encoding="utf-8") as handle:
            write_fasta_records(handle, zip(self.ids, self.sequences, strict=True), line_width)
        return path


def write_fasta_records(
    handle: io.TextIOBase, records: Iterable[tuple[str, str]], line_width: int = 80
) -> None:
    """Write ``(id, sequence)`` pairs to an open text handle as FASTA."""
    for name, sequence in records:
        handle.write(f">{name}\n")
        for start in range(0, len(sequence), line_width):
            handle.write(sequence[start : start + line_width] + "\n")


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

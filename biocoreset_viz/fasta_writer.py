"""Write FASTA that reads back: records streamed to a path or a file, ids made safe.

The project's readers take a FASTA id to be the header's first whitespace-delimited
token, so an id holding whitespace or control characters cannot be written as it
is: :func:`escape_fasta_id` percent-escapes those characters (and a ``%`` that
would read as an escape), which keeps distinct ids distinct and reversible
(:func:`unescape_fasta_id`); ``unsafe_ids="refuse"`` raises instead. Every file
:func:`write_fasta_records` writes reads back with
:func:`~biocoreset_viz.sequences.read_sequences` under the written ids.
"""

from __future__ import annotations

import gzip
import io
import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from biocoreset_viz.errors import ConfigError, InputError

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _unsafe_in_fasta_id(character: str) -> bool:
    """Whether a character cannot stand in a FASTA id as it is: whitespace (it would
    end the id) and control characters (line breaks, escapes)."""
    return character.isspace() or unicodedata.category(character) == "Cc"


def escape_fasta_id(name: str) -> str:
    """``name`` as a FASTA id: whitespace and control characters percent-escaped
    (``'a b'`` -> ``'a%20b'``), and ``%`` too where it would read as an escape.

    Ids without such characters are returned unchanged; ``urllib.parse.unquote``
    (:func:`unescape_fasta_id`) gives back the original, so distinct ids stay distinct.
    """
    if not any(_unsafe_in_fasta_id(c) or c == "%" for c in name):
        return name
    parts = []
    for position, character in enumerate(name):
        following = name[position + 1 : position + 3]
        reads_as_escape = len(following) == 2 and set(following) <= _HEX_DIGITS
        if _unsafe_in_fasta_id(character) or (character == "%" and reads_as_escape):
            data = character.encode("utf-8", "surrogatepass")
            parts.append("".join(f"%{byte:02X}" for byte in data))
        else:
            parts.append(character)
    return "".join(parts)


def unescape_fasta_id(name: str) -> str:
    """The original id of one written by :func:`escape_fasta_id`."""
    from urllib.parse import unquote

    return unquote(name)


def fasta_id(name: Any, unsafe_ids: str = "escape") -> str:
    """The id ``name`` is written under in a FASTA header.

    Args:
        unsafe_ids: ``"escape"`` (percent-escape, see :func:`escape_fasta_id`) or
            ``"refuse"``.

    Raises:
        InputError: an empty id, or (``"refuse"``) one that needs escaping.
        ConfigError: another ``unsafe_ids``.
    """
    if unsafe_ids not in ("escape", "refuse"):
        raise ConfigError(f"unsafe_ids must be 'escape' or 'refuse', got {unsafe_ids!r}")
    name = str(name)
    if not name:
        raise InputError("an empty id cannot be written to FASTA")
    written = escape_fasta_id(name)
    if written != name and unsafe_ids == "refuse":
        raise InputError(
            "the id holds whitespace, control characters or a %-escape, which a FASTA "
            "header cannot hold as it is; write it escaped (unsafe_ids='escape') or export "
            "CSV/JSON, which keep every id",
            record=name,
        )
    return written


def write_fasta_records(
    target: str | os.PathLike | IO,
    records: Iterable[tuple[str, str]],
    line_width: int = 80,
    *,
    unsafe_ids: str = "escape",
) -> Path | IO:
    """Write ``(id, sequence)`` pairs as FASTA, record by record (never all in memory).

    The file reads back with :func:`read_sequences` under the same ids: an id that
    cannot be a FASTA id as it is (whitespace, control characters) is written
    percent-escaped (:func:`escape_fasta_id`), or refused with ``unsafe_ids="refuse"``.

    Args:
        target: a path (gzip when it ends in ``.gz``), an open text file, or an open
            binary file (``io.BytesIO``: UTF-8 bytes).
        records: ``(id, sequence)`` pairs.
        line_width: residues per line (>= 1).
        unsafe_ids: ``"escape"`` (default) or ``"refuse"``.

    Returns:
        the path written, or the file object itself.

    Raises:
        InputError: an empty id, or an unsafe one with ``unsafe_ids="refuse"``.
        ConfigError: ``line_width`` below 1.
    """
    if isinstance(line_width, bool) or not isinstance(line_width, int) or line_width < 1:
        raise ConfigError(f"line_width must be an integer >= 1, got {line_width!r}")
    if isinstance(target, str | os.PathLike):
        path = Path(target)
        opener = gzip.open if path.suffix == ".gz" else open
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # no half file on error
        try:
            with opener(partial, "wt", encoding="utf-8") as handle:
                write_fasta_records(handle, records, line_width, unsafe_ids=unsafe_ids)
            os.replace(partial, path)
        except InputError as error:
            partial.unlink(missing_ok=True)
            raise InputError(error.reason, path=path, record=error.record) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return path
    text = isinstance(target, io.TextIOBase)
    for name, sequence in records:
        lines = [f">{fasta_id(name, unsafe_ids)}\n"]
        lines += [sequence[i : i + line_width] + "\n" for i in range(0, len(sequence), line_width)]
        block = "".join(lines)
        target.write(block if text else block.encode("utf-8"))
    return target

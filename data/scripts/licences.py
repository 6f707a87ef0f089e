"""Keep ``data/THIRD_PARTY_LICENSES.md``: one section per package whose files are vendored.

Each derivation script writes the sections of its own packages and leaves the
others as they are, so the scripts can be rerun in any order.
"""

from __future__ import annotations

import re
from pathlib import Path

TITLE = "# Licences of the vendored demo data and models\n"
INTRODUCTION = (
    "Written by the scripts in `data/scripts/` from the licence files shipped with the "
    "packages. The vendored files were derived (columns selected, sequences normalised, "
    "optimizer state dropped) as `data/README.md` describes.\n"
)
_SECTION = re.compile(r"^## ", re.MULTILINE)


def licence_section(package: str, version: str, spdx: str, used_in: str, text: str) -> str:
    """One section: the package, what it is used in, and its licence text verbatim."""
    return (
        f"## {package} {version} ({spdx})\n\nUsed in: {used_in}.\n\n```text\n{text.rstrip()}\n```\n"
    )


def update_licences(path: Path, sections: dict[str, str]) -> None:
    """Replace (or add) the sections of the given packages, keeping every other section.

    Args:
        path: the licences file (created when absent).
        sections: package name -> its section (from :func:`licence_section`).
    """
    kept: dict[str, str] = {}
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        starts = [match.start() for match in _SECTION.finditer(text)]
        for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
            block = text[start:end].rstrip() + "\n"
            package = block[3:].split(" ", 1)[0]
            kept[package] = block
    kept.update(sections)
    path.write_text("\n".join([TITLE, INTRODUCTION, *kept.values()]), encoding="utf-8")

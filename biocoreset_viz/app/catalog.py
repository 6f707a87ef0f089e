"""The runs under the server's root folder: found, described and linked.

``biocoreset serve ROOT`` on a folder that holds several runs lists them
(:func:`runs_page`) and opens any of them with ``?run=RELATIVE/PATH``
(:func:`~biocoreset_viz.app.guards.resolve_run_dir` still checks every
request). :func:`find_runs` walks the root a few levels deep, never following a
symbolic link out of it, never into hidden folders or into a run's own folders.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from biocoreset_viz.runs import ScoreTable, read_manifest

# how deep below the root runs are looked for, and how many are listed at most
MAX_DEPTH = 4
MAX_RUNS = 500


@dataclass(frozen=True)
class RunEntry:
    """A run directory under the root.

    Attributes:
        relative: its path relative to the root, with ``/`` (``.`` for the root itself).
        sequences: how many sequences it scored (``None``: not recorded).
        model: the model that scored it (``None``: not recorded).
        status: the manifest's status (``complete``, ``scoring`` ...), or ``None``.
    """

    relative: str
    sequences: int | None = None
    model: str | None = None
    status: str | None = None

    @property
    def link(self) -> str:
        """The page's query string that opens this run."""
        return "?run=" + quote(self.relative, safe="/")

    def label(self) -> str:
        """``name (N sequences, model)`` as plain text."""
        details = []
        if self.sequences is not None:
            details.append(f"{self.sequences:,} sequences")
        if self.model:
            details.append(self.model)
        if self.status and self.status != "complete":
            details.append(self.status)
        return self.relative + (f" ({', '.join(details)})" if details else "")


def describe_run(run_dir: Path, relative: str) -> RunEntry:
    """A :class:`RunEntry` from the run's manifest (what is missing stays ``None``)."""
    try:
        manifest = read_manifest(run_dir)
    except Exception:  # an unreadable manifest still lists the run; opening it says why
        return RunEntry(relative)
    model = manifest.get("model")
    model = model.get("name") if isinstance(model, dict) else model
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    recorded = manifest.get("input") if isinstance(manifest.get("input"), dict) else {}
    sequences = counts.get("scored", recorded.get("count"))
    status = manifest.get("status")
    return RunEntry(
        relative,
        int(sequences) if isinstance(sequences, int) else None,
        str(model) if model else None,
        str(status) if status else None,
    )


def find_runs(root: str | Path, *, max_depth: int = MAX_DEPTH) -> list[RunEntry]:
    """The run directories under ``root`` (itself included), sorted by path.

    Folders are visited down to ``max_depth`` levels; hidden ones, a run's own
    folders and symbolic links that resolve outside the root are skipped. At
    most :data:`MAX_RUNS` are returned.
    """
    base = Path(root).resolve()
    found: list[RunEntry] = []
    pending = [(base, 0)]
    while pending and len(found) < MAX_RUNS:
        folder, depth = pending.pop()
        if ScoreTable.exists(folder):
            relative = folder.relative_to(base).as_posix()
            found.append(describe_run(folder, relative or "."))
            continue  # a run's folders (scores/, evaluation/) hold no other run
        if depth >= max_depth:
            continue
        try:
            children = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for child in children:
            if child.name.startswith(".") or not child.is_dir():
                continue
            resolved = Path(child.path).resolve()
            if resolved.is_relative_to(base) and resolved != folder:
                pending.append((resolved, depth + 1))
    return sorted(found, key=lambda entry: entry.relative)


def runs_page(root: Path, runs: list[RunEntry]) -> Any:
    """The page listing the runs under ``root`` (a Panel Bootstrap template)."""
    import panel as pn

    if runs:
        items = "".join(
            f'<li><a href="{html.escape(entry.link, quote=True)}">'
            f"{html.escape(entry.label())}</a></li>"
            for entry in runs
        )
        body = f"<p>Choose a run to open:</p><ul class='bc-runs'>{items}</ul>"
    else:
        body = (
            "<p>No run directory (a <code>manifest.json</code> and score shards) was found "
            "here. Score a file with <code>biocoreset score FILE --out DIR</code>.</p>"
        )
    text = f"<h3>Runs in <code>{html.escape(str(root))}</code></h3>{body}"
    template = pn.template.BootstrapTemplate(title="biocoreset: runs", header_background="#0b3c5d")
    template.main.append(
        pn.pane.HTML(text, sizing_mode="stretch_width", css_classes=["bc-run-list"])
    )
    return template

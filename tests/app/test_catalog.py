"""The runs under the server's root: found, described, listed, opened and linked."""

from __future__ import annotations

import pytest
from support.app_runs import XSS_ID, ask_for_run, generated_table, write_run

from biocoreset_viz.app.catalog import find_runs, runs_page
from biocoreset_viz.app.server import check_served_runs, session_page
from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.runs import write_json


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Three runs at different depths, a hidden one, a link out of the root, a plain folder."""
    base = tmp_path_factory.mktemp("root")
    generated_table(30).save(base / "rna")
    generated_table(12, labels="family").save(base / "2026" / "march" / XSS_ID.replace("/", "_"))
    write_run(base / "lab", n=40)  # lab/run, with its input FASTA beside it
    generated_table(5).save(base / ".hidden")
    (base / "notes").mkdir()
    outside = generated_table(5).save(tmp_path_factory.mktemp("outside") / "run")
    (base / "escape").symlink_to(outside)
    return base


def test_every_run_under_the_root_is_found_and_nothing_outside(root) -> None:
    runs = find_runs(root)
    assert [entry.relative for entry in runs] == [
        "2026/march/" + XSS_ID.replace("/", "_"),
        "lab/run",
        "rna",
    ]
    rna = runs[-1]
    assert rna.label() == "rna (generated)"  # no counts recorded
    assert runs[1].label() == "lab/run (test-model)"
    assert rna.link == "?run=rna"
    assert find_runs(root / "rna")[0].relative == "."


def test_serving_a_folder_of_runs_lists_them(root, monkeypatch) -> None:
    assert check_served_runs(root, None) == (None, root.resolve())
    ask_for_run(monkeypatch, None)
    page = session_page(None, root.resolve(), umap=False)
    listing = page.main[0].object
    assert "?run=lab/run" in listing and "Choose a run to open" in listing
    assert XSS_ID not in listing and "&lt;script&gt;" in listing  # names shown as text
    ask_for_run(monkeypatch, "lab/run")
    template = session_page(None, root.resolve(), umap=False)
    links = template.sidebar[-1].object
    assert "lab/run (test-model) (open)" in links and "?run=rna" in links


def test_a_folder_without_runs_is_refused_in_one_line(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirectoryError, match="not a run directory with scores, nor a folder"):
        check_served_runs(tmp_path / "empty", tmp_path)
    write_json(tmp_path / "empty" / "manifest.json", {"model": "x"})
    assert find_runs(tmp_path) == []
    assert "No run directory" in runs_page(tmp_path, []).main[0].object

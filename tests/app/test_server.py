"""Serving the dashboard: which runs a server opens, and each session's page."""

from __future__ import annotations

import pytest
from support.app_runs import XSS_ID, ask_for_run

from biocoreset_viz.app.server import check_served_runs, session_page
from biocoreset_viz.errors import RunDirectoryError


def test_the_served_run_must_lie_in_the_root(run_dir, tmp_path) -> None:
    assert check_served_runs(run_dir, None) == (run_dir.resolve(), run_dir.resolve())
    with pytest.raises(RunDirectoryError, match="outside the root folder"):
        check_served_runs(run_dir, tmp_path)


def test_a_session_opens_the_default_run_or_one_under_the_root(run_dir, monkeypatch) -> None:
    import panel as pn

    ask_for_run(monkeypatch, None)
    page = session_page(run_dir, run_dir.parent, umap=False)
    assert isinstance(page, pn.template.BootstrapTemplate)
    ask_for_run(monkeypatch, run_dir.name)
    assert isinstance(
        session_page(run_dir, run_dir.parent, umap=False), pn.template.BootstrapTemplate
    )


def test_a_session_asking_for_a_run_outside_the_root_gets_an_escaped_alert(
    run_dir, monkeypatch
) -> None:
    import panel as pn

    ask_for_run(monkeypatch, f"../{XSS_ID}")
    page = session_page(run_dir, run_dir.parent, umap=False)
    assert isinstance(page, pn.pane.Alert)
    assert "Cannot open this run" in page.object and "outside the folder" in page.object
    assert XSS_ID not in page.object and "&lt;script&gt;" in page.object

"""The served dashboard in Debian's Chromium, driven by Playwright.

``biocoreset serve`` runs as a subprocess on a fixture run; every request the
page makes to anything but the local server is blocked and recorded. One page is
loaded for the module (loading takes seconds) and the tests act on it in order:
load, move α and export, upload and box-select.

Without ``/usr/bin/chromium`` (``apt-get install -y chromium``) these tests skip,
unless ``BIOCORESET_REQUIRE_BROWSER=1`` (set by CI) makes that an error.
"""

from __future__ import annotations

import pytest
from support.app_runs import XSS_ID, write_run
from support.browser import ARTIFACTS, TIMEOUT_MS, Watched, chromium, serve_for_browser

from biocoreset_viz.runs import ScoreTable
from biocoreset_viz.selection import CoverageCentric, coreset_size
from biocoreset_viz.sequences import read_sequences

pytestmark = pytest.mark.browser

N_SEQUENCES = 400


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``biocoreset serve`` on a fixture run; yields ``(base url, run directory)``."""
    for url, run_dir, _ in serve_for_browser(
        tmp_path_factory, "served", lambda root: write_run(root, n=N_SEQUENCES, projection=True)
    ):
        yield url, run_dir


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def dashboard(server, browser):
    """The dashboard page of the fixture run, loaded once."""
    url, _ = server
    watched = Watched(browser)
    watched.open(url)
    watched.wait_until_rendered()
    yield watched
    watched.context.close()


def test_page_loads_offline_without_errors(dashboard) -> None:
    page = dashboard.page
    assert dashboard.text(".coreset-size") == f"{coreset_size(N_SEQUENCES, 0.9, None):,}"
    assert dashboard.text(".pool-size") == f"{N_SEQUENCES:,}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert page.evaluate("window.__xss") is None  # the script id was never run
    assert dashboard.blocked == [], "the page asked for non-local resources"
    assert dashboard.errors == []


def test_alpha_slider_changes_the_coreset_plots_and_exported_fasta(dashboard, server) -> None:
    _, run_dir = server
    page = dashboard.page
    before = page.locator(".bc-histogram").screenshot()
    page.locator(".bc-alpha .noUi-handle").focus()
    page.keyboard.press("ArrowRight")  # one step: α 0.90 -> 0.91
    expected_size = coreset_size(N_SEQUENCES, 0.91, None)
    shown = dashboard.wait_for_text(".coreset-size", lambda t: t == f"{expected_size:,}")
    assert shown == f"{expected_size:,}"
    label = dashboard.wait_for_text(".bc-alpha", lambda t: f"keeps {expected_size} of" in t)
    assert f"α (pruning rate): keeps {expected_size} of {N_SEQUENCES}" in label
    page.wait_for_timeout(500)
    assert page.locator(".bc-histogram").screenshot() != before

    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.locator(".bc-export-fasta button").click()
    target = ARTIFACTS / "coreset.fasta"
    ARTIFACTS.mkdir(exist_ok=True)
    download.value.save_as(target)
    exported = read_sequences(target)
    table = ScoreTable.load(run_dir, embeddings=False)
    chosen = CoverageCentric(pruning_rate=0.91, hard_cutoff=0.1, n_strata=50, random_state=0)
    expected_ids = [str(i) for i in table.ids[chosen.fit(table.scores).indices_]]
    assert exported.ids == expected_ids
    pool = read_sequences(run_dir.parent / "input.fasta")
    lookup = dict(zip(pool.ids, pool.sequences, strict=True))
    assert exported.sequences == [lookup[i] for i in expected_ids]
    assert dashboard.errors == [] and dashboard.blocked == []


def test_uploads_and_box_select_list_sequences_as_text(dashboard) -> None:
    page = dashboard.page
    upload = f">{XSS_ID}\nACGU\n>rna0010\nACGU\n>unknown\nACGU\n".encode()
    page.locator(".bc-upload input[type=file]").set_input_files(
        files=[{"name": "mine.fasta", "mimeType": "text/plain", "buffer": upload}]
    )
    message = dashboard.wait_for_text(".bc-upload-message", lambda t: "ids found" in t)
    assert "mine.fasta: 2 of 3 ids found in this run" in message
    caption = dashboard.wait_for_text(".bc-table-caption", lambda t: "highlighted" in t)
    assert caption.startswith("2 sequences highlighted")
    table_text = dashboard.wait_for_text(".bc-table", lambda t: XSS_ID in t)
    assert XSS_ID in table_text  # shown as text, not parsed as HTML
    assert page.evaluate("window.__xss") is None

    canvas = page.locator(".bc-map canvas").first.bounding_box()
    left, top = canvas["x"] + canvas["width"] * 0.1, canvas["y"] + canvas["height"] * 0.1
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + canvas["width"] * 0.8, top + canvas["height"] * 0.8, steps=8)
    page.mouse.up()
    caption = dashboard.wait_for_text(".bc-table-caption", lambda t: "region" in t)
    count = int(caption.split()[0].replace(",", ""))
    assert "sequences in the region drawn on the map" in caption
    assert 0 < count <= N_SEQUENCES
    assert dashboard.errors == [] and dashboard.blocked == []


def test_runs_outside_the_root_are_refused(server, browser) -> None:
    url, _ = server
    watched = Watched(browser)
    try:
        watched.open(url + "?run=../../../etc")
        watched.page.wait_for_selector("text=Cannot open this run", timeout=TIMEOUT_MS)
        assert "outside the folder this server may open" in watched.all_text()
        assert watched.blocked == []
    finally:
        watched.context.close()

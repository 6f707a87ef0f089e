"""A new user's run in Chromium: a plain FASTA with no labels, scored, served, driven.

Before issue 14 this page was a ``KeyError: None`` traceback (every other browser
test used a labelled run). The tests act in order on one page: it loads with no
console error and no traceback text; α, β, k and method changes keep the α label,
the cards and the exported ids in agreement (for CCI α is raised when β leaves
too few sequences); the ids export re-uploads as a highlight; a file over the
upload limit is refused in the browser and the session lives on; the map shows
one tooltip at a time, saying kept or pruned, and none while a region is drawn;
long ids do not push the table's columns away; closing the tab leaves no
traceback in the server's log.
"""

from __future__ import annotations

import re
import time

import pytest
from support.app_runs import LONG_ID, write_unlabelled_run
from support.browser import ARTIFACTS, Watched, chromium, serve_for_browser

from biocoreset_viz.selection import coreset_size

pytestmark = pytest.mark.browser

N = 300
IDS = {LONG_ID, *(f"seq{i}" for i in range(1, N))}  # write_unlabelled_run's


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``biocoreset serve`` on an unlabelled run; yields ``(base url, server log)``."""
    for url, _, log_path in serve_for_browser(
        tmp_path_factory, "own-data", lambda root: write_unlabelled_run(root, n=N)
    ):
        yield url, log_path


@pytest.fixture(scope="module")
def page(server):
    url, _ = server
    with chromium() as browser:
        watched = Watched(browser, width=1280, height=2400)  # the width titles must fit
        watched.open(url)
        watched.wait_until_rendered()
        yield watched
        watched.context.close()


def settle(page: Watched, expected: int) -> str:
    """Wait for the coreset card to show ``expected``; check the α label says the same."""
    shown = page.wait_for_text(".coreset-size", lambda text: text == f"{expected:,}", 30)
    assert shown == f"{expected:,}"
    label = page.wait_for_text(".bc-alpha", lambda text: f"keeps {expected:,} of" in text)
    assert f"α (pruning rate): keeps {expected:,} of {N:,}" in label
    return label


def exported_ids(page: Watched, name: str) -> list[str]:
    path = page.download(".bc-export-csv", ARTIFACTS / "own-data" / f"{name}.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "index,id"
    return [line.split(",", 1)[1] for line in lines[1:]]


def press(page: Watched, css: str, key: str, times: int = 1) -> None:
    """Press ``key`` on a slider's handle; return once the page shows the change."""

    def keys() -> None:
        page.page.locator(f"{css} .noUi-handle").focus()
        for _ in range(times):
            page.page.keyboard.press(key)

    page.changed(keys)


def choose(page: Watched, method: str) -> None:
    """Choose a method from the menu; return once the page shows the change."""
    page.changed(lambda: page.page.locator(".bc-method select").select_option(label=method))


def test_the_unlabelled_run_loads_with_no_error_and_no_traceback(page) -> None:
    settle(page, coreset_size(N, 0.9, None))
    text = page.all_text()
    for trace in ("Traceback", "KeyError", "Cannot open this run"):
        assert trace not in text
    assert "no family or cluster labels" in text  # the redundancy view says why it is empty
    assert "Redundancy by" not in text and "Colour the map by" not in text
    page.page.screenshot(path=str(ARTIFACTS / "own-data.png"), full_page=True)
    assert page.errors == [] and page.blocked == []


def test_alpha_beta_k_and_method_keep_label_cards_and_export_in_agreement(page) -> None:
    press(page, ".bc-alpha", "ArrowRight", 2)  # α 0.90 -> 0.92
    n = coreset_size(N, 0.92, None)
    settle(page, n)
    assert len(exported_ids(page, "alpha")) == n
    press(page, ".bc-alpha", "Home")  # as far left as CCI allows: where it fits in β's survivors
    settle(page, N - N // 10)
    press(page, ".bc-beta", "ArrowRight", 15)  # β 0.10 -> 0.25: α is raised with it
    n = N - int(0.25 * N)
    settle(page, n)
    note = page.wait_for_text(".bc-note", lambda text: "raised to 0.25" in text)
    assert "survive β (hard cutoff) 0.25" in note
    assert len(exported_ids(page, "beta")) == n
    press(page, ".bc-k", "ArrowLeft", 10)  # k 50 -> 40
    settle(page, n)
    assert len(exported_ids(page, "k")) == n
    for method in ("Top-k Influence (Top-I)", "Random", "Embedding diversity (k-means)"):
        choose(page, method)
        settle(page, n)
        assert page.page.locator(".bc-card.bc-muted").count() == 1  # strata: CCI only
        assert len(exported_ids(page, method.split()[0])) == n
    choose(page, "Coverage-Centric Influence (CCI)")
    settle(page, n)
    assert page.page.locator(".bc-card.bc-muted").count() == 0
    assert page.errors == [] and page.blocked == []


def test_the_ids_export_uploads_back_as_a_highlight(page) -> None:
    ids = exported_ids(page, "again")
    path = ARTIFACTS / "own-data" / "again.csv"
    page.page.locator(".bc-upload input[type=file]").set_input_files(str(path))
    message = page.wait_for_text(".bc-upload-message", lambda text: "ids found" in text)
    assert f"again.csv: {len(ids):,} of {len(ids):,} ids found in this run" in message
    caption = page.wait_for_text(".bc-table-caption", lambda text: "highlighted" in text)
    assert caption.startswith(f"{len(ids):,} sequences highlighted")


def test_an_upload_over_the_limit_is_refused_in_the_browser(page) -> None:
    big = {"name": "big.fasta", "mimeType": "text/plain", "buffer": b"A" * 6_000_000}
    page.page.locator(".bc-upload input[type=file]").set_input_files(files=[big])
    message = page.wait_for_text(".bc-upload-message", lambda text: "big.fasta" in text)
    assert "big.fasta: file is 6 MB; uploads are limited to 5 MB" in message
    press(page, ".bc-alpha", "ArrowRight")  # the session is still alive
    settle(page, coreset_size(N, 0.26, None))
    assert page.errors == []


def test_long_ids_are_cut_in_the_table_and_shown_whole_on_hover(page) -> None:
    upload = {"name": "long.csv", "mimeType": "text/csv", "buffer": f"id\n{LONG_ID}\n".encode()}
    page.page.locator(".bc-upload input[type=file]").set_input_files(files=[upload])
    page.wait_for_text(".bc-table-caption", lambda text: text.startswith("1 sequences"))
    cell = page.page.locator(".bc-table .tabulator-cell[tabulator-field=id]").first
    box = cell.bounding_box()
    score = page.page.locator(".bc-table .tabulator-cell[tabulator-field=self_influence]").first
    table = page.page.locator(".bc-table .tabulator").first.bounding_box()
    assert box["width"] <= 200  # the id is cut ...
    assert score.bounding_box()["x"] < table["x"] + table["width"]  # ... the score stays in view
    assert "e" in score.inner_text() or "." in score.inner_text()  # 5.9e+5-style, not 590123.4
    cell.hover()
    tip = page.page.wait_for_selector(".tabulator-tooltip", timeout=10_000)
    assert tip.inner_text() == LONG_ID


def test_the_map_shows_one_tooltip_saying_kept_or_pruned_and_none_while_drawing(page) -> None:
    page.page.locator(".bc-upload-message").first.scroll_into_view_if_needed()
    canvas = page.page.locator(".bc-map canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    seen, spots = set(), []
    for step in range(6, 95, 4):
        for row in range(6, 95, 8):
            x, y = box["x"] + box["width"] * step / 100, box["y"] + box["height"] * row / 100
            page.page.mouse.move(x, y)
            page.page.wait_for_timeout(40)
            tips = page.tooltips()
            assert len(tips) <= 1, tips  # never a stack of tooltips
            if tips:
                seen.add("kept" if "status: kept (coreset)" in tips[0] else "pruned")
                spots.append((x, y))
                shown = re.search(r"id: (\S+)", tips[0])
                assert shown and shown[1] in IDS, tips[0]  # looked up by the point's index
    assert seen == {"kept", "pruned"}
    page.page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.page.mouse.down()
    for x, y in spots[:15]:  # where tooltips showed: none while a region is drawn
        page.page.mouse.move(x, y, steps=2)
        page.page.wait_for_timeout(40)
        assert page.tooltips() == []
    page.page.mouse.up()
    assert page.errors == []


def test_closing_the_tab_leaves_no_traceback_in_the_log(server, page) -> None:
    _, log_path = server
    page.page.close()  # the tab goes: its websocket closes
    time.sleep(3)
    log = log_path.read_text()
    assert "Traceback" not in log, log

"""The served dashboard in Debian's Chromium, driven by Playwright.

``biocoreset serve`` runs as a subprocess on a fixture run; every request the
page makes to anything but the local server is blocked and recorded. One page is
loaded for the module (loading takes seconds) and the tests act on it in order:
load, move α and export, upload and box-select.

Without ``/usr/bin/chromium`` (``apt-get install -y chromium``) these tests skip,
unless ``BIOCORESET_REQUIRE_BROWSER=1`` (set by CI) makes that an error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from test_app import XSS_ID, write_run

from biocoreset_viz.runs import ScoreTable
from biocoreset_viz.selection import CoverageCentric, coreset_size
from biocoreset_viz.sequences import read_sequences

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
N_SEQUENCES = 400
TIMEOUT_MS = 60_000
# all text of the page, shadow roots included (Panel renders inside them)
DEEP_TEXT = """() => {
  const walk = node => {
    let text = node.shadowRoot ? walk(node.shadowRoot) : "";
    for (const child of node.childNodes) {
      text += child.nodeType === Node.TEXT_NODE ? child.textContent : walk(child);
    }
    return text;
  };
  return walk(document.body);
}"""


def require_browser() -> None:
    """Skip (or fail, when CI requires it) without Chromium or Playwright."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"Debian Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright Python package is not installed"
    if reason is None:
        return
    if os.environ.get("BIOCORESET_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and BIOCORESET_REQUIRE_BROWSER=1 requires the browser tests")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``biocoreset serve`` on a fixture run; yields ``(base url, run directory)``."""
    require_browser()
    root = tmp_path_factory.mktemp("served")
    run_dir = write_run(root, n=N_SEQUENCES, projection=True)
    port = free_port()
    log_path = root / "server.log"
    command = [
        sys.executable, "-m", "biocoreset_viz", "serve", str(run_dir), "--root", str(root),
        "--port", str(port), "--address", "127.0.0.1", "--no-umap",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                # a static file: asking for the page would open (and abandon) a session
                urllib.request.urlopen(url + "static/js/bokeh.min.js", timeout=10).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{log_path.read_text()}")
                time.sleep(0.3)
        yield url, run_dir
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors and non-local requests are recorded."""

    def __init__(self, browser, *, accept_downloads: bool = True) -> None:
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.context = browser.new_context(
            viewport={"width": 1500, "height": 2300}, accept_downloads=accept_downloads
        )
        self.context.route("**/*", self._guard)
        self.page = self.context.new_page()
        self.page.on(
            "console",
            lambda message: message.type == "error" and self.errors.append(message.text),
        )
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on(
            "requestfailed",
            lambda request: self.errors.append(f"requestfailed: {request.url}"),
        )

    def _guard(self, route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def open(self, url: str) -> None:
        self.page.goto(url, timeout=TIMEOUT_MS)

    def wait_until_rendered(self) -> None:
        self.page.wait_for_selector(".coreset-size", timeout=TIMEOUT_MS)
        for css in (".bc-histogram canvas", ".bc-strata canvas", ".bc-map canvas"):
            self.page.wait_for_selector(css, timeout=TIMEOUT_MS)
        self.page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)

    def text(self, css: str) -> str:
        """Text of the first match, including its shadow root (where Panel renders)."""
        return self.page.locator(css).first.evaluate(
            "e => (e.shadowRoot ? e.shadowRoot.textContent : '') + e.textContent",
            timeout=TIMEOUT_MS,
        )


@pytest.fixture(scope="module")
def dashboard(server, browser):
    """The dashboard page of the fixture run, loaded once."""
    url, _ = server
    watched = Watched(browser)
    watched.open(url)
    watched.wait_until_rendered()
    yield watched
    watched.context.close()


def wait_for_text(watched: Watched, css: str, wanted, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = watched.text(css)
        if wanted(text) or time.monotonic() > deadline:
            return text
        watched.page.wait_for_timeout(200)


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
    shown = wait_for_text(dashboard, ".coreset-size", lambda t: t == f"{expected_size:,}")
    assert shown == f"{expected_size:,}"
    label = wait_for_text(dashboard, ".bc-alpha", lambda t: f"keeps {expected_size} of" in t)
    assert f"keeps {expected_size} of {N_SEQUENCES}" in label
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
    message = wait_for_text(dashboard, ".bc-upload-message", lambda t: "ids found" in t)
    assert "mine.fasta: 2 of 3 ids found in this run" in message
    caption = wait_for_text(dashboard, ".bc-table-caption", lambda t: "highlighted" in t)
    assert caption.startswith("2 sequences highlighted")
    table_text = wait_for_text(dashboard, ".bc-table", lambda t: XSS_ID in t)
    assert XSS_ID in table_text  # shown as text, not parsed as HTML
    assert page.evaluate("window.__xss") is None

    canvas = page.locator(".bc-map canvas").first.bounding_box()
    left, top = canvas["x"] + canvas["width"] * 0.1, canvas["y"] + canvas["height"] * 0.1
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + canvas["width"] * 0.8, top + canvas["height"] * 0.8, steps=8)
    page.mouse.up()
    caption = wait_for_text(dashboard, ".bc-table-caption", lambda t: "region" in t)
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
        assert "outside the folder this server may open" in watched.page.evaluate(DEEP_TEXT)
        assert watched.blocked == []
    finally:
        watched.context.close()

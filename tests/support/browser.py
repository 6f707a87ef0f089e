"""The dashboard in Debian's Chromium, driven by Playwright: what every browser test shares.

``biocoreset serve`` runs as a subprocess (:func:`served`, also what the raw
websocket tests of ``tests/app/test_hosts.py`` talk to; :func:`serve_for_browser`
is a browser test module's server fixture); a :class:`Watched` page records its
console errors and blocks (and records) every request to anything but the local
server. Without ``/usr/bin/chromium`` (``apt-get install
-y chromium``) the tests skip, unless ``BIOCORESET_REQUIRE_BROWSER=1`` (set by
CI) makes that an error.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

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
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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
# the text of every Bokeh tooltip shown now (they render in shadow roots)
TOOLTIPS = """() => {
  const found = [];
  const walk = node => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children || []) {
      if (child.classList && child.classList.contains("bk-Tooltip")) found.push(child);
      walk(child);
    }
  };
  walk(document.body);
  const text = tip => Array.from((tip.shadowRoot || tip).querySelectorAll("div, span"))
    .filter(e => e.children.length === 0).map(e => e.textContent).join(" ");
  return found.map(text).map(t => t.replace(/\\s+/g, " ").trim()).filter(t => t);
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


@contextlib.contextmanager
def served(run_dir: Path, root: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """``biocoreset serve RUN_DIR --root ROOT`` on a free port: yields ``(url, log path)``."""
    port = free_port()
    log_path = root / f"server-{port}.log"
    command = [
        sys.executable, "-m", "biocoreset_viz", "serve", str(run_dir), "--root", str(root),
        "--port", str(port), "--address", "127.0.0.1", *options,
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
        yield url, log_path
    finally:
        process.terminate()
        process.wait(timeout=20)


def serve_for_browser(
    tmp_path_factory, name: str, make_run: Callable[[Path], Path]
) -> Iterator[tuple[str, Path, Path]]:
    """A browser test module's server (``yield from`` it in a fixture).

    Skips without the browser, writes a run with ``make_run(folder)`` in a new
    folder called ``name`` and serves it (no UMAP); yields ``(url, run_dir, log path)``.
    """
    require_browser()
    root = tmp_path_factory.mktemp(name)
    run_dir = make_run(root)
    with served(run_dir, root, "--no-umap") as (url, log_path):
        yield url, run_dir, log_path


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (Debian's, not Playwright's download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page whose console errors and non-local requests are recorded."""

    def __init__(self, browser, *, width: int = 1500, height: int = 2300) -> None:
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
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

    def all_text(self) -> str:
        return self.page.evaluate(DEEP_TEXT)

    def wait_for_text(self, css: str, wanted: Callable[[str], bool], timeout: float = 20.0) -> str:
        """The text of ``css`` once ``wanted(text)`` holds (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text(css)
            if wanted(text) or time.monotonic() > deadline:
                return text
            self.page.wait_for_timeout(200)

    def revision(self) -> int:
        """The store revision the page shows (the summary cards' ``data-revision``)."""
        cards = self.page.locator(".bc-cards").first
        return int(cards.get_attribute("data-revision", timeout=TIMEOUT_MS))

    def changed(self, act: Callable[[], object], timeout: float = 30.0) -> None:
        """Do ``act`` (a control change) and wait until the page shows a newer revision."""
        before = self.revision()
        act()
        deadline = time.monotonic() + timeout
        while self.revision() <= before and time.monotonic() < deadline:
            self.page.wait_for_timeout(100)

    def download(self, css: str, target: Path) -> Path:
        """Click the FileDownload button ``css`` and save what it downloads to ``target``."""
        with self.page.expect_download(timeout=TIMEOUT_MS) as download:
            self.page.locator(f"{css} button").click()
        target.parent.mkdir(parents=True, exist_ok=True)
        download.value.save_as(target)
        return target

    def tooltips(self) -> list[str]:
        return self.page.evaluate(TOOLTIPS)

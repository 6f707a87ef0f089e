"""Server-side time from a control change to every dashboard view recomputed.

For each size, a synthetic run is written to a temporary folder: lognormal
self-influence scores, 32-dimensional float16 embeddings drawn around family
centres, ``family`` and ``cluster`` labels, and a precomputed 2-D projection in
the run's projection cache (so no UMAP is computed here). Then, as a served
session does:

1. ``DataStore(run_dir)`` loads the run (startup, timed once);
2. the whole dashboard (``App``) is turned into Bokeh models in a document;
3. each timed change sets one control (α, the method, β) to a value not seen
   before (the store's selection cache is cleared, so every change selects
   anew) and returns when every view is updated: the selection, the histogram,
   stratum, label and neighbour tables, the summary cards, the sequence table,
   and every HoloViews plot's Bokeh data, including the datashader aggregation
   of the map above 50,000 points. That work runs synchronously inside the
   assignment, which is what a server does before it sends the changes.

The "data" column times the same changes on a store with no views attached
(what the views need, computed); "views" is the full update. Times are medians
over the changes of each kind.

Goals: <= 0.3 s at 100,000 sequences and <= 1 s at 1,000,000.

``--browser`` measures what a user waits for instead: ``biocoreset serve`` on
the same synthetic run, the page in headless Chromium (1,280 pixels wide), and
for each change (α, β, k by the keyboard on the slider; the method from its
menu: Top-I, CCI, random) the time from the browser event to every view
settled: the page records each websocket message from the server and when the
browser has painted after it (two animation frames), and a change has settled
when the summary cards show the store's new revision and no message came for
1.5 s; the time is the last paint after the change minus the event (the header's busy
spinner going off is one of those messages). Goal (issue 14): <= 1 s
at 100,000 sequences. The CPU seconds the server and Chromium spent on each change are
printed too: on a shared machine the wall-clock times include waiting for a core.

Usage::

    python benchmarks/bench_dashboard.py                 # 100,000 and 1,000,000
    python benchmarks/bench_dashboard.py --sizes 1e5 --repeats 3
    python benchmarks/bench_dashboard.py --browser --sizes 1e5 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from biocoreset_viz.projection import ProjectionSettings, pca_coordinates, write_projection
from biocoreset_viz.runs import ScoreTable

GOALS = {100_000: 0.3, 1_000_000: 1.0}
BROWSER_GOALS = {100_000: 1.0}
DIM = 32


def synthetic_run(folder: Path, size: int, seed: int = 0) -> Path:
    """A run directory of ``size`` sequences with scores, embeddings, labels and a map."""
    rng = np.random.default_rng(seed)
    n_families = max(10, size // 200)
    family = rng.zipf(1.6, size) % n_families  # a few large families, many small ones
    centres = rng.normal(scale=3.0, size=(n_families, DIM)).astype(np.float32)
    embeddings = centres[family] + rng.normal(size=(size, DIM)).astype(np.float32)
    frame = pd.DataFrame({"index": np.arange(size, dtype=np.int64)})
    frame["id"] = [f"seq{i}" for i in range(size)]
    frame["length"] = rng.integers(30, 400, size)
    frame["truncated"] = False
    frame["loss"] = rng.random(size)
    frame["self_influence"] = rng.lognormal(size=size)
    frame["family"] = [f"RF{f:05d}" for f in family]
    # each family split into up to 4 clusters
    frame["cluster"] = [
        f"c{f * 4 + c}" for f, c in zip(family, rng.integers(0, 4, size), strict=True)
    ]
    run_dir = folder / f"run-{size}"
    table = ScoreTable(
        frame, embeddings.astype(np.float16), {"model": "synthetic", "molecule": "rna"}
    )
    table.save(run_dir)
    coordinates = pca_coordinates(embeddings)
    projection = pd.DataFrame(
        {"index": frame["index"], "x": coordinates[:, 0], "y": coordinates[:, 1]}
    )
    write_projection(run_dir, projection, ProjectionSettings())
    return run_dir


def changes(repeats: int) -> list[tuple[str, dict]]:
    """Control changes to time: α steps, method switches, β steps (each value new)."""
    steps: list[tuple[str, dict]] = []
    for i in range(repeats):
        steps.append(("α", {"pruning_rate": round(0.80 + 0.01 * i, 2)}))
    for i, method in enumerate(
        ["topi", "random", "cci", "bottomi", "topi", "cci"][: max(repeats, 3)]
    ):
        steps.append(("method", {"method": method, "pruning_rate": round(0.90 + 0.005 * i, 3)}))
    for i in range(repeats):
        steps.append(("β", {"method": "cci", "hard_cutoff": round(0.05 + 0.01 * i, 2)}))
    return steps


def time_changes(store, steps: list[tuple[str, dict]]) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU seconds per kind of change."""
    times: dict[str, list[tuple[float, float]]] = {}
    for kind, values in steps:
        store._selections.clear()  # every change selects anew
        wall, cpu = time.perf_counter(), time.process_time()
        store.param.update(**values)
        elapsed = (time.perf_counter() - wall, time.process_time() - cpu)
        if store.error:
            raise RuntimeError(f"{values}: {store.error}")
        times.setdefault(kind, []).append(elapsed)
    return {
        kind: (
            statistics.median(w for w, _ in values),
            statistics.median(c for _, c in values),
        )
        for kind, values in times.items()
    }


def timed(action: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def bench(size: int, repeats: int, folder: Path) -> dict[str, object]:
    from bokeh.document import Document

    from biocoreset_viz.app import App, DataStore
    from biocoreset_viz.app.store import load_score_table

    run_dir, build = timed(lambda: synthetic_run(folder, size))
    load_score_table.clear()
    data_store, startup = timed(lambda: DataStore(run_dir, umap=False))
    warm = [
        ("warm", {"pruning_rate": 0.7}),
        ("warm", {"method": "topi"}),
        ("warm", {"method": "cci"}),
    ]
    time_changes(data_store, warm)
    data = time_changes(data_store, changes(repeats))

    store = DataStore(run_dir, umap=False)
    app = App(store)
    _, render = timed(lambda: app.__panel__().get_root(Document()))
    time_changes(store, warm)  # compiles datashader's kernels
    views = time_changes(store, changes(repeats))
    return {
        "size": size,
        "build": build,
        "startup": startup,
        "render": render,
        "data": data,
        "views": views,
    }


# ------------------------------------------------------------------ browser side

# Installed before the page's own scripts: every websocket message the server sends
# is stamped with the time it arrived and the time the browser painted after it;
# the control change's browser event is stamped too.
RECORDER = """
(() => {
  window.__bc = {messages: [], paints: [], event: null};
  const stamp = () => { window.__bc.event = performance.now(); };
  for (const kind of ["keydown", "input", "change", "pointerdown"]) {
    window.addEventListener(kind, stamp, true);
  }
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", (...args) => {
      window.__bc.messages.push(performance.now());
      requestAnimationFrame(() => requestAnimationFrame(() =>
        window.__bc.paints.push(performance.now())));
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();
"""
QUIET_MS = 1_500


# the methods' names in the table
SHORT = {"Top-k Influence (Top-I)": "Top-I", "Random": "random",
         "Coverage-Centric Influence (CCI)": "CCI"}  # fmt: skip


def browser_changes(repeats: int) -> list[tuple[str, str, str]]:
    """``(kind, control, action)``: one warm-up, then ``repeats`` changes of each kind."""
    steps = [("warm", "alpha", "ArrowRight"), ("warm", "method", "Top-k Influence (Top-I)"),
             ("warm", "method", "Coverage-Centric Influence (CCI)")]  # fmt: skip
    steps += [("α", "alpha", "ArrowRight")] * repeats
    steps += [("β", "beta", "ArrowRight")] * repeats
    steps += [("k", "k", "ArrowRight")] * repeats
    methods = ["Top-k Influence (Top-I)", "Random", "Coverage-Centric Influence (CCI)"]
    for i in range(repeats):
        # a new α first (not timed), so that the method's selection is not remembered
        steps += [("untimed", "alpha", "ArrowLeft"), (f"method: {SHORT[methods[i % 3]]}",
                  "method", methods[i % 3])]  # fmt: skip
    return steps


def _act(page, control: str, action: str) -> None:
    if control == "method":
        page.locator(".bc-method select").select_option(label=action)
    else:
        page.locator(f".bc-{control} .noUi-handle").focus()
        page.keyboard.press(action)


def _revision(page) -> int:
    """The store revision the page shows (the summary cards' ``data-revision``)."""
    return int(page.locator(".bc-cards").first.get_attribute("data-revision", timeout=10_000))


def _settle(page, before: int, deadline_s: float = 120.0) -> float:
    """Seconds from the change's browser event to the last paint after the server's answer.

    The answer has arrived when the page shows a newer revision than ``before``
    and no message came for :data:`QUIET_MS` since.
    """
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if _revision(page) > before:
            state = page.evaluate(
                "() => ({now: performance.now(), event: __bc.event, messages: __bc.messages, "
                "paints: __bc.paints})"
            )
            after = [m for m in state["messages"] if m >= state["event"]]
            if after and state["now"] - after[-1] > QUIET_MS:
                paints = [p for p in state["paints"] if p >= after[-1]]
                if paints:
                    return (paints[0] - state["event"]) / 1000
        page.wait_for_timeout(100)
    raise RuntimeError(f"the page did not settle within {deadline_s:.0f} s")


def bench_browser(
    size: int, repeats: int, folder: Path, screenshot: str | None = None
) -> dict[str, object]:
    """Browser-side times of each kind of change at ``size`` sequences (medians, maxima)."""
    import subprocess
    import sys
    import urllib.request

    from playwright.sync_api import sync_playwright

    run_dir = synthetic_run(folder, size)
    port = free_port()
    log = open(folder / f"serve-{size}.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "biocoreset_viz", "serve", str(run_dir), "--no-umap",
         "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "static/js/bokeh.min.js", timeout=5).close()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 2400})
            page.add_init_script(RECORDER)
            started = time.perf_counter()
            page.goto(url, timeout=300_000)
            page.wait_for_selector(".bc-map canvas", timeout=300_000)
            page.wait_for_load_state("networkidle", timeout=300_000)
            load = time.perf_counter() - started
            if screenshot:
                page.screenshot(path=screenshot, full_page=True)
            times: dict[str, list[tuple[float, float, float]]] = {}
            for kind, control, action in browser_changes(repeats):
                before = _revision(page)
                cpu = _cpu_seconds(server.pid)
                _act(page, control, action)
                elapsed = _settle(page, before)
                used = [
                    after - start
                    for after, start in zip(_cpu_seconds(server.pid), cpu, strict=True)
                ]
                if kind not in ("warm", "untimed"):
                    times.setdefault(kind, []).append((elapsed, *used))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return {"size": size, "load": load, "times": times}


def _cpu_seconds(server_pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the server and by Chromium (this process's children).

    What a change costs without waiting for other jobs: on a shared machine the
    wall-clock times also hold the time spent waiting for a core.
    """
    import psutil

    def used(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:  # a renderer that has gone
            return 0.0
        return times.user + times.system

    browser = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]
    return used(psutil.Process(server_pid)), sum(used(p) for p in browser)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
]  # fmt: skip


def print_browser_table(rows: list[dict[str, object]]) -> None:
    print(f"load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("browser side: from the control's event in Chromium to the last paint after the")
    print("server's answer (every view settled); median and worst over the changes of a kind;")
    print("cpu: median CPU seconds the server and Chromium spent on a change (the 1.5 s of")
    print("quiet that ends a change included)")
    print()
    header = (
        f"{'sequences':>10} | {'change':<16} | {'median':>8} | {'worst':>8} | "
        f"{'server cpu':>10} | {'Chromium cpu':>12} | goal   | ok"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        goal = BROWSER_GOALS.get(row["size"])
        for kind, values in row["times"].items():
            walls = [wall for wall, _, _ in values]
            median, worst = statistics.median(walls), max(walls)
            server_cpu = statistics.median(server for _, server, _ in values)
            browser_cpu = statistics.median(browser for _, _, browser in values)
            verdict = "-" if goal is None else ("yes" if median <= goal else "NO")
            goal_text = "-" if goal is None else f"{goal:.1f} s"
            print(
                f"{row['size']:>10,} | {kind:<16} | {median * 1000:>6.0f}ms | "
                f"{worst * 1000:>6.0f}ms | {server_cpu * 1000:>8.0f}ms | "
                f"{browser_cpu * 1000:>10.0f}ms | {goal_text:<6} | {verdict}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--repeats", type=int, default=5, help="changes of each kind")
    parser.add_argument(
        "--browser", action="store_true", help="time the page in Chromium instead (see above)"
    )
    parser.add_argument("--screenshot", metavar="PNG", help="(--browser) save the loaded page")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.browser:
        with tempfile.TemporaryDirectory(prefix="bench-browser-") as folder:
            rows = []
            for size in [int(s) for s in args.sizes]:
                rows.append(bench_browser(size, args.repeats, Path(folder), args.screenshot))
                print(f"{size:,}: page loaded in {rows[-1]['load']:.1f} s", flush=True)
            print()
            print_browser_table(rows)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        for size in [int(s) for s in args.sizes]:
            result = bench(size, args.repeats, Path(folder))
            rows.append(result)
            print(
                f"{size:,}: run written in {result['build']:.1f} s, store ready in "
                f"{result['startup']:.1f} s, page built in {result['render']:.1f} s",
                flush=True,
            )
    print()
    print(f"load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("wall: elapsed time; cpu: this process's CPU time (what the work costs without waiting")
    print("for other jobs on a shared machine). data: the store alone; views: the full update.")
    print()
    kinds = ["α", "method", "β"]
    header = f"{'sequences':>10} | {'':>5} | " + " | ".join(
        f"{k:>6} data {k:>6} views" for k in kinds
    )
    header += " | worst views | goal   | ok"
    print(header)
    print("-" * len(header))
    for row in rows:
        goal = GOALS.get(row["size"])
        for position, label in ((0, "wall"), (1, "cpu")):
            cells = " | ".join(
                f"{row['data'][k][position] * 1000:>9.0f}ms {row['views'][k][position] * 1000:>10.0f}ms"
                for k in kinds
            )
            worst = max(value[position] for value in row["views"].values())
            verdict = "-" if goal is None else ("yes" if worst <= goal else "NO")
            goal_text = "-" if goal is None else f"{goal:.1f} s"
            print(
                f"{row['size']:>10,} | {label:>5} | {cells} | {worst * 1000:>9.0f}ms | "
                f"{goal_text:<6} | {verdict}"
            )


if __name__ == "__main__":
    main()

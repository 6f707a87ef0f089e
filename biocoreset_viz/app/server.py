"""Serving the dashboard: one Bokeh/Panel server, local assets only, runs under one root.

:func:`serve` starts the server (what ``biocoreset serve`` and ``biocoreset demo``
call). Every JavaScript and CSS file is served by the server itself (Panel's
default resources mode), so the page works with no internet; the page uses the
Bootstrap template, which pulls no web fonts.

Which runs a browser may open: the server is given a *root* folder; a session
opens the default run, or ``?run=RELATIVE/PATH``, which must resolve (symbolic
links included) to a run directory inside the root (:func:`resolve_run_dir`).
Served on a folder that holds runs rather than on a run, the page lists them
(:mod:`~biocoreset_viz.app.catalog`), and every dashboard links to the others.

Which requests it answers: only those whose ``Host`` (and websocket ``Origin``)
name the server's own address (:class:`~biocoreset_viz.app.hosts.HostCheck`).
A tab closing is one quiet line in the log, not a traceback.
"""

from __future__ import annotations

import errno
import html
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from biocoreset_viz.app.catalog import RunEntry, find_runs, runs_page
from biocoreset_viz.app.guards import resolve_run_dir
from biocoreset_viz.app.hosts import LOOPBACK, HostCheck, allowed_hosts
from biocoreset_viz.errors import BiocoresetError, RunDirectoryError
from biocoreset_viz.runs import ScoreTable

DEFAULT_PORT = 5006
DEFAULT_ADDRESS = "127.0.0.1"
# Bokeh's limit on one websocket message, which bounds uploads before they are checked
MAX_MESSAGE_BYTES = 20 * 1024 * 1024


def default_run_dir() -> Path:
    """The bundled demo run (4,223 RNAs scored by the demo model).

    Raises:
        RunDirectoryError: this installation ships no demo run.
    """
    try:
        from biocoreset_viz.demo import demo_run_path
    except ImportError as error:
        raise RunDirectoryError(
            "no RUN_DIR given and this installation has no bundled demo run"
        ) from error
    return Path(demo_run_path())


def check_served_runs(
    run_dir: str | Path | None, root: str | Path | None
) -> tuple[Path | None, Path]:
    """The default run (``None``: a list of runs) and the root folder, resolved and checked.

    ``run_dir`` defaults to the bundled demo run, ``root`` to ``run_dir`` itself
    (only that run, and runs inside it, can be opened). A ``run_dir`` that is
    not a run but a folder holding runs is the root: the page lists its runs.

    Raises:
        RunDirectoryError: not a run directory nor a folder with runs, or the
            run lies outside the root.
    """
    run = Path(run_dir) if run_dir is not None else default_run_dir()
    if root is None and run.is_dir() and not ScoreTable.exists(run) and find_runs(run):
        return None, run.resolve()
    if root is None and not run.exists():
        raise RunDirectoryError(f"{run_dir}: no such run directory")
    base = Path(root).resolve() if root is not None else run.resolve()
    if not base.is_dir():
        raise RunDirectoryError(f"{root}: the root folder does not exist")
    try:
        relative = run.resolve().relative_to(base)
    except ValueError:
        raise RunDirectoryError(f"{run_dir}: the run is outside the root folder {root}") from None
    if run.is_dir() and not ScoreTable.exists(run) and not find_runs(run):
        raise RunDirectoryError(
            f"{run_dir}: not a run directory with scores, nor a folder holding runs"
        )
    return resolve_run_dir(relative, base), base


def session_page(default_run: Path | None, root: Path, *, umap: bool = True) -> Any:
    """The page of one browser session: the default run, or ``?run=`` under ``root``
    (or the list of runs under ``root`` when there is no default run)."""
    import panel as pn

    from biocoreset_viz.app.dashboard import App
    from biocoreset_viz.app.store import DataStore

    requested = pn.state.session_args.get("run") if pn.state.session_args else None
    try:
        run = default_run
        if requested:
            run = resolve_run_dir(requested[0].decode("utf-8", "replace"), root)
        runs = find_runs(root)
        if run is None:
            return runs_page(root, runs)
        return App(DataStore(run, umap=umap), runs=_switch_links(runs, run, root)).template()
    except (BiocoresetError, ValueError) as error:
        return pn.pane.Alert(
            f"<b>Cannot open this run</b>: {html.escape(str(error))}",
            alert_type="danger",
        )


def _switch_links(runs: list[RunEntry], current: Path, root: Path) -> list[tuple[str, str]]:
    """``(label, link)`` of the runs under the root, the current one marked."""
    here = current.resolve().relative_to(root).as_posix() or "."
    return [
        (entry.label() + (" (open)" if entry.relative == here else ""), entry.link)
        for entry in runs
    ]


def network_warning(address: str) -> str | None:
    """A warning when ``address`` makes the dashboard reachable from other machines."""
    if address in LOOPBACK:
        return None
    return (
        f"listening on {address}: the dashboard is reachable from the network by anyone "
        "who can reach this machine, and it has no login"
    )


# loggers that report a browser tab closing (a closed websocket) with a traceback
CLOSE_LOGGERS = (
    "tornado.application",
    "tornado.general",
    "asyncio",
    "bokeh.server.protocol_handler",
    "bokeh.server.views.ws",
    "bokeh.server.connection",
    "bokeh.server.session",
    "bokeh.server.tornado",
)


def closed_tab(error: BaseException | None) -> bool:
    """Whether ``error`` is a browser tab going away: its websocket closed mid-message,
    or closed while its session was still being made (Bokeh then finds no session)."""
    if error is None:
        return False
    if type(error).__name__ in ("WebSocketClosedError", "StreamClosedError"):
        return True
    frames = traceback.extract_tb(error.__traceback__)
    return (
        isinstance(error, AssertionError)
        and bool(frames)
        and (frames[-1].filename.replace("\\", "/").endswith("bokeh/server/connection.py"))
    )


class QuietClose(logging.Filter):
    """One quiet line instead of a traceback when a browser tab closes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not closed_tab(record.exc_info[1] if record.exc_info else None):
            return True
        record.msg, record.args = "a browser tab closed its connection", ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_closed_tabs() -> None:
    """Put :class:`QuietClose` on the loggers that report a closed tab, and on the
    handlers of the root logger (which the others propagate to)."""
    targets = [logging.getLogger(name) for name in CLOSE_LOGGERS]
    targets += list(logging.getLogger().handlers)
    for target in targets:
        if not any(isinstance(f, QuietClose) for f in target.filters):
            target.addFilter(QuietClose())


def serve(
    run_dir: str | Path | None = None,
    *,
    root: str | Path | None = None,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    show: bool = False,
    umap: bool = True,
    origins: list[str] | None = None,
    start: bool = True,
    announce: Callable[[], None] | None = None,
) -> Any:
    """Serve the dashboard on ``http://ADDRESS:PORT/``.

    Args:
        run_dir: the run a session opens by default (default: the bundled demo run).
        root: the folder whose runs may be opened with ``?run=`` (default: ``run_dir``).
        port: TCP port.
        address: interface to bind; loopback unless told otherwise.
        show: open the page in a web browser.
        umap: compute a UMAP map in the background when none is cached.
        origins: extra ``host:port`` values browsers may use to reach the server
            (the machine's names and addresses are allowed when bound to every
            interface); every other ``Host`` and websocket ``Origin`` is refused.
        start: run the server until interrupted (``False``: return it unstarted).
        announce: called once the run is read and the port is bound, just before
            the server starts (the CLI prints its banner there, so a refused run
            shows only the error).

    Returns:
        the Bokeh server.

    Raises:
        RunDirectoryError: the run or the root is not usable.
        BiocoresetError: the port is taken, the address is not this machine's, or
            the system refuses to listen there (e.g. a privileged port).
    """
    import panel as pn

    from biocoreset_viz.app.store import load_score_table

    default_run, base = check_served_runs(run_dir, root)
    if default_run is not None:  # read once before the first session, errors early
        load_score_table(str(default_run))
    allowed = allowed_hosts(address, port, origins or [])
    quiet_closed_tabs()

    def page() -> Any:
        return session_page(default_run, base, umap=umap)

    try:
        server = pn.serve(
            page,
            port=port,
            address=address,
            # Bokeh's own origin list cannot parse "[::1]:port"; HostCheck checks those
            websocket_origin=[host for host in allowed if not host.startswith("[")],
            show=False,
            start=False,
            title="biocoreset",
            verbose=False,
            websocket_max_message_size=MAX_MESSAGE_BYTES,
        )
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise BiocoresetError(
                f"port {port} on {address} is already in use; choose another with --port"
            ) from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise BiocoresetError(
                f"cannot listen on address {address}: not on this machine"
            ) from None
        raise BiocoresetError(
            f"cannot listen on {address} port {port}: {error.strerror or error}"
        ) from error
    HostCheck(allowed).install(server._tornado)
    quiet_closed_tabs()  # again: starting the server may have added handlers
    if announce is not None:
        announce()
    if start:
        if show:
            server.io_loop.add_callback(server.show, "/")
        server.start()
        server.io_loop.start()
    return server

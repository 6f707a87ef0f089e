"""Serving the dashboard: one Bokeh/Panel server, local assets only, runs under one root.

:func:`serve` starts the server (what ``biocoreset serve`` and ``biocoreset demo``
call). Every JavaScript and CSS file is served by the server itself (Panel's
default resources mode), so the page works with no internet; the page uses the
Bootstrap template, which pulls no web fonts.

Which runs a browser may open: the server is given a *root* folder; a session
opens the default run, or ``?run=RELATIVE/PATH``, which must resolve (symbolic
links included) to a run directory inside the root (:func:`resolve_run_dir`).
"""

from __future__ import annotations

import errno
import html
from pathlib import Path
from typing import Any

from biocoreset_viz.app.data import resolve_run_dir
from biocoreset_viz.errors import BiocoresetError, RunDirectoryError

DEFAULT_PORT = 5006
DEFAULT_ADDRESS = "127.0.0.1"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
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


def check_served_runs(run_dir: str | Path | None, root: str | Path | None) -> tuple[Path, Path]:
    """The default run and the root folder, both resolved and checked.

    ``run_dir`` defaults to the bundled demo run, ``root`` to ``run_dir`` itself
    (only that run, and runs inside it, can be opened).

    Raises:
        RunDirectoryError: not a run directory, or the run lies outside the root.
    """
    run = Path(run_dir) if run_dir is not None else default_run_dir()
    base = Path(root).resolve() if root is not None else run.resolve()
    if not base.is_dir():
        raise RunDirectoryError(f"{root}: the root folder does not exist")
    try:
        relative = run.resolve().relative_to(base)
    except ValueError:
        raise RunDirectoryError(f"{run_dir}: the run is outside the root folder {root}") from None
    return resolve_run_dir(relative, base), base


def session_page(default_run: Path, root: Path, *, umap: bool = True) -> Any:
    """The page of one browser session: the default run, or ``?run=`` under ``root``."""
    import panel as pn

    from biocoreset_viz.app.dashboard import App
    from biocoreset_viz.app.store import DataStore

    requested = pn.state.session_args.get("run") if pn.state.session_args else None
    try:
        run = default_run
        if requested:
            run = resolve_run_dir(requested[0].decode("utf-8", "replace"), root)
        return App(DataStore(run, umap=umap)).template()
    except (BiocoresetError, ValueError) as error:
        return pn.pane.Alert(
            f"<b>Cannot open this run</b>: {html.escape(str(error))}",
            alert_type="danger",
        )


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
) -> Any:
    """Serve the dashboard on ``http://ADDRESS:PORT/``.

    Args:
        run_dir: the run a session opens by default (default: the bundled demo run).
        root: the folder whose runs may be opened with ``?run=`` (default: ``run_dir``).
        port: TCP port.
        address: interface to bind; loopback unless told otherwise.
        show: open the page in a web browser.
        umap: compute a UMAP map in the background when none is cached.
        origins: extra ``host:port`` values browsers may connect from (needed
            when serving on another address than loopback).
        start: run the server until interrupted (``False``: return it unstarted).

    Returns:
        the Bokeh server.

    Raises:
        RunDirectoryError: the run or the root is not usable.
        BiocoresetError: the port is taken or the address is not this machine's.
    """
    import panel as pn

    from biocoreset_viz.app.store import load_score_table

    default_run, base = check_served_runs(run_dir, root)
    load_score_table(str(default_run))  # read once before the first session, errors early
    allowed = [f"{address}:{port}"]
    if address in LOOPBACK or address in ("0.0.0.0", "::"):
        allowed += [f"localhost:{port}", f"127.0.0.1:{port}"]
    allowed += list(origins or [])

    def page() -> Any:
        return session_page(default_run, base, umap=umap)

    try:
        return pn.serve(
            page,
            port=port,
            address=address,
            websocket_origin=allowed,
            show=show,
            start=start,
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
        raise

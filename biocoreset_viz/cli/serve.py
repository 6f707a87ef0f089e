"""``biocoreset serve [RUN_DIR]``: the dashboard in a web browser, offline.

Example::

    biocoreset serve runs/rna --port 5006 --show

Binds to 127.0.0.1 unless ``--address`` says otherwise (another address gets a
warning: the dashboard has no login); every JavaScript and CSS file is served
locally. Without RUN_DIR it opens the bundled demo run. RUN_DIR may also be a
folder holding several runs: the page lists them and opens any of them. Runs
under ``--root DIR`` can be opened with ``http://HOST:PORT/?run=RELATIVE/PATH``.
Requests naming another host than the server's own address are refused.
"""

from __future__ import annotations

import argparse
import sys

# the defaults of biocoreset_viz.app.server, repeated so that `--help` imports no Panel
DEFAULT_PORT = 5006
DEFAULT_ADDRESS = "127.0.0.1"


def port_number(text: str) -> int:
    """A TCP port number, 1..65535 (an argparse type)."""
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number in 1..65535, got {value}")
    return value


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """``--port``, ``--address`` and ``--show``: where and how the dashboard is served."""
    parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"interface to listen on (default {DEFAULT_ADDRESS}: this machine only)",
    )
    parser.add_argument("--show", action="store_true", help="open the page in a web browser")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="explore a run in the dashboard",
        description="Serve the interactive dashboard of a run directory (default: the bundled "
        "demo run): influence histogram, UMAP map, stratum coverage, redundancy, exports.",
    )
    parser.add_argument(
        "run_dir",
        nargs="?",
        metavar="RUN_DIR",
        help="run directory, or a folder holding runs to choose from (default: the demo run)",
    )
    add_server_options(parser)
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="folder whose runs may be opened with ?run=PATH (default: RUN_DIR itself)",
    )
    parser.add_argument(
        "--origin",
        action="append",
        metavar="HOST:PORT",
        help="a host:port browsers use to reach this server besides its address (repeatable; "
        "requests for any other host are refused)",
    )
    parser.add_argument(
        "--no-umap",
        dest="umap",
        action="store_false",
        help="do not compute a UMAP map (PCA is shown unless a UMAP map is cached)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.app.catalog import find_runs
    from biocoreset_viz.app.server import check_served_runs, network_warning, serve

    default_run, root = check_served_runs(args.run_dir, args.root)
    host = f"[{args.address}]" if ":" in args.address else args.address
    warning = network_warning(args.address)
    if warning:
        print(f"biocoreset serve: warning: {warning}", file=sys.stderr, flush=True)
    what = default_run if default_run is not None else f"{len(find_runs(root))} runs in {root}"

    def announce() -> None:
        print(f"biocoreset serve: {what} at http://{host}:{args.port}/ (Ctrl-C stops)", flush=True)

    serve(
        default_run,
        root=root,
        port=args.port,
        address=args.address,
        show=args.show,
        umap=args.umap,
        origins=args.origin,
        announce=announce,
    )
    return 0

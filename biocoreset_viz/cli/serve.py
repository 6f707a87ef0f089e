"""``biocoreset serve [RUN_DIR]``: the dashboard in a web browser, offline.

Example::

    biocoreset serve runs/rna --port 5006 --show

Binds to 127.0.0.1 unless ``--address`` says otherwise; every JavaScript and CSS
file is served locally. Without RUN_DIR it opens the bundled demo run. Runs
under ``--root DIR`` can be opened with ``http://HOST:PORT/?run=RELATIVE/PATH``.
"""

from __future__ import annotations

import argparse


def port_number(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number in 1..65535, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="explore a run in the dashboard",
        description="Serve the interactive dashboard of a run directory (default: the bundled "
        "demo run): influence histogram, UMAP map, stratum coverage, redundancy, exports.",
    )
    parser.add_argument(
        "run_dir", nargs="?", metavar="RUN_DIR", help="run directory (default: the demo run)"
    )
    parser.add_argument("--port", type=port_number, default=5006, help="port (default 5006)")
    parser.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="folder whose runs may be opened with ?run=PATH (default: RUN_DIR itself)",
    )
    parser.add_argument(
        "--origin",
        action="append",
        metavar="HOST:PORT",
        help="extra host:port a browser may connect from (when serving on another address)",
    )
    parser.add_argument("--show", action="store_true", help="open the page in a web browser")
    parser.add_argument(
        "--no-umap",
        dest="umap",
        action="store_false",
        help="do not compute a UMAP map (PCA is shown unless a UMAP map is cached)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.app.server import check_served_runs, serve

    default_run, root = check_served_runs(args.run_dir, args.root)
    host = f"[{args.address}]" if ":" in args.address else args.address
    print(
        f"biocoreset serve: {default_run} at http://{host}:{args.port}/ (Ctrl-C stops)", flush=True
    )
    serve(
        default_run,
        root=root,
        port=args.port,
        address=args.address,
        show=args.show,
        umap=args.umap,
        origins=args.origin,
    )
    return 0

"""The server answers only requests for its own address (DNS rebinding), checked raw.

A served ``biocoreset serve`` (a subprocess) is asked for its page and its
websocket with forged ``Host``, ``Origin`` and ``Sec-Fetch-Site`` headers, with
urllib and the ``websocket-client`` package (no browser sends such requests on
purpose; a rebound DNS name makes one send them). Before, Tornado accepted a
websocket whose ``Origin`` equalled its ``Host``, or that said
``Sec-Fetch-Site: same-origin``, and ``GET /`` answered any ``Host``.
"""

from __future__ import annotations

import logging
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from support.app_runs import write_run
from support.browser import served as serve_run

from biocoreset_viz.app.hosts import HostCheck, allowed_hosts, machine_names
from biocoreset_viz.app.server import QuietClose, closed_tab, network_warning


def test_the_allowed_hosts_follow_the_bound_address_and_the_origins() -> None:
    assert allowed_hosts("127.0.0.1", 5006) == [
        "127.0.0.1:5006", "[::1]:5006", "localhost:5006",
    ]  # fmt: skip
    assert allowed_hosts("10.1.2.3", 80, ["lab.example", "http://proxy.example:8080/x"]) == [
        "10.1.2.3:80", "lab.example:80", "proxy.example:8080",
    ]  # fmt: skip
    everywhere = allowed_hosts("0.0.0.0", 5006)
    assert "localhost:5006" in everywhere and "0.0.0.0:5006" not in everywhere
    assert {f"{name}:5006" for name in machine_names() if ":" not in name} <= set(everywhere)


def test_the_host_check_refuses_other_hosts_and_origins() -> None:
    check = HostCheck(allowed_hosts("127.0.0.1", 5006))
    good = {"Host": "127.0.0.1:5006"}
    assert check.refusal(good) is None
    assert check.refusal({"Host": "LOCALHOST:5006"}) is None
    assert "evil.example:5006" in check.refusal({"Host": "evil.example:5006"})
    assert check.refusal({}) is not None  # no Host at all
    upgrade = {**good, "Upgrade": "websocket"}
    assert check.refusal({**upgrade, "Origin": "http://localhost:5006"}) is None
    assert check.refusal({**upgrade}) is None  # a non-browser client sends no Origin
    assert "Origin" in check.refusal({**upgrade, "Origin": "http://evil.example:5006"})


def test_another_address_than_loopback_is_warned_about() -> None:
    assert network_warning("127.0.0.1") is None and network_warning("localhost") is None
    assert "reachable from the network" in network_warning("0.0.0.0")
    assert "no login" in network_warning("192.168.1.5")


def test_a_closed_tab_is_one_quiet_line_not_a_traceback() -> None:
    from tornado.websocket import WebSocketClosedError

    try:
        raise WebSocketClosedError()
    except WebSocketClosedError:
        record = logging.LogRecord("tornado.application", logging.ERROR, __file__, 1,
                                   "Uncaught exception", (), sys.exc_info())  # fmt: skip
    assert QuietClose().filter(record)
    assert record.exc_info is None and record.levelno == logging.INFO
    assert record.getMessage() == "a browser tab closed its connection"
    assert not closed_tab(ValueError("a real problem"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``biocoreset serve`` on 127.0.0.1; yields its port and its log file."""
    root = tmp_path_factory.mktemp("hosts")
    with serve_run(write_run(root, n=60, projection=True), root, "--no-umap") as (url, log):
        yield urlsplit(url).port, log


def get(port: int, host: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def websocket_status(port: int, host: str, origin: str | None, fetch_site: str | None) -> int:
    """The HTTP status of a websocket handshake (101: opened)."""
    import websocket
    from bokeh.util.token import generate_jwt_token, generate_session_id

    token = generate_jwt_token(generate_session_id())  # unsigned sessions: any id will do
    headers = [f"Sec-Fetch-Site: {fetch_site}"] if fetch_site else []
    options = {"origin": origin} if origin else {"suppress_origin": True}
    try:
        connection = websocket.create_connection(
            f"ws://127.0.0.1:{port}/ws", host=host, subprotocols=["bokeh", token],
            header=headers, timeout=30, **options,
        )  # fmt: skip
    except websocket.WebSocketBadStatusException as error:
        return error.status_code
    connection.close()
    return 101


def test_the_page_is_served_only_for_the_servers_own_address(served) -> None:
    port, log_path = served
    assert get(port, f"127.0.0.1:{port}") == 200
    assert get(port, f"localhost:{port}") == 200
    assert get(port, f"evil.example:{port}") == 403  # a rebound DNS name
    assert get(port, "127.0.0.1:1") == 403
    assert f"Host 'evil.example:{port}' is not this server's address" in log_path.read_text()


@pytest.mark.parametrize(
    ("host", "origin", "fetch_site", "status"),
    [
        ("{own}", "http://{own}", None, 101),
        ("{own}", None, None, 101),  # a non-browser client
        ("evil.example:{port}", "http://evil.example:{port}", None, 403),  # Origin == Host
        ("evil.example:{port}", "http://evil.example:{port}", "same-origin", 403),
        ("{own}", "http://evil.example:{port}", None, 403),
        ("{own}", "http://evil.example:{port}", "same-origin", 403),
        ("{own}", "http://evil.example:{port}", "cross-site", 403),
    ],
)
def test_websockets_are_refused_unless_host_and_origin_are_the_servers(
    served, host, origin, fetch_site, status
) -> None:
    port, _ = served
    own = f"127.0.0.1:{port}"

    def fill(text: str | None) -> str | None:
        return None if text is None else text.format(own=own, port=port)

    assert websocket_status(port, fill(host), fill(origin), fetch_site) == status

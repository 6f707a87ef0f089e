"""Which requests the dashboard's server answers: the Host header and the websocket Origin.

Tornado accepts a websocket whose ``Origin`` equals its ``Host``, or that says
``Sec-Fetch-Site: same-origin``, before Bokeh's own origin list is consulted,
and answers ``GET /`` whatever the ``Host``. A page on ``evil.example`` whose
name is rebound to 127.0.0.1 (DNS rebinding) would then reach the dashboard as
its own origin. :class:`HostCheck` closes that: every request must name one of
the server's own addresses in ``Host`` (the bound address, ``localhost`` and
127.0.0.1 for loopback, this machine's names and addresses when bound to every
interface, and the ``--origin`` values), and a websocket's ``Origin``, when
sent, must name one of them too. Anything else gets ``403`` and one quiet line
in the log.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")
log = logging.getLogger("biocoreset_viz.app.hosts")
# distinct refused hosts logged at most (a scan must not fill the log)
_LOG_LIMIT = 50


def host_port(host: str, port: int) -> str:
    """``host:port`` as a ``Host`` header writes it (IPv6 addresses in brackets)."""
    host = host.lower().strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def machine_names() -> set[str]:
    """This machine's host names and addresses (best effort; never raises)."""
    names = {"localhost", "127.0.0.1", "::1"}
    try:
        hostname = socket.gethostname()
        names |= {hostname, socket.getfqdn()}
        for *_, address in socket.getaddrinfo(hostname, None):
            names.add(str(address[0]))
    except OSError:
        pass
    return {name.lower() for name in names if name}


def allowed_hosts(address: str, port: int, origins: Iterable[str] = ()) -> list[str]:
    """The ``host:port`` values requests may name (and websockets come from).

    Args:
        address: the address the server is bound to.
        port: its port.
        origins: extra ``host[:port]`` values (``--origin``), e.g. a name the
            machine is reached by; a value without a port gets ``port``.
    """
    names = {address.lower()}
    if address in LOOPBACK:
        names |= set(LOOPBACK)
    if address in WILDCARD:
        names |= machine_names()
    allowed = {host_port(name, port) for name in names if name not in WILDCARD}
    for origin in origins:
        value = origin.strip().lower()
        if "//" in value:  # a whole URL: its host and port
            value = urlsplit(value).netloc or value
        has_port = value.rsplit(":", 1)[-1].isdigit() and not value.endswith("]")
        allowed.add(value if has_port else host_port(value, port))
    return sorted(allowed)


class HostCheck:
    """Refuse requests whose ``Host`` (or websocket ``Origin``) is not one of ``allowed``.

    Args:
        allowed: ``host:port`` values (:func:`allowed_hosts`).
    """

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = {value.lower() for value in allowed}
        # a client may leave out port 80 (Bokeh's allowlist reads it that way too)
        self.allowed |= {value.removesuffix(":80") for value in self.allowed}
        self._logged: set[str] = set()

    def refusal(self, headers: Any) -> str | None:
        """Why a request with these headers is refused, or ``None`` when it is answered."""
        host = (headers.get("Host") or "").strip().lower()
        if host not in self.allowed:
            return f"Host {host!r} is not this server's address"
        if headers.get("Upgrade", "").lower() == "websocket":
            origin = headers.get("Origin")
            if origin is not None and urlsplit(origin.lower()).netloc not in self.allowed:
                return f"websocket Origin {origin!r} is not this server's address"
        return None

    def install(self, application: Any) -> None:
        """Check every request of a Tornado ``Application`` (a Bokeh server's ``_tornado``)."""
        from tornado.web import RequestHandler

        check = self
        original = application.find_handler

        class Refused(RequestHandler):
            def prepare(self) -> None:
                self.set_status(403)
                self.set_header("Content-Type", "text/plain; charset=utf-8")
                self.finish("403: this server answers only requests for its own address\n")

        def find_handler(request: Any, **kwargs: Any) -> Any:
            reason = check.refusal(request.headers)
            if reason is None:
                return original(request, **kwargs)
            check._log(reason, request)
            return application.get_handler_delegate(request, Refused)

        application.find_handler = find_handler

    def _log(self, reason: str, request: Any) -> None:
        if reason in self._logged or len(self._logged) >= _LOG_LIMIT:
            return
        self._logged.add(reason)
        log.warning("refused %s %s from %s: %s", request.method, request.path,
                    request.remote_ip, reason)  # fmt: skip

"""A local web server for a built site, on 127.0.0.1 only, with the headers that make the page cross-origin
isolated (so onnxruntime-web may use WebAssembly threads) and the content types the page needs."""

from __future__ import annotations

import errno
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from posenet_onnx.runtime.web.site import MANIFEST, is_site

HOST = "127.0.0.1"
# Cross-origin isolation: SharedArrayBuffer, and so WebAssembly threads, need both.
ISOLATION_HEADERS: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}


class _SiteHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".onnx": "application/octet-stream",
    }

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")  # a rebuilt site is seen on the next load
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        """Quiet: a page load is dozens of requests."""


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple) -> None:
        """A browser that drops a connection mid-file (a reload, a closed tab) is no error; any other failure of
        a request is one line on stderr, not the standard library's traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"a request from {client_address[0]} failed: {type(error).__name__}: {error}", file=sys.stderr)


def check_site(site: Path) -> None:
    """Refuse a folder that is not a built site."""
    if not site.is_dir():
        raise ValueError(f"The site folder {site} does not exist or is not a folder; build one with `posenet-onnx web -o {site}`.")
    if not is_site(site):
        raise ValueError(f"{site} is not a site `posenet-onnx web` built (no {MANIFEST}); build one with `posenet-onnx web -o {site}`.")


def site_server(site: Path, port: int) -> ThreadingHTTPServer:
    """A server of the site's files on 127.0.0.1:`port` (0: a free port), bound but not yet serving."""
    check_site(site)
    if not 0 <= port <= 65535:
        raise ValueError(f"Invalid port {port}; give 1 to 65535, or 0 for any free port.")
    handler = functools.partial(_SiteHandler, directory=str(site))
    try:
        server = _SiteServer((HOST, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"Port {port} on {HOST} is in use; choose another with --port (0: any free port).") from None
        if exc.errno == errno.EACCES:
            raise ValueError(f"Port {port} needs privileges; choose one above 1023 with --port (0: any free port).") from None
        raise
    return server


def address(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"

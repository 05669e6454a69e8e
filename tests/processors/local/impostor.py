"""Another program on a port the worker might use: it answers every request with 200 and a
JSON body, as the worker's probes and query endpoint would, so that only a check of the
worker's instance name tells the two apart."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator


class _Impostor(http.server.BaseHTTPRequestHandler):
    def _ok(self) -> None:
        body = json.dumps({"status": "alive", "columns": ["1"], "rows": [[1]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _ok

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def impostor(port: int = 0) -> Iterator[int]:
    """Serve as the impostor on ``port`` (0: a free one) for the block; yield the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()

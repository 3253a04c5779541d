"""A small HTTP file server for the remote-read tests, run as a subprocess (``python range_server.py DIR LOG``).

It honours single ``Range: bytes=a-b`` requests (206 with ``Content-Range``), answers
HEAD, and prints its port on the first line of stdout. Test hooks, by path:

- ``/cut/NAME``: the first GET of NAME stops after ``CUT_BYTES`` bytes (the connection is
  closed with the full ``Content-Length`` announced), later GETs are served normally;
- ``/redirect/HOST/NAME``: 302 to ``http://HOST:PORT/NAME`` (HOST e.g. ``localhost``, a
  different host name for the same server);
- ``/token/NAME``: 401 unless ``Authorization: Bearer secret``;
- ``/slow/NAME``: headers at once, then the body one byte every ``SLOW_SECONDS`` (a
  stalled provider: every read gets a byte, so a per-read timeout never fires);
  ``/slowdata/NAME`` likewise, but only for ranges that start after byte 0 (the header
  reads fast, the pixels trickle);
- ``/redirect-port/PORT/NAME``: 302 to ``http://127.0.0.1:PORT/NAME`` (another service on
  the same host);
- ``/FOLDER/``: an Apache-style index page of FOLDER (sorting links, a parent link, a link
  to another host, sub-folders and the files), like the providers' folders;
- ``/FOLDER.json``: the LAADS DAAC-style JSON listing of FOLDER (``[{"name", "size"}, …]``).

Every request is appended to LOG as a JSON line (path, host, range, authorization).
"""

from __future__ import annotations

import html
import json
import os
import sys
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

CUT_BYTES = 3000
SLOW_SECONDS = 0.5
ROOT, LOG = sys.argv[1], sys.argv[2]
_cut_done: set[str] = set()


class Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _log(self):
        with open(LOG, "a") as f:
            f.write(
                json.dumps(
                    {
                        "method": self.command,
                        "path": self.path,
                        "host": self.headers.get("Host"),
                        "range": self.headers.get("Range"),
                        "authorization": self.headers.get("Authorization"),
                    }
                )
                + "\n"
            )

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body: bool):
        self._log()
        path = self.path.split("?")[0]
        cut = slow = False
        if path.startswith("/redirect-port/"):
            port, _, rest = path[len("/redirect-port/") :].partition("/")
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{port}/{rest}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/redirect/"):
            host, _, rest = path[len("/redirect/") :].partition("/")
            self.send_response(302)
            self.send_header("Location", f"http://{host}:{self.server.server_port}/{rest}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/token/"):
            if self.headers.get("Authorization") != "Bearer secret":
                self.send_error(401)
                return
            path = "/" + path[len("/token/") :]
        if path.startswith(("/slow/", "/slowdata/")):
            hook, _, rest = path[1:].partition("/")
            path, slow = (
                "/" + rest,
                body and (hook == "slow" or not (self.headers.get("Range") or "").startswith("bytes=0-")),
            )
        if path.startswith("/cut/"):
            path = "/" + path[len("/cut/") :]
            cut = body and path not in _cut_done
            _cut_done.add(path)
        file = os.path.join(ROOT, path.lstrip("/"))
        if path.endswith("/") and os.path.isdir(file):
            data = _index_page(file, self.server.server_port).encode()
        elif path.endswith(".json") and not os.path.isfile(file) and os.path.isdir(file[: -len(".json")]):
            data = _json_listing(file[: -len(".json")]).encode()
        elif os.path.isfile(file):
            data = open(file, "rb").read()
        else:
            self.send_error(404)
            return
        start, end = 0, len(data) - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[len("bytes=") :].partition("-")
            start = int(a) if a else len(data) - int(b)
            end = min(int(b), len(data) - 1) if a and b else len(data) - 1
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if not body:
            return
        chunk = data[start : end + 1]
        if slow:
            for i in range(len(chunk)):
                try:
                    self.wfile.write(chunk[i : i + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return
                time.sleep(SLOW_SECONDS)
            return
        if cut:
            self.wfile.write(chunk[:CUT_BYTES])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(chunk)


def _index_page(folder: str, port: int) -> str:
    """An Apache autoindex-like page: the links a real provider's folder page has besides the files."""
    links = [
        '<a href="?C=N;O=D">Name</a>',
        '<a href="?C=M;O=A">Last modified</a>',
        '<a href="../">Parent Directory</a>',
    ]
    links.append(f'<a href="http://localhost:{port}/elsewhere/decoy.tif">decoy on another host</a>')
    for name in sorted(os.listdir(folder)):
        slash = "/" if os.path.isdir(os.path.join(folder, name)) else ""
        links.append(f'<a href="{quote(name)}{slash}">{html.escape(name)}{slash}</a>')
    return "<html><body><h1>Index</h1><pre>" + "\n".join(links) + "</pre></body></html>"


def _json_listing(folder: str) -> str:
    names = sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))
    return json.dumps([{"name": n, "size": os.path.getsize(os.path.join(folder, n))} for n in names])


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_port, flush=True)
    server.serve_forever()

# `tinyml ota serve DIR [--host H] [--port N] [--rate BYTES_PER_S]`: serves the bundles in DIR over
# HTTP for boards that pull their updates (device_lib/tinyml/ota_pull.py). GET with a byte range
# ("Range: bytes=a-b", answered 206) is what lets a board resume a download cut off midway; HEAD
# too. Only files directly in DIR whose names end in .bundle are served. Each request is logged on
# stderr as one line: `GET /name.bundle bytes a-b -> status, n bytes`.
import http.server
import pathlib
import re
import sys
import threading
import time

from tinyml_host.ota.errors import OtaError

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "tinyml-ota/1"
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # the request lines are ours (see _log)
        pass

    def _log(self, what, status, n):
        line = "%s %s %s -> %d, %d bytes" % (self.command, self.path, what, status, n)
        self.server.log.append(line)
        print(line, file=sys.stderr, flush=True)

    def _file(self):
        name = self.path.split("?", 1)[0].lstrip("/")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.bundle", name):
            return None
        path = self.server.root / name
        return path if path.is_file() else None

    def do_HEAD(self):
        self.do_GET(body=False)

    def do_GET(self, body=True):
        path = self._file()
        if path is None:
            self.send_error(404, "no such bundle")
            self._log("-", 404, 0)
            return
        size = path.stat().st_size
        first, last, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = _RANGE.match(rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                self.send_error(416, "bad range")
                self._log(rng, 416, 0)
                return
            if m.group(1):
                first = int(m.group(1))
                last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:  # the last n bytes
                first = max(0, size - int(m.group(2)))
            if first > last or first >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.end_headers()
                self._log(rng, 416, 0)
                return
            status = 206
        n = last - first + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
        self.end_headers()
        sent = 0
        if body:
            rate = self.server.rate
            t0 = time.monotonic()
            try:
                with open(path, "rb") as f:
                    f.seek(first)
                    while sent < n:
                        chunk = f.read(min(4096 if not rate else max(256, rate // 20), n - sent))
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if rate:  # pace the bytes as a slow link would
                            ahead = sent / rate - (time.monotonic() - t0)
                            if ahead > 0:
                                time.sleep(ahead)
            except (BrokenPipeError, ConnectionResetError):
                pass
        self._log("bytes %d-%d" % (first, last) if rng else "whole", status, sent)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root, host="0.0.0.0", port=8266, rate=None):
        self.root = pathlib.Path(root).resolve()
        if not self.root.is_dir():
            raise OtaError("%s is not a folder of bundles" % root)
        self.rate = rate
        self.log = []
        try:
            super().__init__((host, port), _Handler)
        except OSError as e:
            raise OtaError("cannot listen on %s:%d (%s)" % (host, port, e.strerror),
                           fix="choose another --port") from None

    def start(self):
        """Serves in a background thread; returns the server."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def serve(root, host="0.0.0.0", port=8266, rate=None):
    srv = Server(root, host, port, rate)
    names = sorted(p.name for p in srv.root.glob("*.bundle"))
    print("serving %d bundle%s from %s on http://%s:%d/ (%s)%s" % (
        len(names), "" if len(names) == 1 else "s", srv.root, host, srv.server_address[1], ", ".join(names) or "none yet",
        "; %d bytes/s per connection" % rate if rate else ""), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


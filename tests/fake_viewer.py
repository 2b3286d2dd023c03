"""A local imitation of the Legacy Survey viewer's ``jpeg-cutout`` service, with faults.

It answers ``GET /viewer/jpeg-cutout?ra=RA&dec=DEC&zoom=15&layer=LAYER`` on 127.0.0.1 with a
deterministic 256 x 256 RGB JPEG made from (ra, dec, layer), so that tests and the
benchmark exercise a real HTTP client against a real server without leaving the machine.

Faults are planned per position: ``faults={(ra, dec): ["503", "429", "ok"]}`` answers the
first request for that position with a 503, the second with a 429 (``Retry-After``), and
every later one normally; the last entry of a plan repeats, so ``["blank"]`` is blank
forever and ``["500"]`` always fails.  ``default_faults`` applies to unlisted positions.

Faults: ``ok``, any HTTP status as digits (``500``, ``503``, ``404``, ...: an HTML error
page), ``429`` (with ``Retry-After``), ``slow`` (answers after ``slow_seconds``, meant to
exceed the client's timeout), ``truncated`` (announces the full length, sends half, closes),
``truncated_jpeg`` (a complete HTTP answer whose JPEG is cut short), ``html`` (an HTML error
page with status 200), ``html_as_jpeg`` (the same, labelled image/jpeg), ``empty`` (200 with
no body), ``blank`` (a constant black JPEG, as off the survey footprint), ``wrong_size``
(a 128 x 128 JPEG), ``drop`` (closes the connection without answering), ``redirect``
(a 302 to the same position, whose next request gets the next fault of the plan).

Use it as a context manager (``with FakeViewer(latency=0.2) as viewer: viewer.base_url``)
or as a program (``python tests/fake_viewer.py --latency 0.2``), which prints the base URL
on its first line and stops by itself after ``--max-seconds``.
"""

import argparse
import functools
import hashlib
import io
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

PATH = "/viewer/jpeg-cutout"
#: GET this path for the JSON list of the receive times (time.monotonic()) of all requests.
LOG_PATH = "/_log"
LAYERS = ("des-dr1", "hsc2", "ls-dr10")


def position_key(ra, dec):
    """The key of a position in fault plans and request counts."""
    return (round(float(ra), 7), round(float(dec), 7))


@functools.lru_cache(maxsize=1)
def _sky(pixels):
    """A fixed field of sky noise; each cutout takes a shifted copy (cheap and distinct)."""
    return np.random.default_rng(12345).normal(0, 6, (2 * pixels, 2 * pixels, 3))


# enough for the benchmark's longest run (bench_download.py --max-n 10000, ~50 kB each):
# a smaller cache would make it time this server's JPEG encoder instead of the client
@functools.lru_cache(maxsize=16384)
def cutout_jpeg(ra, dec, layer="des-dr1", pixels=256):
    """A deterministic JPEG for (ra, dec, layer): sky noise, a faint galaxy-like blob and a
    bright neighbour, all drawn from a generator seeded by the position."""
    seed = int.from_bytes(hashlib.sha256(f"{ra:.7f},{dec:.7f},{layer}".encode()).digest()[:8],
                          "little")
    rng = np.random.default_rng(seed)
    ox, oy = rng.integers(0, pixels, 2)
    img = 25 + _sky(pixels)[oy:oy + pixels, ox:ox + pixels]
    axis = np.arange(pixels, dtype=float)

    def gaussian(cx, cy, sigma):  # separable: two 1-D profiles and an outer product
        return np.outer(np.exp(-(axis - cy) ** 2 / (2 * sigma ** 2)),
                        np.exp(-(axis - cx) ** 2 / (2 * sigma ** 2)))

    cx, cy = pixels / 2 + rng.normal(0, 4, 2)
    img = img + (rng.uniform(20, 90) * gaussian(cx, cy, rng.uniform(6, 20)))[..., None] \
        * rng.uniform(0.6, 1.2, 3)
    sx, sy = rng.uniform(0, pixels, 2)
    img = img + 120 * gaussian(sx, sy, 3.0)[..., None]
    return _encode(np.clip(img, 0, 255).astype(np.uint8))


def _encode(array, quality=90):
    buf = io.BytesIO()
    Image.fromarray(array, "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@functools.lru_cache(maxsize=4)
def _constant_jpeg(pixels, value=0):
    return _encode(np.full((pixels, pixels, 3), value, np.uint8))


def _html(status, text):
    return (f"<!DOCTYPE html><html><head><title>{status} {text}</title></head>"
            f"<body><h1>{text}</h1><p>The viewer is unhappy.</p></body></html>").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real service
    timeout = 5  # an idle keep-alive connection closes itself
    # Headers and body go out in separate writes; with Nagle's algorithm the body would
    # wait for the client's delayed ACK (~40 ms a request), which the real service does not.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body, ctype, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        viewer = self.server.viewer
        parts = urlsplit(self.path)
        if parts.path == LOG_PATH:  # the receive times, for benchmarks in another process
            with viewer._lock:
                times = [r[0] for r in viewer.requests]
            return self._send(200, json.dumps(times).encode(), "application/json")
        if parts.path != PATH:
            return self._send(404, _html(404, "Not Found"), "text/html")
        q = parse_qs(parts.query)
        try:
            ra, dec = float(q["ra"][0]), float(q["dec"][0])
            zoom, layer = int(q["zoom"][0]), q["layer"][0]
        except (KeyError, ValueError, IndexError):
            return self._send(400, _html(400, "Bad Request"), "text/html")
        if layer not in LAYERS:
            return self._send(400, _html(400, f"Unknown layer {layer}"), "text/html")
        fault = viewer._next_fault(ra, dec, layer, zoom)
        start = time.monotonic()
        viewer._gauge(+1)
        try:
            if viewer.latency:
                time.sleep(viewer.latency)
            self._answer(fault, ra, dec, layer)
        finally:
            viewer._gauge(-1, start)

    def _answer(self, fault, ra, dec, layer):
        viewer = self.server.viewer
        pixels = viewer.pixels
        if fault == "ok":
            return self._send(200, cutout_jpeg(ra, dec, layer, pixels), "image/jpeg")
        if fault == "slow":
            time.sleep(viewer.slow_seconds)
            return self._send(200, cutout_jpeg(ra, dec, layer, pixels), "image/jpeg")
        if fault == "429":
            return self._send(429, _html(429, "Too Many Requests"), "text/html",
                              [("Retry-After", str(viewer.retry_after))])
        if fault.isdigit():
            return self._send(int(fault), _html(fault, "Server Error"), "text/html")
        if fault == "truncated":
            body = cutout_jpeg(ra, dec, layer, pixels)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        if fault == "truncated_jpeg":
            body = cutout_jpeg(ra, dec, layer, pixels)
            return self._send(200, body[:int(len(body) * 0.6)], "image/jpeg")
        if fault == "html":
            return self._send(200, _html(200, "Internal error, please retry"), "text/html")
        if fault == "html_as_jpeg":
            return self._send(200, _html(200, "Internal error, please retry"), "image/jpeg")
        if fault == "empty":
            return self._send(200, b"", "image/jpeg")
        if fault == "blank":
            return self._send(200, _constant_jpeg(pixels), "image/jpeg")
        if fault == "wrong_size":
            return self._send(200, _constant_jpeg(pixels // 2, 90), "image/jpeg")
        if fault == "drop":
            self.close_connection = True
            return None
        if fault == "redirect":  # a request of its own at the server, as any other
            return self._send(302, b"", "text/html",
                              [("Location", f"{self.path}&redirected=1")])
        raise ValueError(f"unknown fault {fault!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that timed out or was killed leaves a broken pipe behind: expected here.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FakeViewer:
    """A threaded HTTP server on 127.0.0.1 that imitates the viewer's cutout service.

    Parameters
    ----------
    faults : dict, optional
        ``{(ra, dec): [fault, ...]}``; the last fault of a list repeats.
    default_faults : list of str, optional
        The plan of positions not in ``faults`` (default: always ``ok``).
    latency : float, optional
        Seconds added before every answer (the benchmark uses 0.2).
    retry_after : int, optional
        ``Retry-After`` seconds sent with 429.
    slow_seconds : float, optional
        Delay of the ``slow`` fault.
    pixels : int, optional
        Side of the cutouts (the viewer: 256).
    """

    def __init__(self, *, faults=None, default_faults=("ok",), latency=0.0, retry_after=1,
                 slow_seconds=1.5, pixels=256, port=0):
        self.faults = {position_key(*k): list(v) for k, v in (faults or {}).items()}
        self.default_faults = list(default_faults)
        self.latency = float(latency)
        self.retry_after = int(retry_after)
        self.slow_seconds = float(slow_seconds)
        self.pixels = int(pixels)
        self.requests = []  # (time, ra, dec, layer, zoom, fault) per request
        self.spans = []  # (start, end) of every answer, for concurrency measures
        self._counts = {}
        self.active = 0  # requests being answered now
        self.max_active = 0  # the most answered at once
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.viewer = self
        self._thread = None

    @property
    def base_url(self):
        """The service URL to pass to the client."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def _next_fault(self, ra, dec, layer, zoom):
        key = position_key(ra, dec)
        with self._lock:
            n = self._counts.get(key, 0)
            self._counts[key] = n + 1
            plan = self.faults.get(key, self.default_faults)
            fault = plan[min(n, len(plan) - 1)]
            self.requests.append((time.monotonic(), key[0], key[1], layer, zoom, fault))
        return fault

    def _gauge(self, step, start=None):
        with self._lock:
            self.active += step
            self.max_active = max(self.max_active, self.active)
            if start is not None:
                self.spans.append((start, time.monotonic()))

    def count(self, ra, dec):
        """Number of requests received for a position."""
        with self._lock:
            return self._counts.get(position_key(ra, dec), 0)

    def requested_positions(self):
        """Set of position keys requested so far."""
        with self._lock:
            return set(self._counts)

    def reset_log(self):
        """Forget the requests received so far (fault plans restart too)."""
        with self._lock:
            self.requests.clear()
            self.spans.clear()
            self._counts.clear()
            self.max_active = self.active

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    """Serve until ``--max-seconds`` have passed (or the process is stopped)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=600.0)
    args = p.parse_args(argv)
    with FakeViewer(latency=args.latency, port=args.port) as viewer:
        print(viewer.base_url, flush=True)
        deadline = time.monotonic() + args.max_seconds
        while time.monotonic() < deadline:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

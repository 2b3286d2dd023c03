"""Benchmark: the paper's serial download pattern against deepshadows_lib.cutouts.

Both fetch the same positions from the same local imitation of the Legacy Survey viewer
(tests/fake_viewer.py, run in its own process) with ``--latency`` seconds (default 0.2)
added to every answer, as a distant service would.  The serial pattern is the original
File_Creation notebook's loop (``urlretrieve`` one URL at a time, then ``Image.open``,
``resize((64, 64))`` and ``np.asarray``); it is timed on ``--serial-n`` objects and
extrapolated to ``--n``, since it costs ``latency`` per object by construction.  The new
client fetches all ``--n`` objects into a store (timed end to end: catalog, fetch,
validation, staging, store and status table).  The images of both must be identical.

Prints the numbers as JSON (and writes them to ``--out`` if given); the goal is a ratio of
at least 30.

    python bench/bench_download.py [--n 200] [--serial-n 40] [--workers 100] [--out FILE]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
GOAL = 30.0


def _start_server(latency, max_seconds):
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_viewer.py"),
                             "--latency", str(latency), "--max-seconds", str(max_seconds)],
                            stdout=subprocess.PIPE, text=True)
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"fake viewer did not start (said {base_url!r})")
    return proc, base_url


def serial_pattern(positions, base_url, workdir):
    """The original notebook's loop: one ``urlretrieve`` at a time, no retry, no resume."""
    from PIL import Image
    images = []
    for ra, dec in positions:
        url = f"{base_url}?ra={ra}&dec={dec}&zoom=15&layer=des-dr1"
        path = Path(workdir) / "cutout.jpeg"
        urllib.request.urlretrieve(url, path)
        img = Image.open(path)
        images.append(np.asarray(img.resize((64, 64))))
    return np.stack(images)


def run(*, n=200, serial_n=40, latency=0.2, workers=100, rate=1000.0, seed=0):
    """Run both patterns; return the numbers as a dict."""
    from deepshadows_lib import cutouts
    rng = np.random.default_rng(seed)
    cat = pd.DataFrame({"ra": rng.uniform(0, 360, n).round(6),
                        "dec": rng.uniform(-65, 5, n).round(6)})
    proc, base_url = _start_server(latency, max_seconds=600)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # Warm the server's JPEG cache for every position, without added latency to
            # the timed runs: both patterns then see the same service.
            cutouts.download(cat, Path(tmp) / "warm", base_url=base_url, workers=workers,
                             rate=None, progress=False)
            serial_n = min(serial_n, n)
            t0 = time.perf_counter()
            serial = serial_pattern(cat[["ra", "dec"]].to_numpy()[:serial_n], base_url, tmp)
            serial_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary = cutouts.download(cat, Path(tmp) / "store", base_url=base_url,
                                       workers=workers, rate=rate, progress=False)
            client_s = time.perf_counter() - t0
            images, _ = cutouts.open_store(Path(tmp) / "store")
            same = bool(np.array_equal(images[:serial_n], serial))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    per_object = serial_s / serial_n
    ratio = per_object * n / client_s
    return {"benchmark": "download", "n": n, "latency_s": latency, "serial_n": serial_n,
            "serial_seconds": round(serial_s, 3),
            "serial_seconds_per_object": round(per_object, 4),
            "serial_extrapolated_seconds": round(per_object * n, 2),
            "client_seconds": round(client_s, 3), "client_workers": workers,
            "client_rate_limit": rate, "client_ok": summary.ok,
            "client_objects_per_second": round(n / client_s, 1),
            "ratio": round(ratio, 1), "goal_ratio": GOAL, "meets_goal": ratio >= GOAL,
            "identical_images": same}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="objects fetched by the client")
    p.add_argument("--serial-n", type=int, default=40,
                   help="objects fetched by the serial pattern (extrapolated to --n)")
    p.add_argument("--latency", type=float, default=0.2, help="seconds added per request")
    p.add_argument("--workers", type=int, default=100)
    p.add_argument("--rate", type=float, default=1000.0, help="client rate limit (requests/s)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    result = run(n=args.n, serial_n=args.serial_n, latency=args.latency,
                 workers=args.workers, rate=args.rate)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if result["meets_goal"] and result["identical_images"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the synthetic survey: cutouts per second, serial and parallel.

Run: ``.venv/bin/python bench/bench_simulate.py [--n-per-class N] [--workers W]``.
Prints rates measured in this run (not a test; timings depend on the machine's load).
"""

import argparse
import os
import tempfile
import time

from deepshadows_lib import simulate


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-per-class", type=int, default=500)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    # warm the caches (catalogs, GalSim Sersic tables) before timing the serial route
    simulate.simulate_objects(n_per_class=20, seed=99)
    n_serial = max(20, args.n_per_class // 5)
    t = time.perf_counter()
    _, cat = simulate.simulate_objects(n_per_class=n_serial, seed=1)
    serial = len(cat) / (time.perf_counter() - t)
    print(f"serial, 1 process:        {serial:7.1f} cutouts/s "
          f"(mean redraws per object {cat.true_attempts.mean():.2f})")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        store = simulate.simulate_survey(f"{tmp}/s", n_per_class=args.n_per_class, seed=2,
                                         workers=args.workers, chunk_size=512,
                                         progress=False)
        par = len(store) / (time.perf_counter() - t)
    print(f"store, {args.workers} workers:          {par:7.1f} cutouts/s "
          f"(speed-up {par / serial:.2f}x; target 500/s on 2 cores)")
    print(f"paper-size 60,000 objects at this rate: {60000 / par / 60:.1f} min")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

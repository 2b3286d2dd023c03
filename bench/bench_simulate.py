"""Benchmark of the synthetic survey: cutouts per second, before/after, 1 and W workers.

Run: ``.venv/bin/python bench/bench_simulate.py [--n-per-class N] [--workers 1,2]
[--baseline REV|none] [--paper-size]``.

Each measurement runs ``simulate.simulate_survey`` (process pool start-up, rendering,
measuring, the store's chunk writes: what a user waits for) in a fresh Python process,
after a short warm-up (imports, catalogs, GalSim tables).  With ``--baseline REV`` the
same measurement also runs on the library as committed at git revision ``REV``
(extracted read-only with ``git archive`` into a temporary directory), interleaved
with the current tree, and the ratios are printed: the machine may be shared, so only
rates measured in one run are compared.  Not a test; timings depend on the load.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# runs in a fresh interpreter whose sys.path starts with the library to time
_CHILD = r"""
import json, os, resource, sys, tempfile, time
from deepshadows_lib import simulate


def cpu():
    # this process and its (finished) worker processes: user + system seconds
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


n, workers, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
classes = tuple(sys.argv[4].split(","))
simulate.simulate_objects(n_per_class=4, seed=99)          # warm caches, not timed
with tempfile.TemporaryDirectory() as tmp:
    cpu0 = cpu()
    t0 = time.perf_counter()
    store = simulate.simulate_survey(f"{tmp}/s", n_per_class=n, seed=seed, workers=workers,
                                     classes=classes, progress=False)
    wall = time.perf_counter() - t0
    cat = store.catalog if hasattr(store, "catalog") else None
    if cat is None:
        from deepshadows_lib.store import open_store
        cat = open_store(f"{tmp}/s")[1]
    att = {c: float(v) for c, v in cat.groupby("class_name")["true_attempts"].mean().items()}
print(json.dumps({"n": len(cat), "wall": wall, "cpu": cpu() - cpu0,
                  "attempts": att, "version": simulate.GENERATOR_VERSION,
                  "load": os.getloadavg()[0]}))
"""


def _run(libdir, n, workers, seed, classes="lsbg,artifact2"):
    env = dict(os.environ, PYTHONPATH=str(libdir))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(workers), str(seed),
                          classes],
                         env=env, capture_output=True, text=True, check=True, cwd=libdir)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _extract(rev, dest):
    """The library as committed at ``rev`` (plus the data it reads), without touching git state."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "deepshadows_lib"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    data = ROOT / "Datasets"
    if data.exists():
        (Path(dest) / "Datasets").symlink_to(data)
    return Path(dest)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-class", type=int, default=2500,
                    help="objects per class (lsbg, artifact2); a few thousand in all, so "
                         "that the pool's start-up does not dominate")
    ap.add_argument("--workers", default=f"1,{os.cpu_count()}",
                    help="comma-separated worker counts (1 = in-process)")
    ap.add_argument("--baseline", default="HEAD",
                    help="git revision to compare with, or 'none'")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repetitions")
    ap.add_argument("--paper-size", action="store_true",
                    help="also time the paper-size set: 20,000 objects in each of the "
                         "three classes (60,000), on all cores, as `deepshadows simulate`")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        libs = {"current": ROOT}
        if args.baseline.lower() != "none":
            libs = {f"baseline {args.baseline}": _extract(args.baseline, tmp), **libs}
        rates, cpus = {}, {}
        for rep in range(args.repeat):
            for w in workers:
                for name, lib in libs.items():
                    r = _run(lib, args.n_per_class, w, seed=2 + rep)
                    rate = r["n"] / r["wall"]
                    cpu_ms = 1e3 * r["cpu"] / r["n"]
                    rates.setdefault((name, w), []).append(rate)
                    cpus.setdefault(name, []).append(cpu_ms)
                    att = ", ".join(f"{c} {a:.2f}" for c, a in sorted(r["attempts"].items()))
                    print(f"{name:16s} v{r['version']:5s} workers={w}: {rate:7.1f} cutouts/s, "
                          f"{cpu_ms:.2f} CPU-ms/cutout ({r['n']} in {r['wall']:.1f} s; "
                          f"attempts per object: {att}; load {r['load']:.1f})", flush=True)
    print("\nsummary (best of the repetitions; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for w in workers:
        cur = max(rates[("current", w)])
        line = f"  workers={w}: current {cur:7.1f} cutouts/s"
        for name in libs:
            if name != "current":
                base = max(rates[(name, w)])
                line += f", {name} {base:7.1f} cutouts/s, speed-up {cur / base:.2f}x"
        print(line)
    # CPU time per cutout is much less sensitive to other users of a shared machine
    # than wall-clock rates: 2 / (CPU s per cutout) is the rate 2 idle cores would give
    # with perfect scaling
    for name in libs:
        c = min(cpus[name])
        line = (f"  CPU per cutout, {name}: {c:.2f} ms (best run) -> "
                f"{2000 / c:.0f} cutouts/s on 2 idle cores at perfect scaling")
        if name != "current":
            line += f"; CPU speed-up of current {c / min(cpus['current']):.2f}x"
        print(line)
    best = max(max(v) for k, v in rates.items() if k[0] == "current")
    print(f"  target 1,000 cutouts/s on 2 cores; paper-size 60,000 objects at {best:.0f}/s: "
          f"{60000 / best / 60:.1f} min")
    result = {"n_per_class": args.n_per_class, "classes": "lsbg,artifact2",
              "cores": os.cpu_count(), "target_cutouts_per_s": 1000,
              "cutouts_per_s": {f"{name} workers={w}": round(max(v), 1)
                                for (name, w), v in rates.items()},
              "cpu_ms_per_cutout": {name: round(min(v), 3) for name, v in cpus.items()}}
    if args.paper_size:
        w = os.cpu_count()
        r = _run(ROOT, 20000, w, seed=1, classes="lsbg,artifact2,artifact1")
        result["paper_size"] = {"objects": r["n"], "workers": w, "wall_s": round(r["wall"], 1),
                                "cutouts_per_s": round(r["n"] / r["wall"], 1),
                                "cpu_ms_per_cutout": round(1e3 * r["cpu"] / r["n"], 3),
                                "attempts_per_object": r["attempts"], "load": r["load"]}
        print(f"  paper-size set: {r['n']} objects in {r['wall']:.1f} s "
              f"({r['n'] / r['wall']:.0f} cutouts/s, workers={w})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

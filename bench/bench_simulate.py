"""Benchmark of the synthetic survey: cutouts per second, before/after, 1 and W workers.

Run: ``.venv/bin/python bench/bench_simulate.py [--n-per-class N] [--workers 1,2]
[--baseline REV|none] [--paper-size] [--breakdown]``.

Each measurement runs ``simulate.simulate_survey`` (process pool start-up, rendering,
measuring, the store's chunk writes: what a user waits for) in a fresh Python process,
after a short warm-up (imports, catalogs, GalSim tables).  With ``--baseline REV`` the
same measurement also runs on the library as committed at git revision ``REV``
(extracted read-only with ``git archive`` into a temporary directory), interleaved
with the current tree, and the ratios are printed: the machine may be shared, so only
rates measured in one run are compared.  With ``--breakdown`` the current tree's CPU
time per cutout is also split by stage (``bench/_simulate_stages.py``: the library's
stage functions timed by wrappers in a child process, one worker, the paper-size set's
three classes), with the time spent on attempts that the catalog cuts rejected and the
rate that rendering and sep's detection alone would allow.  Not a test; timings depend
on the load.
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


#: cutouts per second that the issue asks for on the 2-core machine
TARGET = 1000

#: the breakdown's rows: stage key -> label (sub-stages are indented under their stage)
STAGE_LABELS = {
    "draw": "parameter draws and pre-screen (population.draw_params)",
    "prescreen": "  of which pre-screen rules (prescreen._likely_passes)",
    "render": "rendering (render.render_scene)",
    "sersic": "  of which GalSim Sersic drawing (render._draw_sersic)",
    "psf": "  of which PSF convolution (render._convolve_psf)",
    "compact_stamps": "  of which field stars and galaxies (render._compact_stamps)",
    "stamp_add": "  of which their scatter-add (render._stamp_add)",
    "bright_star": "  of which bright stars (render._draw_bright_star)",
    "cirrus": "  of which cirrus (render._draw_cirrus)",
    "noise": "sky noise (rng.standard_normal, scene + noise)",
    "sep_extract": "sep.extract (detection, deblending) in photometry.measure",
    "measure_rest": "rest of photometry.measure",
    "sep_kron_sum": "  of which sep.kron_radius and sep.sum_ellipse",
    "cuts": "catalog cuts (photometry.passes_cuts)",
    "cutout": "colour cutout (cutout._cutout)",
    "saturate": "  of which saturation and bleed trails (cutout._saturate)",
    "to_rgb": "  of which sdss_rgb colour mapping (cutout.to_rgb)",
    "jpeg": "  of which JPEG round trip (cutout._jpeg)",
    "rows": "catalog rows",
    "batch_other": "rest of objects._simulate_batch (streams, bookkeeping)",
    "frame": "catalog frames (survey._to_frame)",
    "store_writes": "store chunk writes (zarr images, Parquet parts)",
    "finalize": "store finalize (Parquet catalog, content hash)",
    "outside_other": "other (order, store set-up, concatenation)",
}

#: stage -> its sub-stages, in the order of the table
SUBSTAGES = {"draw": ("prescreen",),
             "render": ("sersic", "psf", "compact_stamps", "stamp_add", "bright_star",
                        "cirrus"),
             "measure_rest": ("sep_kron_sum",), "cutout": ("saturate", "to_rgb", "jpeg")}


def _breakdown(n, seed, classes, cores):
    """The stage breakdown of the current tree (bench/_simulate_stages.py in a child)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "_simulate_stages.py"), str(n),
                          str(seed), classes], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    n_obj, total = r["objects"], r["timed_cpu_ns"]

    def ms(ns):
        return round(ns / n_obj / 1e6, 4)

    rows = []
    for stage, ns in r["stage_ns"].items():
        rows.append({"stage": stage, "label": STAGE_LABELS[stage], "ms_per_cutout": ms(ns),
                     "share": round(ns / total, 4)})
        for sub in SUBSTAGES.get(stage, ()):
            sub_ns = r["sub_ns"].get(sub, 0)
            rows.append({"stage": sub, "label": STAGE_LABELS[sub], "of": stage,
                         "ms_per_cutout": ms(sub_ns), "share": round(sub_ns / total, 4)})
    per_class = {}
    for c, v in r["per_class"].items():
        per_class[c] = {"objects": v["objects"],
                        "attempts_per_object": round(v["attempts"] / v["objects"], 3),
                        "rejected_attempts_ms_per_object":
                            round(v["rejected_ns"] / v["objects"] / 1e6, 4),
                        "kept_attempt_ms_per_object":
                            round(v["kept_attempt_ns"] / v["objects"] / 1e6, 4)}
    rejected = sum(v["rejected_ns"] for v in r["per_class"].values())
    floor_ns = r["stage_ns"]["render"] + r["stage_ns"]["sep_extract"]
    attempts = sum(v["attempts"] for v in r["per_class"].values()) / n_obj
    return {"objects": n_obj, "classes": r["classes"], "workers": 1,
            "timer": "time.process_time_ns around the stage functions, one process",
            "cpu_ms_per_cutout": ms(total),
            "cpu_ms_per_cutout_without_timers": ms(r["plain_cpu_ns"]),
            "same_output_as_without_timers": r["same_output"],
            "attempts_per_object": round(attempts, 3),
            "stages": rows, "per_class": per_class,
            "rejected_attempts_share": round(rejected / total, 4),
            "rejected_attempts_ms_per_cutout": ms(rejected),
            "floor": {"what": "rendering + sep.extract alone, at these attempts per object",
                      "ms_per_cutout": ms(floor_ns),
                      "max_cutouts_per_s": round(cores * 1e9 * n_obj / floor_ns),
                      "target_budget_ms_per_cutout": round(cores * 1e3 / TARGET, 3)},
            "version": r["version"]}


def _print_breakdown(bd, cores):
    print(f"\nwhere the CPU time goes ({bd['objects']} objects of {', '.join(bd['classes'])}, "
          f"1 worker; {bd['cpu_ms_per_cutout']:.2f} CPU-ms a cutout timed, "
          f"{bd['cpu_ms_per_cutout_without_timers']:.2f} without the timers; same output: "
          f"{bd['same_output_as_without_timers']}):")
    print(f"  {'stage':66s} {'ms/cutout':>9s} {'share':>6s}")
    for row in bd["stages"]:
        print(f"  {row['label']:66s} {row['ms_per_cutout']:9.3f} {100 * row['share']:5.1f}%")
    total = sum(r["share"] for r in bd["stages"] if "of" not in r)
    print(f"  {'total':66s} {bd['cpu_ms_per_cutout']:9.3f} {100 * total:5.1f}%")
    print(f"  attempts per object {bd['attempts_per_object']:.2f}; attempts the cuts rejected: "
          f"{bd['rejected_attempts_ms_per_cutout']:.2f} ms a cutout "
          f"({100 * bd['rejected_attempts_share']:.0f}% of the CPU time)")
    for c, v in bd["per_class"].items():
        print(f"    {c:10s} {v['attempts_per_object']:.2f} attempts per object: "
              f"{v['rejected_attempts_ms_per_object']:.2f} ms on rejected attempts, "
              f"{v['kept_attempt_ms_per_object']:.2f} ms on the kept one (before its cutout)")
    f = bd["floor"]
    print(f"  floor: rendering + sep.extract alone at these attempts cost "
          f"{f['ms_per_cutout']:.2f} ms a cutout -> at most {f['max_cutouts_per_s']:,} "
          f"cutouts/s on {cores} cores at perfect scaling; the target of {TARGET:,}/s leaves "
          f"{f['target_budget_ms_per_cutout']:.2f} CPU-ms a cutout for everything")


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
    ap.add_argument("--breakdown", action="store_true",
                    help="also split the current tree's CPU time by stage (N objects of "
                         "each of the three classes, 1 worker)")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        libs = {"current": ROOT}
        if args.baseline.lower() != "none":
            libs = {f"baseline {args.baseline}": _extract(args.baseline, tmp), **libs}
        rates, cpus, cpus_w = {}, {}, {}
        for rep in range(args.repeat):
            for w in workers:
                for name, lib in libs.items():
                    r = _run(lib, args.n_per_class, w, seed=2 + rep)
                    rate = r["n"] / r["wall"]
                    cpu_ms = 1e3 * r["cpu"] / r["n"]
                    rates.setdefault((name, w), []).append(rate)
                    cpus.setdefault(name, []).append(cpu_ms)
                    cpus_w.setdefault((name, w), []).append(cpu_ms)
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
              "cores": os.cpu_count(), "target_cutouts_per_s": TARGET,
              "cutouts_per_s": {f"{name} workers={w}": round(max(v), 1)
                                for (name, w), v in rates.items()},
              "cpu_ms_per_cutout": {name: round(min(v), 3) for name, v in cpus.items()},
              "cpu_ms_per_cutout_by_workers": {f"{name} workers={w}": round(min(v), 3)
                                               for (name, w), v in cpus_w.items()}}
    if args.paper_size:
        w = os.cpu_count()
        r = _run(ROOT, 20000, w, seed=1, classes="lsbg,artifact2,artifact1")
        result["paper_size"] = {"objects": r["n"], "workers": w, "wall_s": round(r["wall"], 1),
                                "cutouts_per_s": round(r["n"] / r["wall"], 1),
                                "cpu_ms_per_cutout": round(1e3 * r["cpu"] / r["n"], 3),
                                "attempts_per_object": r["attempts"], "load": r["load"]}
        print(f"  paper-size set: {r['n']} objects in {r['wall']:.1f} s "
              f"({r['n'] / r['wall']:.0f} cutouts/s, workers={w})")
    if args.breakdown:
        cores = os.cpu_count()
        bd = _breakdown(args.n_per_class, 2, "lsbg,artifact2,artifact1", cores)
        w = max(workers)
        if w > 1 and 1 in workers:
            # the pool's own CPU (pickling, the parent's waits) is not in the one-worker
            # breakdown: the difference between the runs with W workers and with one
            bd["pool_ms_per_cutout"] = {
                "workers": w, "ms_per_cutout": round(min(cpus_w[("current", w)])
                                                     - min(cpus_w[("current", 1)]), 3)}
        _print_breakdown(bd, cores)
        if "pool_ms_per_cutout" in bd:
            p = bd["pool_ms_per_cutout"]
            print(f"  process pool with {p['workers']} workers: {p['ms_per_cutout']:+.2f} "
                  f"CPU-ms a cutout over one worker (the runs above)")
        result["breakdown"] = bd
    print(json.dumps(result))


if __name__ == "__main__":
    main()

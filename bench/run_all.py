"""Run every benchmark and write ``bench/results.json`` (``make bench``).

Each benchmark runs in its own process with a time limit (the machine is shared; every
number that compares two approaches is a ratio measured within one run).  Recorded:
machine (CPU model, cores, load), library versions, ``bench_cpu`` (training and
prediction against the plain Keras pattern and the matmul peak), the synthetic-survey
rate (``bench_simulate``), the other benchmarks' outputs, the wall time of
``make paper-figures`` per profile read from the executed notebooks under
``build/PROFILE/`` (``metadata.deepshadows.seconds``), and whether a GPU was lent.

    python bench/run_all.py --out bench/results.json [--only cpu,simulate] [--merge] [--run-smoke]

``--run-smoke`` also runs the smoke profile end to end into a temporary directory (never
into the repository's ``figures/``) and records its wall time.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

#: name -> (command line, time limit in seconds)
BENCHES = {
    "cpu": ([PY, "bench/bench_cpu.py"], 240),
    "simulate": ([PY, "bench/bench_simulate.py", "--n-per-class", "2500", "--workers", "1,2",
                  "--baseline", "none", "--paper-size"], 600),
    "bootstrap": ([PY, "bench/bench_bootstrap.py"], 120),
    "classify": ([PY, "bench/bench_classify.py", "--n", "20000", "--configs", "single,local2"],
                 240),
    "download": ([PY, "bench/bench_download.py", "--n", "100", "--serial-n", "20"], 120),
}


def machine():
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"cpu": cpu, "cores": cores, "memory_gib": mem, "platform": platform.platform(),
            "python": platform.python_version(), "load_average_1min": os.getloadavg()[0]}


def versions():
    from importlib import metadata
    out = {}
    for pkg in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "scikit-learn", "galsim",
                "zarr", "dask", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def gpu():
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        names = [n for n in r.stdout.splitlines() if n.strip()]
    except (OSError, subprocess.TimeoutExpired):
        names = []
    return {"present": bool(names), "names": names,
            "note": None if names else "no GPU on this machine and none was lent to this "
                    "task: the paper profile's GPU wall time is not measured"}


def run_bench(name):
    cmd, limit = BENCHES[name]
    t = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=limit,
                           env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {limit} s", "wall_s": limit}
    out = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_average_1min": os.getloadavg()[0],
           "wall_s": round(time.perf_counter() - t, 1), "returncode": r.returncode}
    text = r.stdout.strip()
    out["result"] = None
    # the result is the last line that is a JSON object, or everything from the first "{"
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    for candidate in ([lines[-1]] if lines else []) + [text[text.find("{"):]]:
        try:
            out["result"] = json.loads(candidate)
            break
        except json.JSONDecodeError:
            continue
    if out["result"] is None:
        out["output"] = text.splitlines()[-20:]
    if r.returncode:
        out["stderr_tail"] = r.stderr.strip().splitlines()[-5:]
    return out


def notebook_times(build=REPO / "build"):
    """Seconds per executed notebook and in total, per profile, from build/PROFILE/."""
    res = {}
    for d in sorted(p for p in Path(build).glob("*") if p.is_dir()):
        secs = {}
        for nb in sorted(d.glob("[0-9][0-9]_*.ipynb")):
            try:
                meta = json.loads(nb.read_text())["metadata"].get("deepshadows", {})
            except (OSError, ValueError, KeyError):
                continue
            if "seconds" in meta:
                secs[nb.stem] = meta["seconds"]
        if secs:
            res[d.name] = {"notebooks_s": secs, "total_s": round(sum(secs.values()), 1),
                           "total_min": round(sum(secs.values()) / 60, 2)}
    return res


def run_smoke(limit=900):
    with tempfile.TemporaryDirectory(prefix="deepshadows-smoke-") as tmp:
        t = time.perf_counter()
        cmd = [PY, "-c", "from deepshadows_lib import pipeline; import json; print(json.dumps("
               f"pipeline.run_all(profile='smoke', build_dir={tmp + '/build'!r}, "
               f"figures_dir={tmp + '/figures'!r}, progress=False)))"]
        try:
            r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {limit} s"}
        out = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_average_1min": os.getloadavg()[0],
           "wall_s": round(time.perf_counter() - t, 1), "returncode": r.returncode}
        try:
            out["notebooks_s"] = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out["stderr_tail"] = r.stderr.strip().splitlines()[-5:]
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "bench" / "results.json"))
    ap.add_argument("--only", default=",".join(BENCHES),
                    help=f"comma-separated subset of {', '.join(BENCHES)}")
    ap.add_argument("--run-smoke", action="store_true",
                    help="also time the smoke profile end to end (temporary directory)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other benchmarks already recorded in --out (each entry "
                         "carries its own date and load)")
    a = ap.parse_args(argv)
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
               "versions": versions(), "gpu": gpu(), "benchmarks": {}}
    if a.merge and Path(a.out).exists():
        old = json.loads(Path(a.out).read_text())
        results["benchmarks"] = dict(old.get("benchmarks", {}))
        for key in ("paper_figures_wall_time",):
            if key in old:
                results[key] = old[key]
    for name in [n.strip() for n in a.only.split(",") if n.strip()]:
        if name not in BENCHES:
            ap.error(f"unknown benchmark {name!r}")
        print(f"running {name} ...", flush=True)
        results["benchmarks"][name] = run_bench(name)
    results["paper_figures_wall_time"] = {**results.get("paper_figures_wall_time", {}),
                                          **notebook_times()}
    if a.run_smoke:
        print("running the smoke profile ...", flush=True)
        results["paper_figures_wall_time"]["smoke_run_now"] = run_smoke()
    results["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    sys.path.insert(0, str(REPO))
    from deepshadows_lib._io import atomic_write_json
    atomic_write_json(Path(a.out), results)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

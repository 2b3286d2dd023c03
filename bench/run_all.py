"""Run every benchmark and write ``bench/results.json`` in one run (``make bench``).

Each benchmark runs in its own process with a time limit.  Every entry records its date,
the machine's load average (``/proc/loadavg``) before and after, and the CPU model, so a
number taken on a busy machine says so; numbers that compare two approaches are ratios
of interleaved runs within one benchmark.  The entries:

``training``, ``prediction``
    :mod:`bench_training` -- the library against what a user writes (own processes,
    alternating pairs, median of the pair ratios with min and max, matmul peak).
``levers_training``
    :mod:`levers_training` -- where a training step's time goes and the speed levers
    (also written to ``bench/levers_training.json``).
``simulate``, ``bootstrap``
    :mod:`bench_simulate`, :mod:`bench_bootstrap`.
``classify_1e6``, ``classify_bf16``, ``download``
    ``bench/bench_classify.py`` (float32 default on 10^6 cutouts; the bfloat16 opt-in on
    10^6 as well) and ``bench/bench_download.py`` run here; they write
    ``bench/classify_1e6.json``, ``bench/classify_bf16.json`` and ``bench/download.json``,
    folded in.
``smoke_profile``
    The smoke profile end to end (``deepshadows figures --profile smoke``) into a
    temporary directory, wall time per notebook.
``paper_figures``
    Wall time per notebook of the profiles executed under ``build/PROFILE/`` (the
    notebooks' own ``metadata.deepshadows.seconds``; dated by the files).  A run with
    ``--only``, or with no executed notebooks, keeps the record that ``--out`` holds; a
    full run keeps it too when build/ still holds the same notebooks (its notes stay),
    and otherwise records the new run with the earlier records under ``before``
    (:func:`merge_paper_figures`).
``paper_gpu``
    ``bench/paper_gpu.json`` of ``make paper-gpu`` (the paper profile on a GPU), when
    it exists: it needs a GPU, so it is folded in with its own date, not re-measured.

    python bench/run_all.py [--out bench/results.json] [--only training,simulate] [--quick]

``--only`` runs a subset and keeps the other entries of ``--out`` (for trying one
benchmark out; ``make bench`` runs them all).  ``--quick``: small sizes (a check that
everything runs, not numbers to quote).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # noqa: E402

REPO = _harness.REPO
PY = sys.executable
BENCH = REPO / "bench"


def _smoke_cmd(tmp):
    # the build directory is named after the profile, as notebook_times looks for it
    return [PY, "-m", "deepshadows_lib.cli", "figures", "--profile", "smoke", "--build",
            f"{tmp}/smoke", "--figures", f"{tmp}/figures"]


#: name -> (command line, time limit in seconds, JSON file it writes or None, quick args)
BENCHES = {
    "training": ([PY, "bench/bench_training.py", "--pairs", "5", "--n", "4096"], 3600, None,
                 ["--pairs", "1", "--n", "256", "--n-predict", "512", "--epochs", "2"]),
    "levers_training": ([PY, "bench/levers_training.py", "--out",
                         "bench/levers_training.json"], 3600, "bench/levers_training.json",
                        ["--quick", "--out", "bench/levers_training.quick.json"]),
    "simulate": ([PY, "bench/bench_simulate.py", "--n-per-class", "2500", "--workers", "1,2",
                  "--baseline", "none", "--paper-size", "--breakdown"], 900, None,
                 ["--n-per-class", "100", "--workers", "1", "--baseline", "none",
                  "--breakdown"]),
    "bootstrap": ([PY, "bench/bench_bootstrap.py"], 300, None,
                  ["--n", "500", "--resamples", "50", "--loop-resamples", "10"]),
    # written by their own scripts (helper H2): run, then their JSON files are folded in
    "classify_1e6": ([PY, "bench/bench_classify.py", "--out", "bench/classify_1e6.json"],
                     3600, "bench/classify_1e6.json", None),
    "download": ([PY, "bench/bench_download.py", "--out", "bench/download.json"], 1800,
                 "bench/download.json", None),
    # the opt-in bfloat16 inference (deepshadows classify --precision bfloat16)
    "classify_bf16": ([PY, "bench/bench_classify.py", "--n", "1000000", "--configs",
                       "single,forward", "--precision", "bfloat16", "--batch-size", "1024",
                       "--out", "bench/classify_bf16.json", "--label",
                       "bfloat16 opt-in, batch 1024"], 1800, "bench/classify_bf16.json",
                      None),
}


def machine():
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        mem = None
    return {"cpu": _harness.cpu_model(), "cores": _harness.cores(), "memory_gib": mem,
            "cpu_flags": _harness.cpu_flags(), "platform": platform.platform(),
            "python": platform.python_version()}


def versions():
    from importlib import metadata
    out = {}
    for pkg in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "scikit-learn", "galsim",
                "zarr", "dask", "distributed", "pandas"):
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
    return {"present": bool(names), "names": names}


def _last_json(text):
    """The last line that is a JSON object, or everything from the first "{"."""
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    candidates = [lines[-1]] if lines else []
    if "{" in text:
        candidates.append(text[text.find("{"):])
    for candidate in candidates:
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def run_bench(name, *, quick=False):
    """Run one benchmark in its own process; its entry (result, date, load, CPU)."""
    cmd, limit, written, quick_args = BENCHES[name]
    entry = _harness.stamp()
    if quick:
        if quick_args is None:
            return {**entry, "skipped": "--quick (no small size for this benchmark)"}
        cmd = cmd[:2] + quick_args
    script = REPO / cmd[1]
    entry["command"] = " ".join(["python", *cmd[1:]])
    if not script.exists():
        entry["error"] = f"{cmd[1]} does not exist"
        return entry
    t = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=limit,
                           env=env)
    except subprocess.TimeoutExpired:
        entry.update(error=f"timed out after {limit} s", wall_s=limit)
        return entry
    entry.update(wall_s=round(time.perf_counter() - t, 1), returncode=r.returncode,
                 loadavg_after=_harness.loadavg())
    result = None
    if written and (REPO / written).exists() and not quick:
        path = REPO / written
        if path.stat().st_mtime >= time.time() - entry["wall_s"] - 5:  # written by this run
            result = json.loads(path.read_text())
            entry["source"] = written
    if result is None:
        result = _last_json(r.stdout.strip())
    if result is None:
        entry["output"] = r.stdout.strip().splitlines()[-20:]
    entry["result"] = result
    if r.returncode:
        entry["stderr_tail"] = r.stderr.strip().splitlines()[-8:]
    return entry


def notebook_times(build=REPO / "build"):
    """Seconds per executed notebook and in total, per profile, from build/PROFILE/.

    Only directories of the known profiles count.  The notebooks may have run at
    different times (``make`` reruns only what is out of date): ``first`` and ``date``
    (the last) say when, and ``note`` says so when they are more than an hour apart.
    """
    from deepshadows_lib.profiles import PROFILES
    res = {}
    for d in sorted(Path(build) / name for name in PROFILES):
        secs, dates = {}, []
        for nb in sorted(d.glob("[0-9][0-9]_*.ipynb")):
            try:
                meta = json.loads(nb.read_text())["metadata"].get("deepshadows", {})
            except (OSError, ValueError, KeyError):
                continue
            if "seconds" in meta:
                secs[nb.stem] = meta["seconds"]
                dates.append(nb.stat().st_mtime)
        if secs:
            note = "measured when the notebooks last ran (make paper-figures), not by this run"
            if max(dates) - min(dates) > 3600:
                note += ("; they ran at different times (different commits and loads), so "
                         "the total is not one run's")
            res[d.name] = {"notebooks_s": secs, "total_s": round(sum(secs.values()), 1),
                           "total_min": round(sum(secs.values()) / 60, 2),
                           "first": time.strftime("%Y-%m-%dT%H:%M:%S%z",
                                                  time.localtime(min(dates))),
                           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z",
                                                 time.localtime(max(dates))),
                           "note": note}
    return res


def merge_paper_figures(recorded, measured):
    """The ``paper_figures`` record after a full run: nothing measured is lost.

    Parameters
    ----------
    recorded : dict or None
        ``profile -> entry`` that results.json held (entries may carry notes and a
        ``before`` list of earlier runs).
    measured : dict
        ``profile -> entry`` of :func:`notebook_times` now.

    Returns
    -------
    dict
        For each profile: the recorded entry when the notebooks' times are the same (the
        same run, with its notes); else the measured one, with the recorded entry first
        in its ``before`` list.
    """
    merged = dict(recorded or {})
    for profile, entry in (measured or {}).items():
        previous = merged.get(profile)
        if previous and previous.get("notebooks_s") == entry.get("notebooks_s"):
            continue
        if previous:
            previous = dict(previous)
            history = previous.pop("before", [])
            entry = {**entry, "before": [previous] + list(history)}
        merged[profile] = entry
    return merged


def run_smoke(limit=1800):
    """The smoke profile end to end in a temporary directory, seconds per notebook."""
    entry = _harness.stamp()
    with tempfile.TemporaryDirectory(prefix="deepshadows-smoke-") as tmp:
        t = time.perf_counter()
        try:
            r = subprocess.run(_smoke_cmd(tmp), cwd=REPO, capture_output=True, text=True,
                               timeout=limit, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        except subprocess.TimeoutExpired:
            entry["error"] = f"timed out after {limit} s"
            return entry
        entry.update(wall_s=round(time.perf_counter() - t, 1), returncode=r.returncode,
                     loadavg_after=_harness.loadavg())
        entry["notebooks_s"] = notebook_times(Path(tmp)).get("smoke", {}).get(
            "notebooks_s", {})
        if r.returncode:
            entry["stderr_tail"] = r.stderr.strip().splitlines()[-8:]
    return entry


def _write(out, results):
    sys.path.insert(0, str(REPO))
    from deepshadows_lib._io import atomic_write_json
    atomic_write_json(out, results)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(BENCH / "results.json"))
    ap.add_argument("--only", default=None,
                    help=f"comma-separated subset of {', '.join(BENCHES)}, smoke_profile "
                         "(keeps the other entries of --out)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes: checks that every benchmark runs")
    a = ap.parse_args(argv)
    names = list(BENCHES) + ["smoke_profile"]
    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = set(names) - set(BENCHES) - {"smoke_profile"}
        if unknown:
            ap.error(f"unknown benchmark(s) {sorted(unknown)}")
    out = Path(a.out)
    recorded = json.loads(out.read_text()) if out.exists() else {}
    results = {"benchmarks": {}}
    if a.only and recorded:
        results = recorded
        results.setdefault("benchmarks", {})
    results.update(date=time.strftime("%Y-%m-%dT%H:%M:%S%z"), machine=machine(),
                   versions=versions(), gpu=gpu(), loadavg_start=_harness.loadavg())
    for name in names:
        print(f"running {name} ...", flush=True)
        if name == "smoke_profile":
            results["benchmarks"][name] = run_smoke()
            continue
        entry = run_bench(name, quick=a.quick)
        res = entry.get("result") or {}
        if name == "training" and "training" in res:
            # one process, two entries: training and prediction, each with the run's stamp
            common = {k: v for k, v in entry.items() if k != "result"}
            results["benchmarks"]["training"] = {
                **common, "result": {k: v for k, v in res.items() if k != "prediction"}}
            results["benchmarks"]["prediction"] = {
                **common, "result": {**res["prediction"],
                                     "matmul_peak_gflops": res.get("matmul_peak_gflops"),
                                     "matmul_peak_gflops_per_cpu_s": res.get(
                                         "matmul_peak_gflops_per_cpu_s"),
                                     "flops": res.get("flops")}}
        else:
            results["benchmarks"][name] = entry
        _write(out, results)  # after every benchmark: a killed run keeps what it measured
    # the notebooks' times come from build/ (make paper-figures), not from a benchmark:
    # a run of some benchmarks (--only) keeps the record that --out holds; a full run
    # adds a newer run to it and never drops the earlier ones or their notes
    if not a.only:
        results["paper_figures"] = merge_paper_figures(recorded.get("paper_figures"),
                                                       notebook_times())
    elif "paper_figures" not in results:
        results["paper_figures"] = notebook_times()
    gpu_file = BENCH / "paper_gpu.json"
    if gpu_file.exists():
        results["benchmarks"]["paper_gpu"] = _harness.folded_entry(
            json.loads(gpu_file.read_text()), "bench/paper_gpu.json")
    results["loadavg_end"] = _harness.loadavg()
    _write(out, results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

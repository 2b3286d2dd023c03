"""Shared machinery of the benchmarks: contenders in their own processes, interleaved pairs.

A *contender* is one way of doing a job (plain Keras, the library, a lever), run by
``python bench/SCRIPT.py --contender NAME ...`` in a fresh process that prints one JSON
object on its last line.  :func:`interleaved_pairs` runs two contenders alternately
(A B, B A, A B, ...) so that a shared, noisy machine disturbs both alike, and reports
the median of the per-pair ratios with their minimum and maximum.  Every record carries
its date, the load average before and after, and the CPU model.
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def loadavg():
    """The three load averages of /proc/loadavg (1, 5, 15 min)."""
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return [float(v) for v in os.getloadavg()]


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    """The vector-unit flags that matter to oneDNN (AVX-512, bf16, AMX, VNNI)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(f for f in line.split(":", 1)[1].split()
                              if f.startswith(("avx512", "amx", "avx_vnni", "fma")))
    except OSError:
        pass
    return []


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def stamp():
    """Date, load and machine of a record."""
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "loadavg": loadavg(),
            "cpu": cpu_model(), "cores": cores()}


def folded_entry(record, source):
    """The results.json entry of a record that a benchmark wrote to its own file.

    The entry carries the record's date, load and machine at its top, as every entry of
    ``bench/results.json`` does, with the record itself as ``result``.
    """
    top = {k: record[k] for k in ("date", "loadavg", "loadavg_after", "cpu", "cores")
           if k in record}
    return {**top, "source": str(source), "result": record}


def run_contender(script, name, args=(), *, timeout=900, env=None):
    """Run ``script --contender name args`` in a fresh process; its last JSON line."""
    cmd = [PY, str(REPO / "bench" / script), "--contender", name, *map(str, args)]
    e = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    e.update(env or {})
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=e)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        raise RuntimeError(f"contender {name} of {script} failed ({r.returncode}):\n"
                           + "\n".join(r.stderr.strip().splitlines()[-15:]))
    out = json.loads(lines[-1])
    out["process_wall_s"] = round(time.perf_counter() - t, 2)
    return out


def summary(values):
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "n": int(v.size)}


def interleaved_pairs(script, a, b, *, pairs=5, args=(), args_a=(), args_b=(), key,
                      higher_is_better=True, env_a=None, env_b=None, log=print):
    """Run contenders ``a`` and ``b`` alternately ``pairs`` times; ratio b / a per pair.

    ``key`` picks the number compared from a contender's JSON (a rate: higher is
    better; with ``higher_is_better=False`` a time, and the ratio becomes a / b, so
    that a ratio > 1 always means ``b`` is faster).

    Returns
    -------
    dict
        ``ratio`` (median, min, max of the pair ratios), ``a`` and ``b`` (summaries of
        ``key``), ``runs`` (every contender's JSON), load before and after.
    """
    before = stamp()
    runs = {a: [], b: []}
    for i in range(int(pairs)):
        order = (a, b) if i % 2 == 0 else (b, a)
        for name in order:
            extra = args_a if name == a else args_b
            env = env_a if name == a else env_b
            res = run_contender(script, name, [*args, *extra], env=env)
            res["loadavg"] = loadavg()
            runs[name].append(res)
            log(f"  pair {i + 1}/{pairs} {name}: {key} = {res[key]:.4g} "
                f"(load {res['loadavg'][0]:.2f})")
    va = np.array([r[key] for r in runs[a]], dtype=float)
    vb = np.array([r[key] for r in runs[b]], dtype=float)
    ratios = vb / va if higher_is_better else va / vb
    return {"compared": key, "ratio": summary(ratios), "ratios": ratios.tolist(),
            a: summary(va), b: summary(vb), "runs": runs,
            "loadavg_before": before["loadavg"], "loadavg_after": loadavg(),
            "date": before["date"], "cpu": before["cpu"], "cores": before["cores"]}


def emit(obj):
    """Print ``obj`` as the last line of a contender's output."""
    sys.stdout.write("\n" + json.dumps(obj) + "\n")
    sys.stdout.flush()


def faint_glow_set(n, seed=123):
    """A learnable but not trivial set: noise, LSBGs (1) with a faint broad central glow.

    Returns ``(images, labels)``: (n, 64, 64, 3) uint8 and (n,) 0/1.  Short trainings that
    compare numerics (float32 against bfloat16, XLA) need a set whose accuracy is neither
    chance nor perfect.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    img = rng.normal(40, 12, (n, 64, 64, 3))
    yy, xx = np.mgrid[:64, :64]
    width = rng.uniform(4, 9, n)[:, None, None]
    blob = np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2)[None] / (2 * width ** 2))
    img += (rng.uniform(8, 24, n) * y)[:, None, None, None] * blob[..., None]
    return np.clip(img, 0, 255).astype(np.uint8), y

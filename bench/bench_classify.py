"""Classification throughput and peak memory: one process against a Dask LocalCluster.

Runs :func:`deepshadows_lib.classify.classify_store` with the paper's network
(4,220,385 parameters; untrained weights, which cost the same to evaluate as trained ones)
over a synthetic store, three ways, each in a fresh child process so that peak memory
is measured cleanly:

* ``single``  -- in the process itself, TensorFlow's default thread pools;
* ``local1``  -- a LocalCluster of 1 worker process (TensorFlow threads = cores);
* ``local2``  -- a LocalCluster of 2 worker processes (threads = cores / 2 each).

The store is **random uint8 blocks**: one seeded pool of ``chunk_size`` random cutouts,
rolled by a different amount in every chunk (so chunks differ and nothing is cached or
compresses away).  It is built once under ``bench/results/`` (git-ignored) and reused.

Throughput is objects per second of the classification itself, from the first chunk to
the joined table (cluster start-up and model loading are not in it; the start-up is
reported apart as ``startup_s``, and ``wall_s`` has everything).  Peak memory is the peak
resident set (VmHWM) of the client process plus, on a cluster, the sum of the workers'
peaks.  The machine may be shared: ratios are more telling than absolute numbers.

Prints one JSON object.

    python bench/bench_classify.py [--n 200000] [--configs single,local1,local2]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CONFIGS = {"single": 0, "local1": 1, "local2": 2}


def _cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def build_store(path, *, n, chunk_size, seed=0):
    """Write (or reuse) a store of ``n`` random uint8 cutouts, chunk by chunk."""
    import pandas as pd
    from tqdm.auto import tqdm

    from deepshadows_lib.store import StoreWriter, store_info
    path = Path(path)
    if path.exists():
        info = store_info(path)
        if info.get("complete") and info.get("n") == n and info.get("chunk_size") == chunk_size:
            return path
    writer = StoreWriter(path, n=n, chunk_size=chunk_size, overwrite=True,
                         attrs={"simulated": True, "survey": "des", "seed": seed,
                                "job": f"bench_classify random uint8 n={n} seed={seed}"})
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (chunk_size, 64, 64, 3), dtype=np.uint8)
    for k in tqdm(writer.pending, desc="bench store", unit="chunk"):
        sl = writer.chunk_slice(k)
        m = sl.stop - sl.start
        images = np.roll(pool, k % chunk_size, axis=0)[:m]
        catalog = pd.DataFrame({"ra": rng.uniform(0, 360, m), "dec": rng.uniform(-60, 5, m)})
        writer.write_chunk(k, images, catalog)
    writer.finalize()
    return path


def build_model(path, *, n_classes=1, seed=0):
    """Save the paper's network, untrained, to ``path`` (once)."""
    path = Path(path)
    if not path.exists():
        import keras

        from deepshadows_lib.models import build_deepshadows
        from deepshadows_lib.training import save_model
        keras.utils.set_random_seed(seed)
        save_model(build_deepshadows(n_classes, compile=False), path)
    return path


def _peak_mb():
    """Peak resident memory of this process, in MiB.

    Linux's VmHWM, not ``ru_maxrss``: the latter survives ``fork`` + ``exec``, so a child
    (and every Dask worker, spawned from it) would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_config(config, *, model, store, out, batch_size):
    """Classify ``store`` in this process in one configuration; return its measures."""
    import pyarrow.parquet as pq

    from deepshadows_lib import classify

    workers = CONFIGS[config]
    t0 = time.perf_counter()
    result = {"config": config, "workers": workers}
    if workers == 0:
        classify.classify_store(model, store, out, batch_size=batch_size, progress=False,
                                overwrite=True)
        result["startup_s"] = 0.0
        result["worker_peak_mb"] = []
    else:
        cluster, client = classify._start_local_cluster(workers)
        try:
            result["startup_s"] = time.perf_counter() - t0
            classify.classify_store(model, store, out, scheduler=client,
                                    tf_threads=max(1, _cpus() // workers),
                                    batch_size=batch_size, progress=False, overwrite=True)
            peaks = client.run(_peak_mb)
            result["worker_peak_mb"] = sorted(peaks.values())
        finally:
            client.close()
            cluster.close()
    n = classify.last_run["chunks_total"]
    seconds = classify.last_run["seconds"]
    n_objects = int(pq.ParquetFile(out).metadata.num_rows)
    result.update({"objects": n_objects, "chunks": n, "classify_s": seconds,
                   "wall_s": time.perf_counter() - t0,
                   "objects_per_s": n_objects / seconds,
                   "client_peak_mb": _peak_mb()})
    result["total_peak_mb"] = result["client_peak_mb"] + sum(result["worker_peak_mb"])
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000,
                    help="cutouts in the synthetic store (default 200,000)")
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--configs", default="single,local1,local2",
                    help="comma-separated among single, local1, local2")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds allowed per configuration (default 3600)")
    ap.add_argument("--workdir", default=str(RESULTS), help="where the store and model live")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = Path(args.workdir)
    store = work / f"classify_store_n{args.n}_c{args.chunk_size}.zarr"
    model = work / "deepshadows_untrained.keras"

    if args.child:  # one configuration, in a fresh process
        res = run_config(args.child, model=model, store=store,
                         out=work / f"classify_{args.child}.parquet",
                         batch_size=args.batch_size)
        print(json.dumps(res))
        return 0

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        ap.error(f"unknown configs {sorted(unknown)}; choose among {sorted(CONFIGS)}")
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build_store(store, n=args.n, chunk_size=args.chunk_size)
    store_s = time.perf_counter() - t0
    build_model(model)

    runs = {}
    for config in configs:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", config,
               "--n", str(args.n), "--chunk-size", str(args.chunk_size),
               "--batch-size", str(args.batch_size), "--workdir", str(work)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            raise SystemExit(f"configuration {config} failed (exit {proc.returncode})")
        runs[config] = json.loads(proc.stdout.strip().splitlines()[-1])
        (work / f"classify_{config}.parquet").unlink(missing_ok=True)
        print(f"{config}: {runs[config]['objects_per_s']:.0f} objects/s, "
              f"peak {runs[config]['total_peak_mb']:.0f} MB", file=sys.stderr)

    ratios = {}
    for a, b in [("local1", "single"), ("local2", "single"), ("local2", "local1")]:
        if a in runs and b in runs:
            ratios[f"throughput_{a}_over_{b}"] = (runs[a]["objects_per_s"]
                                                  / runs[b]["objects_per_s"])
            ratios[f"peak_memory_{a}_over_{b}"] = (runs[a]["total_peak_mb"]
                                                   / runs[b]["total_peak_mb"])
    result = {
        "benchmark": "classify",
        "n": args.n, "chunk_size": args.chunk_size, "batch_size": args.batch_size,
        "store": "random uint8 blocks (seeded pool rolled per chunk)",
        "store_gb_uint8": args.n * 64 * 64 * 3 / 1e9, "store_build_s": store_s,
        "model": "DeepShadows binary, untrained (4,220,385 parameters)",
        "cpus": _cpus(), "machine": platform.machine(), "python": platform.python_version(),
        "runs": runs, "ratios": ratios,
    }
    print(json.dumps(_rounded(result), indent=2))
    return 0


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


if __name__ == "__main__":
    sys.exit(main())

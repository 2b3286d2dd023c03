"""Classification throughput, CPU time and peak memory, end to end from a store.

Runs :func:`deepshadows_lib.classify.classify_store` with the paper's network
(4,220,385 parameters; untrained weights, which cost the same to evaluate as trained ones)
over a synthetic store of ``--n`` cutouts (default 10^6), and, to see where the time goes,
the same store's stages alone, each in a fresh child process so that peak memory is
measured cleanly:

* ``single``   -- ``classify_store`` in one process (read-ahead thread, folded network,
  per-chunk Parquet parts, streaming join): the end-to-end number;
* ``forward``  -- the folded inference function alone on in-memory batches of the same
  size (no store, no Parquet), on ``--forward-n`` cutouts: the ceiling;
* ``read``     -- reading (and decompressing) every chunk of the store, nothing else;
* ``layers``   -- optionally, where the forward pass spends its time: each stage (the
  uint8 cast, each convolution with its bias and ReLU, each pooling, dense1) timed alone
  as its own compiled function on a batch, in CPU microseconds per cutout and in
  GFLOP per CPU-second (multiply-adds count two);
* ``local2``   -- optionally, a Dask LocalCluster of 2 worker processes.

**The store is synthetic and cheap, not simulated**: generating 10^6 simulated cutouts
takes hours, and the network's cost does not depend on what the pixels show.  One seeded
pool of ``--chunk-size`` random uint8 cutouts is smoothed a little (so that it compresses
about as much as real JPEG cutouts do) and rolled by a different amount in every chunk (so
chunks differ and nothing is cached), then written with the library's ``StoreWriter``.
It lives under ``--workdir`` (default ``build/bench_classify``, git-ignored) and is
removed afterwards unless ``--keep-store``.

Every run records wall time, process CPU time (all threads), cutouts per second of each,
peak resident memory (VmHWM) and the machine's load average before and after: on a shared
machine the wall time measures the neighbours too, so CPU time is the steadier measure.
``--code DIR`` runs the library found in ``DIR`` instead of the installed one (to measure
an older version, e.g. ``git archive COMMIT deepshadows_lib | tar -x -C DIR``).

``--precision bfloat16`` measures the opt-in bfloat16 arithmetic instead of float32 (its
``forward`` run also records the largest probability difference from float32 on its block,
on the untrained network).

    python bench/bench_classify.py [--n 1000000] [--configs single,forward,read]
                                   [--precision float32] [--out bench/classify_1e6.json]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _harness  # noqa: E402  (bench/ holds the shared helpers)
REPO = HERE.parent
CONFIGS = ("single", "forward", "read", "local2", "layers")
GOAL = 6000.0  # cutouts per second end to end on 2 cores (issue 18)


def _peak_mb():
    """Peak resident memory of this process, in MiB (Linux's VmHWM; ``ru_maxrss``
    survives ``fork`` + ``exec``, so a child would report its parent's peak)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pool(chunk_size, seed):
    """``chunk_size`` random cutouts, smoothed along rows so that they compress a little."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (chunk_size, 64, 64, 3), dtype=np.uint8)
    return ((pool.astype(np.uint16) + np.roll(pool, 1, axis=2)) // 2).astype(np.uint8)


def build_store(path, *, n, chunk_size, seed=0):
    """Write (or reuse) the synthetic store of ``n`` cutouts, chunk by chunk."""
    import pandas as pd

    from deepshadows_lib.store import StoreWriter, store_info
    path = Path(path)
    if path.exists():
        info = store_info(path)
        if info.get("complete") and info.get("n") == n and info.get("chunk_size") == chunk_size:
            return path
    writer = StoreWriter(path, n=n, chunk_size=chunk_size, overwrite=True,
                         attrs={"simulated": True, "survey": "des", "seed": seed,
                                "job": f"bench_classify synthetic uint8 n={n} seed={seed}"})
    rng = np.random.default_rng(seed)
    pool = _pool(chunk_size, seed)
    for k in writer.pending:
        sl = writer.chunk_slice(k)
        m = sl.stop - sl.start
        catalog = pd.DataFrame({"ra": rng.uniform(0, 360, m), "dec": rng.uniform(-60, 5, m)})
        writer.write_chunk(k, np.roll(pool, k % chunk_size, axis=0)[:m], catalog)
    writer.finalize()
    return path


def build_model(path, *, seed=0):
    """Save the paper's binary network, untrained, to ``path`` (once)."""
    path = Path(path)
    if not path.exists():
        import keras

        from deepshadows_lib.models import build_deepshadows
        from deepshadows_lib.training import save_model
        keras.utils.set_random_seed(seed)
        save_model(build_deepshadows(1, compile=False), path)
    return path


def _measure(fn):
    load0 = _harness.loadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"cutouts": n, "wall_s": wall, "cpu_s": cpu, "cutouts_per_s": n / wall,
            "cutouts_per_cpu_s": n / cpu, "cpu_utilisation": cpu / wall,
            "peak_rss_mb": _peak_mb(), "load_before": load0, "load_after": _harness.loadavg()}


def run_config(config, *, model, store, out, batch_size, forward_n, precision="float32"):
    """Run one configuration in this process; return its measures."""
    import pyarrow.parquet as pq

    from deepshadows_lib import classify, training
    from deepshadows_lib.store import open_store
    # an older library (--code) has no precision option: pass it only when asked for
    opt = {} if precision == "float32" else {"precision": precision}

    if config == "single":
        # warm-up on one chunk: TensorFlow start-up, model load and tracing are not the
        # throughput (they are reported apart)
        t0 = time.perf_counter()
        warm = classify.predict_images(classify.model._cached_model(str(model)) if hasattr(
            classify, "model") else classify._cached_model(str(model)),
            np.zeros((batch_size, 64, 64, 3), np.uint8), batch_size=batch_size, **opt)
        startup = time.perf_counter() - t0
        res = _measure(lambda: (classify.classify_store(
            model, store, out, batch_size=batch_size, progress=False, overwrite=True, **opt),
            int(pq.ParquetFile(out).metadata.num_rows))[1])
        res["startup_s"] = startup
        res["warm_rows"] = len(warm)
        return res
    if config == "local2":
        cluster, client = classify._start_local_cluster(2)
        try:
            res = _measure(lambda: (classify.classify_store(
                model, store, out, scheduler=client, tf_threads=max(1, _harness.cores() // 2),
                batch_size=batch_size, progress=False, overwrite=True, **opt),
                int(pq.ParquetFile(out).metadata.num_rows))[1])
            res["worker_peak_rss_mb"] = sorted(client.run(_peak_mb).values())
            res["note"] = "cpu_s counts the client process only"
        finally:
            client.close()
            cluster.close()
        return res
    images = open_store(store, lazy=True).images
    cs = int(images.chunks[0])
    if config == "read":
        def read_all():
            for start in range(0, images.shape[0], cs):
                np.asarray(images[start:start + cs])
            return int(images.shape[0])
        return _measure(read_all)
    if config == "forward":
        keras_model = training.load_model(model, compile=False)
        forward = training.inference_function(keras_model, fast=True, **opt)
        block = np.asarray(images[:cs])
        forward(block[:batch_size]).numpy()
        extra = {}
        if opt:  # how far the opt-in arithmetic is from float32 (untrained network)
            exact = training.inference_function(keras_model, fast=True)
            extra["max_abs_dp_vs_float32"] = float(max(
                np.abs(forward(block[b:b + batch_size]).numpy()
                       - exact(block[b:b + batch_size]).numpy()).max()
                for b in range(0, len(block), batch_size)))

        def forward_only():
            done = 0
            while done < forward_n:
                for b in range(0, len(block), batch_size):
                    forward(block[b:b + batch_size]).numpy()
                done += len(block)
            return done
        return {**_measure(forward_only), **extra}
    if config == "layers":
        return _layer_profile(training.load_model(model, compile=False),
                              np.asarray(images[:batch_size]), forward_n)
    raise ValueError(config)


def _layer_profile(keras_model, batch, n_cutouts):
    """CPU time of each stage of the network alone, per cutout, on ``batch``."""
    import tensorflow as tf

    def stage(fn, x):
        f = tf.function(fn)
        f(x).numpy()
        done, c0 = 0, time.process_time()
        while done < n_cutouts:
            out = f(x)
            out.numpy()
            done += len(batch)
        return (time.process_time() - c0) / done * 1e6, out

    rows = {}
    us, h = stage(lambda x: tf.cast(x, tf.float32), batch)
    rows["cast"] = {"cpu_us_per_cutout": us}
    for k in (1, 2, 3):
        kernel, bias = (tf.constant(v) for v in keras_model.get_layer(f"conv{k}").get_weights())
        us, out = stage(lambda x, w=kernel, b=bias: tf.nn.relu(
            tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), b)), h)
        flops = 2 * np.prod(out.shape[1:]) * np.prod(kernel.shape[:3])
        rows[f"conv{k}"] = {"cpu_us_per_cutout": us, "gflop_per_cpu_s": flops / us / 1e3}
        us, h = stage(lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), out)
        rows[f"pool{k}"] = {"cpu_us_per_cutout": us}
    w1, b1 = (tf.constant(v) for v in keras_model.get_layer("dense1").get_weights())
    us, _ = stage(lambda x: tf.nn.relu(tf.matmul(x, w1) + b1), tf.reshape(h, (len(batch), -1)))
    rows["dense1"] = {"cpu_us_per_cutout": us,
                      "gflop_per_cpu_s": 2 * np.prod(w1.shape) / us / 1e3}
    total = sum(r["cpu_us_per_cutout"] for r in rows.values())
    for r in rows.values():
        r["share"] = r["cpu_us_per_cutout"] / total
    return {"stages": rows, "sum_cpu_us_per_cutout": total, "batch_size": len(batch),
            "note": "each stage alone, float32, the unfolded layers' weights (the "
                    "folded graph runs the same convolutions)",
            "load_after": _harness.loadavg()}


def _child(args, config, code):
    env = dict(os.environ)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", config,
           "--n", str(args.n), "--chunk-size", str(args.chunk_size),
           "--batch-size", str(args.batch_size), "--forward-n", str(args.forward_n),
           "--workdir", str(args.workdir), "--precision", args.precision]
    if code:
        cmd += ["--code", str(code)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env,
                          cwd="/")
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"configuration {config} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _say(config, r):
    if "stages" in r:
        print(f"{config}: " + ", ".join(f"{k} {v['cpu_us_per_cutout']:.0f} us"
                                        for k, v in r["stages"].items())
              + f" (CPU per cutout; sum {r['sum_cpu_us_per_cutout']:.0f})", file=sys.stderr)
        return
    print(f"{config}: {r['cutouts_per_s']:.0f} cutouts/s wall, "
          f"{r['cutouts_per_cpu_s']:.0f} per CPU-second, peak {r['peak_rss_mb']:.0f} "
          f"MB, load {r['load_before']} -> {r['load_after']}", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="cutouts in the store")
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--precision", default="float32", choices=("float32", "bfloat16"),
                    help="the network's arithmetic (bfloat16: the opt-in)")
    ap.add_argument("--forward-n", type=int, default=50_000,
                    help="cutouts of the forward-only measure")
    ap.add_argument("--configs", default="single,forward,read",
                    help=f"comma-separated among {', '.join(CONFIGS)}")
    ap.add_argument("--workdir", default=str(REPO / "build" / "bench_classify"))
    ap.add_argument("--keep-store", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--code", default=None,
                    help="run the deepshadows_lib found in this directory instead")
    ap.add_argument("--before", default=None,
                    help="also run 'single' with the deepshadows_lib in this directory "
                         "(an older version), as runs['single_before']")
    ap.add_argument("--label", default=None, help="a name for this run in the JSON")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = Path(args.workdir).resolve()
    args.workdir = work
    store = work / f"store_n{args.n}_c{args.chunk_size}.zarr"
    model = work / "deepshadows_untrained.keras"

    if args.child:  # one configuration, in a fresh process
        if args.code:  # an older library: drop the installed (editable) one from the path
            sys.meta_path = [f for f in sys.meta_path
                             if "__editable__" not in type(f).__module__]
            sys.path.insert(0, str(Path(args.code).resolve()))
        res = run_config(args.child, model=model, store=store,
                         out=work / f"classify_{args.child}.parquet",
                         batch_size=args.batch_size, forward_n=args.forward_n,
                         precision=args.precision)
        print(json.dumps(res))
        return 0

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        ap.error(f"unknown configs {sorted(unknown)}; choose among {list(CONFIGS)}")
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build_store(store, n=args.n, chunk_size=args.chunk_size)
    store_s = time.perf_counter() - t0
    build_model(model)
    store_bytes = sum(p.stat().st_size for p in (store / "images").rglob("*") if p.is_file())

    runs = {}
    try:
        for config in configs:
            runs[config] = _child(args, config, args.code)
            (work / f"classify_{config}.parquet").unlink(missing_ok=True)
            r = runs[config]
            _say(config, r)
        if args.before:
            runs["single_before"] = _child(args, "single", args.before)
            (work / "classify_single.parquet").unlink(missing_ok=True)
            _say("single_before", runs["single_before"])
    finally:
        if not args.keep_store:
            shutil.rmtree(store, ignore_errors=True)

    result = {
        "benchmark": "classify", "label": args.label, "goal_cutouts_per_s": GOAL,
        "n": args.n, "chunk_size": args.chunk_size, "batch_size": args.batch_size,
        "precision": args.precision,
        "store": "synthetic: a seeded pool of random uint8 cutouts, smoothed along rows, "
                 "rolled per chunk, written with StoreWriter (not simulated images)",
        "store_gb_uint8": args.n * 64 * 64 * 3 / 1e9,
        "store_gb_on_disk": store_bytes / 1e9, "store_build_s": store_s,
        "model": "DeepShadows binary, untrained (4,220,385 parameters)",
        "code": args.code or "installed", "before": args.before,
        "cpus": _harness.cores(), "machine": platform.machine(), "processor": _harness.cpu_model(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": runs,
    }
    if "single" in runs:
        single = runs["single"]
        # On 2 dedicated cores the process could use both: its CPU time per cutout
        # bounds what it would reach there (an estimate, labelled as such).
        result["single_cutouts_per_s_if_all_cpus_free_estimate"] = (
            single["cutouts_per_cpu_s"] * result["cpus"])
        if args.n != 1_000_000:  # labelled: a rate measured on n, applied to 10^6
            result["single_wall_s_for_1e6_extrapolated_from_n"] = 1e6 / single["cutouts_per_s"]
        if "single_before" in runs:
            result["before"] = args.before
            result["single_per_cpu_s_after_over_before"] = (
                single["cutouts_per_cpu_s"] / runs["single_before"]["cutouts_per_cpu_s"])
        if "forward" in runs:
            result["single_over_forward_per_cpu_s"] = (single["cutouts_per_cpu_s"]
                                                       / runs["forward"]["cutouts_per_cpu_s"])
    text = json.dumps(_rounded(result), indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def _rounded(obj):
    if isinstance(obj, float):  # three decimals, or four significant digits below 1
        return round(obj, 3) if abs(obj) >= 1 else float(f"{obj:.4g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


if __name__ == "__main__":
    sys.exit(main())

"""Training throughput: our tf.data path against a plain ``model.fit`` on a float64 array.

The original notebooks divide the whole data set by 255 in float64 and hand the array to
``model.fit(x, y, batch_size=64, shuffle=True)``.  Our path keeps the cutouts uint8 and
scales each batch inside tf.data (:func:`deepshadows_lib.training.make_dataset`).  Both
train the paper's network (4,220,385 parameters, Adadelta, op determinism on) on the same
random uint8 cutouts.

The machine is shared, so the two paths are timed in alternation, one epoch each per
round, after an untimed warm-up epoch each; the ratio is the median of the per-round
ratios, which cancels slow drifts in the load.  XLA is not timed: Keras turns
``jit_compile`` off whenever TensorFlow's op determinism is on.

Prints one JSON object (images/s of each path, the ratio, bytes of input held in memory).

    python bench/bench_training.py [--n 1024] [--rounds 4]
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="training cutouts (default 1024)")
    ap.add_argument("--rounds", type=int, default=4,
                    help="timed epochs per path, alternating (default 4)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from deepshadows_lib import training
    from deepshadows_lib.models import build_deepshadows, compile_deepshadows

    training.configure_threads()
    training.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    images = rng.integers(0, 256, size=(args.n, 64, 64, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, size=args.n)

    x64 = images.astype(np.float64) / 255.0  # what the original held in memory
    plain = compile_deepshadows(build_deepshadows(compile=False), jit_compile=False)
    ours = compile_deepshadows(build_deepshadows(compile=False), jit_compile=False)
    ds = training.make_dataset(images, labels, batch_size=args.batch_size, shuffle=True,
                               seed=args.seed)
    runs = {
        "plain": lambda: plain.fit(x64, labels, batch_size=args.batch_size, epochs=1,
                                   shuffle=True, verbose=0),
        "ours": lambda: ours.fit(ds, epochs=1, shuffle=False, verbose=0),
    }
    for run in runs.values():
        run()  # warm-up: tracing and thread pools, not timed
    rates = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            rates[name].append(args.n / (time.perf_counter() - t0))
    ratios = np.array(rates["ours"]) / np.array(rates["plain"])
    result = {
        "n_images": args.n, "rounds": args.rounds, "batch_size": args.batch_size,
        "timed_steps_per_path": -(-args.n // args.batch_size) * args.rounds,
        "cpus": training._n_cpus(), "load_average_1min": os.getloadavg()[0],
        "tensorflow": tf.__version__, "python": platform.python_version(),
        "plain_fit_float64_images_per_s": float(np.median(rates["plain"])),
        "ours_images_per_s": float(np.median(rates["ours"])),
        "ours_vs_plain_ratio": float(np.median(ratios)),
        "plain_input_bytes": int(x64.nbytes), "ours_input_bytes": int(images.nbytes),
    }
    json.dump({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()},
              sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

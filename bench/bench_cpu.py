"""CNN training and prediction throughput against the machine's matmul peak, in one run.

Measures, in this process and alternating between the contenders so that a shared,
noisy machine affects all of them alike:

* the float32 matmul peak (2048 x 2048, TensorFlow, best of several);
* training images/s of the paper's network (batch 64, Adadelta, op determinism on):
  ``plain`` -- the original pattern, ``model.fit`` on an in-memory float64 array;
  ``keras_ops`` -- our uint8 tf.data input with Keras' own batch norm and Adadelta;
  ``ours`` -- the library's path (:func:`deepshadows_lib.training.make_dataset`,
  fused batch norm and fused Adadelta);
* achieved GFLOP/s of training (analytic FLOPs of the network, training = 3x forward)
  as a fraction of the matmul peak;
* prediction cutouts/s: ``model.predict`` on a float32 array against
  :func:`deepshadows_lib.training.predict` on uint8 (folded batch norm), and the
  largest difference of their probabilities.

Prints one JSON object; :func:`run` returns it.

    python bench/bench_cpu.py [--n-train 1024] [--rounds 3] [--n-predict 4096]
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def forward_flops(model):
    """Multiply-adds x 2 of one forward pass, from the layers (conv, dense, BN, pool)."""
    import keras
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            kh, kw = layer.kernel_size
            flops += 2 * h * w * kh * kw * layer.input.shape[-1] * cout
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * layer.input.shape[-1] * layer.units
        elif isinstance(layer, (keras.layers.BatchNormalization, keras.layers.MaxPooling2D)):
            flops += 2 * int(np.prod(layer.input.shape[1:]))
    return int(flops)


def matmul_peak(n=2048, repeats=7):
    """Best GFLOP/s of an n x n float32 matmul in TensorFlow."""
    import tensorflow as tf
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda: tf.matmul(a, b))
    f().numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f().numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def run(*, n_train=1024, rounds=3, n_predict=4096, seed=0):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from deepshadows_lib import training
    from deepshadows_lib.models import build_deepshadows, compile_deepshadows

    training.configure_threads()
    training.set_seed(seed)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n_train, 64, 64, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, size=n_train)
    x64 = images.astype(np.float64) / 255.0
    models = {name: compile_deepshadows(build_deepshadows(compile=False), jit_compile=False,
                                        fused=(name == "ours"))
              for name in ("plain", "keras_ops", "ours")}
    ds = training.make_dataset(images, labels, batch_size=64, shuffle=True, seed=seed)
    runs = {
        "plain": lambda: models["plain"].fit(x64, labels, batch_size=64, epochs=1,
                                             shuffle=True, verbose=0),
        "keras_ops": lambda: models["keras_ops"].fit(ds, epochs=1, verbose=0),
        "ours": lambda: models["ours"].fit(ds, epochs=1, verbose=0),
    }
    for r in runs.values():
        r()  # tracing, thread pools
    peaks, rates = [], {k: [] for k in runs}
    for _ in range(rounds):
        peaks.append(matmul_peak())
        for k, r in runs.items():
            t = time.perf_counter()
            r()
            rates[k].append(n_train / (time.perf_counter() - t))
    peak = float(max(peaks))
    flops = forward_flops(models["ours"])
    train = {k: float(np.median(v)) for k, v in rates.items()}

    # prediction: the same weights both ways (non-trivial batch-norm statistics)
    model = models["ours"]
    pimg = rng.integers(0, 256, size=(n_predict, 64, 64, 3), dtype=np.uint8)
    x32 = pimg.astype(np.float32) / 255.0
    p_keras = model.predict(x32, batch_size=256, verbose=0)[:, 0]
    p_ours = training.predict(model, pimg, batch_size=256)
    p_unfolded = training.predict(model, pimg, batch_size=256, fast=False)
    prates = {"keras_predict": [], "ours": [], "ours_unfolded": []}
    for _ in range(rounds):
        for k, f in (("keras_predict", lambda: model.predict(x32, batch_size=256, verbose=0)),
                     ("ours", lambda: training.predict(model, pimg, batch_size=256)),
                     ("ours_unfolded",
                      lambda: training.predict(model, pimg, batch_size=256, fast=False))):
            t = time.perf_counter()
            f()
            prates[k].append(n_predict / (time.perf_counter() - t))
    pred = {k: float(np.median(v)) for k, v in prates.items()}
    ratio = lambda a, b: float(np.median(np.array(a) / np.array(b)))  # noqa: E731
    return {
        "matmul_peak_gflops": peak,
        "forward_mflop_per_image": flops / 1e6,
        "train_mflop_per_image": 3 * flops / 1e6,
        "training_images_per_s": train,
        "training_gflops": {k: v * 3 * flops / 1e9 for k, v in train.items()},
        "training_fraction_of_peak": {k: v * 3 * flops / 1e9 / peak for k, v in train.items()},
        "training_ratio_ours_vs_plain": ratio(rates["ours"], rates["plain"]),
        "training_ratio_keras_ops_vs_plain": ratio(rates["keras_ops"], rates["plain"]),
        "training_ratio_fused_vs_keras_ops": ratio(rates["ours"], rates["keras_ops"]),
        "prediction_cutouts_per_s": pred,
        "prediction_ratio_ours_vs_keras_predict": ratio(prates["ours"],
                                                        prates["keras_predict"]),
        "prediction_ratio_folded_vs_unfolded": ratio(prates["ours"], prates["ours_unfolded"]),
        "prediction_fraction_of_peak": pred["ours"] * flops / 1e9 / peak,
        "prediction_max_abs_diff_vs_keras": float(np.abs(p_ours - p_keras).max()),
        "prediction_unfolded_max_abs_diff_vs_keras": float(np.abs(p_unfolded - p_keras).max()),
        "n_train": n_train, "n_predict": n_predict, "rounds": rounds, "batch_size": 64,
        "op_determinism": True, "load_average_1min": os.getloadavg()[0],
        "tensorflow": tf.__version__, "keras": keras.__version__,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-predict", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    res = run(n_train=a.n_train, rounds=a.rounds, n_predict=a.n_predict, seed=a.seed)
    json.dump(res, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training and prediction of the paper's network: the library against what a user writes.

Each contender runs in its own process, the two alternate (A B, B A, ...) for ``--pairs``
pairs, and the result is the median of the per-pair ratios with their min and max
(:mod:`bench._harness`).  The contenders:

``train_plain``
    What a user writes: the paper's network from ``keras.layers`` (Sequential), compiled
    with ``keras.optimizers.Adadelta(0.1)`` and binary cross-entropy, ``model.fit`` on a
    float32 numpy array in [0, 1], batch 64, Keras defaults otherwise (``verbose=0``: no
    progress bar to draw); no op determinism, no thread settings.
``train_library``
    The library as notebook 02 runs it on the default profile:
    :func:`deepshadows_lib.training.train_cnn` on the uint8 cutouts (op determinism on,
    its own thread settings, fused kernels, ``nn.fit``'s compiled epoch loop), with the
    profile's weight averaging (``ema_momentum``) and a validation pass at the end of
    every epoch over a held-out sixth as large as the training set (30,000 / 5,000 in
    notebook 02).  The validation pass is timed with its epoch but not counted as images trained: it
    counts against the library, which the plain contender does not have to do.
``predict_plain`` / ``predict_library``
    ``model.predict`` on the float32 array (Keras' default batch) against
    :func:`deepshadows_lib.training.predict` on uint8 (the folded path of ``classify``),
    on the same saved model; the largest difference of their probabilities is reported.
``matmul``
    The float32 matmul peak (2048 x 2048, TensorFlow's default threads, best of 7).

Both training contenders train on the same seeded random cutouts for ``--epochs``
epochs; the first (tracing, thread pools) is not timed.  Rates are images per wall
second and per CPU second of the process (the CPU time is less disturbed by the other
users of a shared machine).  FLOPs are counted from the layers (multiply-adds x 2 of the
convolutions and dense layers; training = forward + weight gradients + input gradients,
the first convolution has none).

Then ``--pairs-large`` more pairs of the training contenders with ``--n-large`` images
and 2 epochs (``training_at_scale``): longer epochs, nearer the notebooks' (notebook 02:
about 525 steps an epoch).

    python bench/bench_training.py [--pairs 5] [--n 4096] [--epochs 3] [--out FILE]
                                   [--n-large 16384] [--pairs-large 3]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness  # noqa: E402
from deepshadows_lib import paper  # noqa: E402  (pure numbers, no TensorFlow)
from deepshadows_lib.profiles import get_profile  # noqa: E402  (no TensorFlow either)

SCRIPT = "bench_training.py"
SHAPE = (64, 64, 3)
#: notebook 02 validates on a sixth as many objects as it trains on (5,000 / 30,000)
VALIDATION_FRACTION = 6
#: the profile whose training notebook 02 runs by default
DEFAULT = get_profile("default")


def network_flops(shape=SHAPE, filters=paper.FILTERS, dense=paper.DENSE_UNITS):
    """FLOPs per image of one forward pass and of one training step of the network."""
    h, w, c = shape
    convs = []
    for f in filters:
        convs.append(2 * h * w * 9 * c * f)
        h, w, c = h // 2, w // 2, f
    dense_flops = 2 * h * w * c * dense + 2 * dense * 1
    forward = sum(convs) + dense_flops
    return {"forward_mflop": forward / 1e6, "train_mflop": (3 * forward - convs[0]) / 1e6}


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, *SHAPE), dtype=np.uint8),
            rng.integers(0, 2, size=n))


def _cpu():
    return time.process_time()


class EpochTimer:
    """Wall and process-CPU seconds of each epoch (a Keras callback, built lazily)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.wall, self.cpu = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self.t, self.c = time.perf_counter(), _cpu()

            def on_epoch_end(self, epoch, logs=None):
                self.wall.append(time.perf_counter() - self.t)
                self.cpu.append(_cpu() - self.c)

        return _Timer()


def _rates(timer, n, flops):
    wall = float(np.sum(timer.wall[1:]))
    cpu = float(np.sum(timer.cpu[1:]))
    timed = n * (len(timer.wall) - 1)
    ips = timed / wall
    return {"images_per_s": ips, "images_per_cpu_s": timed / cpu, "epoch_wall_s": timer.wall,
            "epoch_cpu_s": timer.cpu, "gflops": ips * flops["train_mflop"] / 1e3,
            "cpu_utilisation": cpu / wall}


def plain_model():
    """The paper's network as a user writes it from keras.layers."""
    import keras
    from keras import layers, regularizers
    model = keras.Sequential([keras.Input(shape=SHAPE)])
    for f in paper.FILTERS:
        model.add(layers.Conv2D(f, (3, 3), padding="same", activation="relu",
                                kernel_regularizer=regularizers.L2(paper.CONV_L2)))
        model.add(layers.BatchNormalization())
        model.add(layers.MaxPooling2D((2, 2)))
        model.add(layers.Dropout(paper.DROPOUT))
    model.add(layers.Flatten())
    model.add(layers.Dense(paper.DENSE_UNITS, activation="relu",
                           kernel_regularizer=regularizers.L2(paper.DENSE_L2)))
    model.add(layers.Dense(1, activation="sigmoid"))
    return model


def train_plain(n, epochs, seed):
    import keras
    images, labels = data(n, seed)
    x = images.astype("float32") / 255.0
    model = plain_model()
    model.compile(optimizer=keras.optimizers.Adadelta(paper.LEARNING_RATE),
                  loss="binary_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x, labels, batch_size=paper.BATCH_SIZE, epochs=epochs, verbose=0,
              callbacks=[timer])
    return _rates(timer, n, network_flops())


def train_library(n, epochs, seed, **kwargs):
    """``training.train_cnn`` as notebook 02 calls it, with an epoch timer added to its
    ``fit`` (a callback at epoch boundaries only; nothing else changes)."""
    from deepshadows_lib import training
    fit_module = sys.modules[training.train_cnn.__module__]
    original_fit = fit_module.fit
    timer = EpochTimer()

    def timed_fit(*a, callbacks=None, **k):
        return original_fit(*a, callbacks=[timer, *(callbacks or [])], **k)

    fit_module.fit = timed_fit
    # random cutouts, as the plain contender's; the validation rows after the training rows
    n_val = n // VALIDATION_FRACTION
    images, labels = data(n + n_val, seed)
    kwargs = {"ema_momentum": DEFAULT.ema_momentum, **kwargs}
    try:
        training.train_cnn(images, labels, train_idx=np.arange(n),
                           val_idx=np.arange(n, n + n_val), epochs=epochs,
                           batch_size=paper.BATCH_SIZE, learning_rate=paper.LEARNING_RATE,
                           seed=seed, progress=False, checkpoint=None, **kwargs)
    finally:
        fit_module.fit = original_fit
    return _rates(timer, n, network_flops())


def make_model(path, seed):
    """A saved DeepShadows model with non-trivial batch-norm statistics."""
    import keras

    from deepshadows_lib import models
    keras.utils.set_random_seed(seed)
    model = models.build_deepshadows(1)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            k = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.3, 0.1, k).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.05, 0.5, k).astype("float32"))
            layer.gamma.assign(rng.normal(1.0, 0.1, k).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.1, k).astype("float32"))
    model.save(path)
    return {"model": str(path)}


def _predict(kind, model_path, n, seed, out, repeats=3):
    import keras
    images, _ = data(n, seed + 1)
    if kind == "plain":
        model = keras.models.load_model(model_path)
        x = images.astype("float32") / 255.0  # not timed: the conversion favours plain
        run = lambda: model.predict(x, verbose=0)[:, 0]  # noqa: E731
        run_small = lambda: model.predict(x[:64], verbose=0)  # noqa: E731
    else:
        from deepshadows_lib import training
        model = training.load_model(model_path, verify=False)
        run = lambda: training.predict(model, images)  # noqa: E731
        run_small = lambda: training.predict(model, images[:256])  # noqa: E731
    run_small()  # tracing
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), _cpu()
        p = run()
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    np.save(out, np.asarray(p, dtype=np.float64))
    wall = float(np.median(walls))
    return {"images_per_s": n / wall, "images_per_cpu_s": n / float(np.median(cpus)),
            "wall_s": walls, "cpu_s": cpus,
            "gflops": n / wall * network_flops()["forward_mflop"] / 1e3}


def matmul_peak(n=2048, repeats=15):
    """The float32 matmul rate: best per wall second and best per CPU second.

    On a shared machine the wall-time peak drops with the load; the rate per CPU second
    of the process (all its threads) does not, and times the cores it is the peak of the
    idle machine.
    """
    import tensorflow as tf
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda: tf.matmul(a, b))
    f().numpy()
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), _cpu()
        f().numpy()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, _cpu() - c)
    flop = 2 * n ** 3
    return {"gflops": flop / wall / 1e9, "gflops_per_cpu_s": flop / cpu / 1e9,
            "threads": tf.config.threading.get_intra_op_parallelism_threads() or None}


def contender(a):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if a.contender == "train_plain":
        res = train_plain(a.n, a.epochs, a.seed)
    elif a.contender == "train_library":
        res = train_library(a.n, a.epochs, a.seed)
    elif a.contender == "make_model":
        res = make_model(a.model, a.seed)
    elif a.contender in ("predict_plain", "predict_library"):
        res = _predict(a.contender.split("_")[1], a.model, a.n, a.seed, a.probabilities)
    elif a.contender == "matmul":
        res = matmul_peak()
    else:
        raise SystemExit(f"unknown contender {a.contender!r}")
    import keras
    import tensorflow as tf
    res.update(contender=a.contender, n=a.n, tensorflow=tf.__version__,
               keras=keras.__version__)
    _harness.emit(res)


def run(*, pairs=5, n=4096, epochs=3, n_predict=4096, seed=0, n_large=16384,
        pairs_large=3, log=print):
    """Every measurement of this benchmark; a dict for ``bench/results.json``."""
    flops = network_flops()
    log("matmul peak ...")
    mm = [_harness.run_contender(SCRIPT, "matmul")]
    log(f"training: {pairs} pairs of train_plain / train_library, {n} images, {epochs} "
        "epochs (first not timed)")
    train = _harness.interleaved_pairs(SCRIPT, "train_plain", "train_library", pairs=pairs,
                                       args=["--n", n, "--epochs", epochs, "--seed", seed],
                                       key="images_per_s", log=log)
    cpu_ratios = [b["images_per_cpu_s"] / a["images_per_cpu_s"]
                  for a, b in zip(train["runs"]["train_plain"], train["runs"]["train_library"])]
    train["ratio_per_cpu_s"] = _harness.summary(cpu_ratios)
    large = None
    if n_large:
        # longer epochs, nearer the notebooks' (notebook 02: about 525 steps): what is
        # paid once per epoch (validation, Keras' per-epoch iterator) weighs less there
        log(f"training at scale: {pairs_large} pairs, {n_large} images, 2 epochs (first "
            "not timed)")
        large = _harness.interleaved_pairs(
            SCRIPT, "train_plain", "train_library", pairs=pairs_large,
            args=["--n", n_large, "--epochs", 2, "--seed", seed], key="images_per_s",
            log=log)
        large["ratio_per_cpu_s"] = _harness.summary(
            [b["images_per_cpu_s"] / a["images_per_cpu_s"]
             for a, b in zip(large["runs"]["train_plain"], large["runs"]["train_library"])])
        large.update(n_train=n_large, epochs=2, timed_epochs=1)
    mm.append(_harness.run_contender(SCRIPT, "matmul"))
    peak = max(m["gflops"] for m in mm)
    peak_cpu = max(m["gflops_per_cpu_s"] for m in mm)
    for t in (train, large):
        for name in ("train_plain", "train_library"):
            if t is None:
                continue
            g = [r["gflops"] for r in t["runs"][name]]
            t[f"{name}_fraction_of_peak"] = _harness.summary(np.array(g) / peak)
            # load-independent: GFLOP per CPU second of the training against the matmul's
            g_cpu = [r["images_per_cpu_s"] * flops["train_mflop"] / 1e3
                     for r in t["runs"][name]]
            t[f"{name}_fraction_of_peak_per_cpu_s"] = _harness.summary(
                np.array(g_cpu) / peak_cpu)
    with tempfile.TemporaryDirectory(prefix="deepshadows-bench-") as tmp:
        path = Path(tmp) / "model.keras"
        _harness.run_contender(SCRIPT, "make_model", ["--model", path, "--seed", seed])
        log(f"prediction: {pairs} pairs of predict_plain / predict_library, {n_predict} images")
        args = ["--model", path, "--n", n_predict, "--seed", seed]
        pred = _harness.interleaved_pairs(
            SCRIPT, "predict_plain", "predict_library", pairs=pairs, args=args,
            args_a=["--probabilities", Path(tmp) / "plain.npy"],
            args_b=["--probabilities", Path(tmp) / "library.npy"], key="images_per_s",
            log=log)
        pred["max_abs_diff"] = float(np.abs(np.load(Path(tmp) / "plain.npy")
                                            - np.load(Path(tmp) / "library.npy")).max())
    pred["ratio_per_cpu_s"] = _harness.summary(
        [b["images_per_cpu_s"] / a["images_per_cpu_s"]
         for a, b in zip(pred["runs"]["predict_plain"], pred["runs"]["predict_library"])])
    pred["predict_library_fraction_of_peak_per_cpu_s"] = _harness.summary(
        np.array([r["images_per_cpu_s"] * flops["forward_mflop"] / 1e3
                  for r in pred["runs"]["predict_library"]]) / peak_cpu)
    return {"training": train, **({"training_at_scale": large} if large else {}),
            "prediction": pred, "matmul_peak_gflops": peak,
            "matmul_peak_gflops_per_cpu_s": peak_cpu, "matmul": mm, "flops": flops, "n_train": n, "epochs": epochs,
            "timed_epochs": epochs - 1, "n_predict": n_predict, "pairs": pairs,
            "batch_size": paper.BATCH_SIZE, **_harness.stamp(),
            "loadavg_end": _harness.loadavg(), "cpu_flags": _harness.cpu_flags()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contender", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--probabilities", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--n-predict", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-large", type=int, default=16384,
                    help="training set of the pairs at scale (0: none)")
    ap.add_argument("--pairs-large", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the result to this JSON file")
    a = ap.parse_args(argv)
    if a.contender:
        contender(a)
        return 0
    res = run(pairs=a.pairs, n=a.n, epochs=a.epochs, n_predict=a.n_predict, seed=a.seed,
              n_large=a.n_large, pairs_large=a.pairs_large,
              log=lambda s: print(s, file=sys.stderr, flush=True))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    _harness.emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())

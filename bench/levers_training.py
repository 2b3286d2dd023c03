"""Where a training step of the paper's network goes on this CPU, and the levers on it.

Writes ``bench/levers_training.json`` (and prints it).  Parts:

``profile``
    One process, the library's settings (fused batch norm and Adadelta, its threads,
    op determinism): forward and forward+backward milliseconds of every layer on a
    batch of 64, the optimizer update, the input pipeline per batch, and the whole
    training step, from Keras' ``fit`` and from the library's ``nn.fit``; what the
    layers do not account for is the per-step overhead.  A ceiling: the step's FLOPs at
    the matmul peak (measured in the same process) plus the layers that do no matmul
    and the update at their measured times.  Also the first convolution with its 3
    input channels padded to 4, 8 and 16 (weight gradient only, as in training).
``levers``
    Each lever against the library as notebook 02 runs it (``train_library`` of
    :mod:`bench_training`), own processes, interleaved pairs, ratio lever / library:
    ``nondeterministic`` (op determinism off), ``bf16`` (Keras' ``mixed_bfloat16``:
    oneDNN's bfloat16 kernels on AVX512-BF16), ``step`` (one ``tf.function`` per epoch,
    :mod:`deepshadows_lib.nn.train_step`, with its own loss and dropout stream; the
    library's ``nn.fit`` runs Keras' step in a compiled loop per epoch already,
    :mod:`deepshadows_lib.nn.epoch_loop`) and ``step_xla`` (the same compiled with XLA, op
    determinism off).
``threads``
    Two single-threaded trainings side by side (each pinned to one core) against one
    two-threaded training: total images/s.
``bf16_accuracy``
    Test accuracy of short trainings in float32 and in mixed bfloat16 (3 seeds each) on
    a learnable set (a faint central glow), to see whether bfloat16 stays within the
    seed-to-seed noise of float32.

A lever whose contender fails or runs past its time limit is recorded as ``incomplete``
(with the reason) and the run goes on to the next part.  ``--parts`` runs some parts
only; with ``--out`` naming an existing file, the other parts are kept from it.

    python bench/levers_training.py [--pairs 3] [--n 2048] [--epochs 3] [--out FILE]
                                    [--parts profile,levers,threads,bf16_accuracy]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness  # noqa: E402
import bench_training as bt  # noqa: E402
from deepshadows_lib import paper  # noqa: E402

SCRIPT = "levers_training.py"
LEVERS = ("nondeterministic", "bf16", "step", "step_xla")
PARTS = ("profile", "levers", "threads", "bf16_accuracy")


# --------------------------------------------------------------------------- contenders
def train_step(n, epochs, seed, *, xla=False):
    """The library's model and settings, trained by nn_train_step.train_epochs."""
    from deepshadows_lib import models, training
    from deepshadows_lib.nn import train_step as nn_train_step
    training.configure_threads()
    training.set_seed(seed, deterministic=not xla)
    model = models.compile_deepshadows(models.build_deepshadows(1, compile=False),
                                       jit_compile=False)
    images, labels = bt.data(n, seed)
    walls, cpus = [], []
    state = {}

    def cb(epoch, logs):
        walls.append(logs["seconds"])
        cpus.append(bt._cpu() - state["c"])
        state["c"] = bt._cpu()

    state["c"] = bt._cpu()
    nn_train_step.train_epochs(model, images, labels, epochs=epochs, seed=seed,
                               jit_compile=xla, callback=cb)
    timer = type("T", (), {"wall": walls, "cpu": cpus})
    return bt._rates(timer, n, bt.network_flops())


def accuracy(precision, seeds, n_train, n_test, epochs):
    from deepshadows_lib import bn_stats, training
    images, y = _harness.faint_glow_set(n_train + n_test, 123)
    train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    out = []
    for s in seeds:
        model, hist = training.train_cnn(images, y, train_idx=train, epochs=epochs, seed=s,
                                         progress=False, checkpoint=None,
                                         mixed_precision=(precision == "bf16"))
        # the moving batch-norm statistics lag the weights after a short training
        bn_stats.reestimate_batch_norm(model, images, indices=train)
        p = training.predict(model, images, indices=test)
        out.append(float(np.mean((p > 0.5) == y[test])))
    return {"accuracy": out, "seeds": list(seeds)}


def profile(seed=0, repeats=15):
    """Milliseconds per batch of 64 of each part of a training step."""
    import keras
    import tensorflow as tf

    from deepshadows_lib import models, training
    training.configure_threads()
    training.set_seed(seed)
    b = paper.BATCH_SIZE
    model = models.compile_deepshadows(models.build_deepshadows(1, compile=False),
                                       jit_compile=False)
    images, labels = bt.data(1024, seed)

    def best(f, *args):
        f(*args)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            r = f(*args)
            (r[0] if isinstance(r, (list, tuple)) else r).numpy()
            ts.append(time.perf_counter() - t)
        return 1e3 * float(np.median(ts))

    x = tf.constant(images[:b].astype("float32") / 255.0)
    layers, rows = model.layers[1:], []
    for i, layer in enumerate(layers):
        fwd = tf.function(lambda v, L=layer: L(v, training=True))
        y = fwd(x)
        g = tf.random.normal(tf.shape(y))

        def fb(v, L=layer, g=g, first=(i == 0)):
            # training needs no gradient of the input images: the first layer's is skipped
            with tf.GradientTape() as tape:
                tape.watch(v)
                out = L(v, training=True)
                s = tf.reduce_sum(out * g)
            wrt = list(L.trainable_weights) if first else [v, *L.trainable_weights]
            return tape.gradient(s, wrt)

        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "input": list(x.shape), "forward_ms": best(fwd, x),
                     "forward_backward_ms": best(tf.function(fb), x)})
        x = y
    total_layers = sum(r["forward_backward_ms"] for r in rows)
    # the optimizer update of all weights (fused Adadelta)
    opt = model.optimizer
    opt.build(model.trainable_variables)
    grads = [tf.random.normal(v.shape) * 1e-3 for v in model.trainable_variables]
    update = tf.function(lambda: opt.apply(grads, model.trainable_variables) or tf.constant(0))
    update_ms = best(update)
    # the input pipeline alone: one batch of make_dataset
    ds = training.make_dataset(images, labels, batch_size=b, shuffle=True, seed=seed)
    t = time.perf_counter()
    k = 0
    for _ in range(3):
        for _xb, _yb in ds:
            k += 1
    data_ms = 1e3 * (time.perf_counter() - t) / k
    # the whole Keras step, from Keras' fit
    timer = bt.EpochTimer()
    model.fit(ds, epochs=3, verbose=0, callbacks=[timer])
    steps = -(-len(images) // b)
    step_ms = 1e3 * float(np.median(timer.wall[1:])) / steps
    # the same step in the library's nn.fit (one compiled loop per epoch, nn.epoch_loop)
    timer = bt.EpochTimer()
    training.fit(model, ds, epochs=3, progress=False, callbacks=[timer])
    loop_step_ms = 1e3 * float(np.median(timer.wall[1:])) / steps
    peak = bt.matmul_peak()["gflops"]
    # the first convolution with its input channels padded (weight gradient only)
    pad = {}
    for cin in (3, 4, 8, 16):
        xin = tf.random.uniform((b, 64, 64, cin))
        w = tf.Variable(tf.random.normal((3, 3, cin, paper.FILTERS[0])))

        def conv1(v, w=w):
            with tf.GradientTape() as tape:
                out = tf.nn.relu(tf.nn.conv2d(v, w, 1, "SAME"))
                s = tf.reduce_sum(out)
            return tape.gradient(s, [w])

        pad[str(cin)] = {"forward_ms": best(tf.function(lambda v, w=w: tf.nn.conv2d(
            v, w, 1, "SAME")), xin), "forward_weight_gradient_ms": best(tf.function(conv1), xin)}
    flops = bt.network_flops()
    by_type = {}
    for r in rows:
        by_type[r["type"]] = by_type.get(r["type"], 0.0) + r["forward_backward_ms"]
    # a ceiling: every FLOP of the step at the matmul's peak, and the layers that do no
    # matmul (batch norm, max-pool, dropout, flatten) and the update at their own times
    memory_bound_ms = update_ms + sum(v for k, v in by_type.items()
                                      if k not in ("Conv2D", "Dense"))
    step_gflop = b * flops["train_mflop"] / 1e3
    at_peak_ms = 1e3 * step_gflop / peak
    return {"layers": rows, "by_type_ms": by_type, "layers_total_ms": total_layers,
            "optimizer_update_ms": update_ms, "input_pipeline_ms_per_batch": data_ms,
            "keras_step_ms": step_ms, "library_step_ms": loop_step_ms,
            "unaccounted_ms": step_ms - total_layers - update_ms,
            "step_gflops": b * flops["train_mflop"] / step_ms,
            "library_step_gflops": b * flops["train_mflop"] / loop_step_ms,
            "matmul_peak_gflops": peak, "memory_bound_ms": memory_bound_ms,
            "flops_at_peak_ms": at_peak_ms,
            "ceiling_fraction_of_peak": step_gflop / ((memory_bound_ms + at_peak_ms) / 1e3)
            / peak,
            "conv1_padded_channels": pad, "keras": keras.__version__,
            "tensorflow": tf.__version__, "batch_size": b, "repeats": repeats}


def contender(a):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    c = a.contender
    if c == "library":
        res = bt.train_library(a.n, a.epochs, a.seed)
    elif c == "nondeterministic":
        res = bt.train_library(a.n, a.epochs, a.seed, deterministic=False)
    elif c == "bf16":
        res = bt.train_library(a.n, a.epochs, a.seed, mixed_precision=True)
    elif c in ("step", "step_xla"):
        res = train_step(a.n, a.epochs, a.seed, xla=(c == "step_xla"))
    elif c == "profile":
        res = profile(a.seed)
    elif c.startswith("accuracy_"):
        res = accuracy(c.split("_")[1], seeds=(0, 1, 2), n_train=a.n, n_test=1024,
                       epochs=a.epochs)
    else:
        raise SystemExit(f"unknown contender {c!r}")
    res["contender"] = c
    res["cpu_time_s"] = time.process_time()
    _harness.emit(res)


# --------------------------------------------------------------------------- driver
def _pinned(core, args):
    cmd = ["taskset", "-c", str(core), _harness.PY, str(_harness.REPO / "bench" / SCRIPT),
           "--contender", "library", *map(str, args)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(_harness.REPO))
    return subprocess.Popen(cmd, cwd=_harness.REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)


def threads(args, rounds):
    """Total images/s: one 2-thread training against two 1-thread ones side by side."""
    out = {"one_two_threaded": [], "two_single_threaded": [], "loadavg_before": _harness.loadavg()}
    for _ in range(rounds):
        out["one_two_threaded"].append(
            _harness.run_contender(SCRIPT, "library", args)["images_per_s"])
        procs = [_pinned(core, args) for core in (0, 1)]
        rates = []
        for p in procs:
            text, _ = p.communicate(timeout=1800)
            rates.append(json.loads([ln for ln in text.splitlines()
                                     if ln.startswith("{")][-1])["images_per_s"])
        out["two_single_threaded"].append(sum(rates))
    r = np.array(out["two_single_threaded"]) / np.array(out["one_two_threaded"])
    out["ratio_two_single_over_one_double"] = _harness.summary(r)
    out["loadavg_after"] = _harness.loadavg()
    return out


def run(*, pairs=3, n=2048, epochs=3, quick=False, log=print, save=None, parts=PARTS,
        previous=None):
    """The ``parts``; ``save(res)`` is called after each, so a killed run keeps the parts
    it measured.  ``previous`` (an earlier result) supplies the parts not run."""
    save = save or (lambda res: None)
    args = ["--n", n, "--epochs", epochs]
    res = dict(previous or {})
    res.update({**_harness.stamp(), "n_train": n, "epochs": epochs,
                "timed_epochs": epochs - 1, "pairs": pairs, "cpu_flags": _harness.cpu_flags()})
    if previous:
        # when each part was measured, through any number of partial runs
        when = {p: previous.get("date") for p in PARTS if p in previous}
        when.update(previous.get("parts_kept", {}))
        when.update(previous.get("parts_run", {}))
        res["parts_run"] = {p: res["date"] for p in parts}
        res["parts_kept"] = {p: when[p] for p in PARTS if p not in parts and p in when}
    if "profile" in parts:
        log("profile ...")
        res["profile"] = _harness.run_contender(SCRIPT, "profile", ["--seed", 0])
        save(res)
    if "levers" in parts:
        _levers(res, args, pairs, n, log, save)
    if "threads" in parts and _harness.cores() >= 2:
        log("threads: two single-threaded trainings against one two-threaded")
        res["threads"] = threads(args, rounds=max(1, pairs))
        save(res)
    if "bf16_accuracy" in parts:
        _bf16_accuracy(res, quick, log)
    res["loadavg_end"] = _harness.loadavg()
    save(res)
    return res


def _levers(res, args, pairs, n, log, save):
    res["levers"] = {}
    for lever in LEVERS:
        lever_args, lever_pairs = args, pairs
        if lever == "step_xla":
            # XLA's CPU convolutions are several times slower than oneDNN's: one small
            # pair says so without holding the benchmark up for half an hour
            lever_args, lever_pairs = ["--n", min(n, 512), "--epochs", 2], 1
        log(f"lever {lever}: {lever_pairs} pairs against the library")
        try:
            r = _harness.interleaved_pairs(SCRIPT, "library", lever, pairs=lever_pairs,
                                           args=lever_args, key="images_per_s", log=log)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            reason = str(exc).splitlines()[0]
            log(f"  {lever} incomplete: {reason}")
            res["levers"][lever] = {"incomplete": reason, "n_train": lever_args[1],
                                    "epochs": lever_args[3]}
            save(res)
            continue
        r["ratio_per_cpu_s"] = _harness.summary(
            [b["images_per_cpu_s"] / a["images_per_cpu_s"]
             for a, b in zip(r["runs"]["library"], r["runs"][lever])])
        r["n_train"], r["epochs"] = lever_args[1], lever_args[3]
        res["levers"][lever] = r
        save(res)


def _bf16_accuracy(res, quick, log):
    log("bfloat16 accuracy")
    acc_args = ["--n", 256 if quick else 2048, "--epochs", 2 if quick else 3]
    f32 = _harness.run_contender(SCRIPT, "accuracy_f32", acc_args)
    bf16 = _harness.run_contender(SCRIPT, "accuracy_bf16", acc_args)
    res["bf16_accuracy"] = {
        "float32": f32["accuracy"], "mixed_bfloat16": bf16["accuracy"],
        "mean_difference": float(np.mean(bf16["accuracy"]) - np.mean(f32["accuracy"])),
        "float32_seed_spread": float(np.ptp(f32["accuracy"])),
        "n_train": acc_args[1], "n_test": 1024, "epochs": acc_args[3]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contender", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a check that it runs)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated, among {', '.join(PARTS)} (default: all)")
    a = ap.parse_args(argv)
    if a.contender:
        contender(a)
        return 0
    if a.quick:
        a.pairs, a.n, a.epochs = 1, 256, 2
    def save(res):
        if a.out:
            from deepshadows_lib._io import atomic_write_json
            atomic_write_json(Path(a.out), res)

    parts = tuple(p for p in a.parts.split(",") if p)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; choose among {', '.join(PARTS)}")
    previous = None
    if a.out and Path(a.out).is_file() and set(parts) != set(PARTS):
        previous = json.loads(Path(a.out).read_text())
    res = run(pairs=a.pairs, n=a.n, epochs=a.epochs, quick=a.quick, save=save,
              log=lambda s: print(s, file=sys.stderr, flush=True), parts=parts,
              previous=previous)
    _harness.emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())

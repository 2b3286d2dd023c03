"""Measure weight averaging (``ema_momentum``) for the default profile's choice.

One training per call: the paper's network and optimiser on a random split of a
synthetic store, with the step budget of the default profile, and Keras' moving average
of the weights (``use_ema``).  Averaging does not change the path of the raw weights, so
the last step's weights (kept by a callback before ``fit`` swaps in the average) and the
averaged weights are both scored from the same training, each after re-estimating the
batch-norm statistics on the training images.  ``--noise`` flips that fraction of the
training labels at random.

    .venv/bin/python bench/weight_averaging.py --seed 42 --momentum 0.99 \\
        --out bench/weight_averaging.json

Each call appends one record (accuracy, AUC and the fraction predicted LSBG of the test
set, both ways, wall time and load) to ``--out``.  The default profile's choice came from
seeds 1, 42 and 96 at momentum 0.99, seeds 42 and 96 at 0.995, and seed 42 with a third of the
labels flipped, run two or three at a time with one thread each.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--n-per-class", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=2100)
    ap.add_argument("--momentum", type=float, default=0.99)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--store", default="build/bench/weight_averaging_des.zarr")
    ap.add_argument("--out", default="bench/weight_averaging.json")
    args = ap.parse_args()

    from deepshadows_lib import bn_stats, catalogs, evaluate, notebook
    from deepshadows_lib._io import atomic_write_json
    from deepshadows_lib.nn import (build_deepshadows, compile_deepshadows,
                                    configure_threads, fit, make_dataset, predict, set_seed)
    configure_threads(intra_op=args.threads, inter_op=1)
    import keras

    store = notebook.simulated_store(args.store, n_per_class=args.n_per_class, survey="des",
                                     classes=("lsbg", "artifact2"), seed=42, progress=False)
    prob = notebook.load_problem(store, seed=42)
    split = catalogs.random_split(len(prob.labels), seed=args.seed)
    tr, te = split["train"], split["test"]
    epochs = max(1, round(args.steps / -(-len(tr) // 64)))
    labels = prob.labels.copy()
    if args.noise:
        flip = np.random.default_rng(args.seed).choice(
            tr, size=int(round(args.noise * len(tr))), replace=False)
        labels[flip] = 1 - labels[flip]

    set_seed(args.seed)
    model = build_deepshadows(1, compile=False)
    compile_deepshadows(model, ema_momentum=args.momentum)
    last = {}

    class KeepLastStep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == epochs - 1:
                last["weights"] = [v.numpy().copy() for v in model.trainable_variables]

    ds = make_dataset(prob.images, labels, indices=tr, batch_size=64, shuffle=True,
                      seed=args.seed)
    t0 = time.time()
    fit(model, ds, epochs=epochs, progress=False, callbacks=[KeepLastStep()])
    record = {"seed": args.seed, "n_per_class": args.n_per_class, "momentum": args.momentum,
              "noise": args.noise, "epochs": epochs, "steps": epochs * -(-len(tr) // 64),
              "n_test": int(len(te)), "train_wall_s": round(time.time() - t0, 1)}
    y = prob.labels[te]
    moving_stats = [v.numpy().copy() for v in model.non_trainable_variables]

    def score():
        bn_stats.reestimate_batch_norm(model, prob.images, indices=tr)
        p = predict(model, prob.images, indices=te).reshape(-1)
        m = evaluate.binary_metrics(y, p)
        return {"accuracy": m["accuracy"], "auc": m["auc"],
                "frac_pred_lsbg": float(np.mean(p > 0.5))}

    record["averaged"] = score()
    for v, w in zip(model.trainable_variables, last["weights"]):
        v.assign(w)
    for v, w in zip(model.non_trainable_variables, moving_stats):
        v.assign(w)
    record["last_step"] = score()
    record["loadavg"] = list(os.getloadavg())
    record["date"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out = Path(args.out)
    runs = json.loads(out.read_text()) if out.exists() else []
    atomic_write_json(out, runs + [record], indent=1)  # a kill never truncates the record
    print(json.dumps(record))


if __name__ == "__main__":
    main()

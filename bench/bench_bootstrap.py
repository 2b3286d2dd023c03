"""Benchmark: the vectorised bootstrap against a plain Python loop with scikit-learn.

Run ``python bench/bench_bootstrap.py [--n 5000] [--resamples 1000] [--loop-resamples 100]``.
The loop is timed on ``--loop-resamples`` resamples and scaled to ``--resamples`` (it is
linear in the number of resamples); both use the same resamples, and the script checks
that they give the same numbers before it prints the speed-up.  The last line is the
record as JSON (what ``bench/run_all.py`` keeps as the entry's ``result``).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn import metrics as skm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # noqa: E402
from deepshadows_lib import evaluate as ev  # noqa: E402


def plain_loop(y, p, idx):
    """Accuracy, precision, recall, AUC and interpolated ROC, one resample at a time."""
    acc, prec, rec, auc, tpr = [], [], [], [], []
    for i in idx:
        yi, pi = y[i], p[i]
        pred = pi > 0.5
        acc.append(skm.accuracy_score(yi, pred))
        prec.append(skm.precision_score(yi, pred, zero_division=0))
        rec.append(skm.recall_score(yi, pred, zero_division=0))
        auc.append(skm.roc_auc_score(yi, pi))
        f, t, _ = skm.roc_curve(yi, pi)
        tpr.append(np.interp(ev.FPR_GRID, f, t))
    return np.array(acc), np.array(prec), np.array(rec), np.array(auc), np.array(tpr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="test-set size (paper: 5,000)")
    parser.add_argument("--resamples", type=int, default=1000, help="paper: 1,000")
    parser.add_argument("--loop-resamples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    y = rng.integers(0, 2, args.n)
    # continuous CNN-like scores, rounded like float32 sigmoid outputs to have some ties
    p = np.clip(rng.beta(2, 5, args.n) + 0.45 * y, 0, 1).astype(np.float32).astype(float)

    # best of three: the machine may be shared
    t_vec = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        res = ev.bootstrap(y, p, n_resamples=args.resamples, seed=args.seed)
        t_vec = min(t_vec, time.perf_counter() - t0)

    m = min(args.loop_resamples, args.resamples)
    idx = ev.bootstrap_indices(args.n, n_resamples=m, seed=args.seed)
    t0 = time.perf_counter()
    acc, prec, rec, auc, tpr = plain_loop(y, p, idx)
    t_loop = (time.perf_counter() - t0) * args.resamples / m

    worst = max(np.abs(acc - res.accuracy[:m]).max(), np.abs(prec - res.precision[:m]).max(),
                np.abs(rec - res.recall[:m]).max(), np.abs(auc - res.auc[:m]).max(),
                np.abs(tpr - res.tpr[:m]).max())
    print(f"n = {args.n}, resamples = {args.resamples}")
    print(f"vectorised bootstrap: {t_vec:8.3f} s (best of 3)")
    print(f"plain sklearn loop:   {t_loop:8.3f} s (timed on {m} resamples, scaled)")
    print(f"speed-up: {t_loop / t_vec:.1f}x; largest difference {worst:.1e}")
    # the last line is the record that bench/run_all.py keeps (``result``)
    _harness.emit({"benchmark": "bootstrap", "n": args.n, "resamples": args.resamples,
                   "loop_resamples": m, "vectorised_s": t_vec, "loop_s_scaled": t_loop,
                   "speed_up": t_loop / t_vec, "max_difference": float(worst),
                   **_harness.stamp()})
    return 0 if worst < 1e-12 else 1


if __name__ == "__main__":
    raise SystemExit(main())

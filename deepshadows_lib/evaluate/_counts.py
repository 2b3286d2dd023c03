"""The shared core of :mod:`deepshadows_lib.evaluate`: input checks and per-score counts.

Every metric of the package is a function of, per distinct score value, how many positives
and negatives carry it; a bootstrap resample only changes those counts.  This module holds
those counts and the checks of labels, scores and grids; it is private to the package.
"""

import numpy as np

from ..errors import InputError

#: 200 evenly spaced false-positive rates on which every ROC curve is interpolated
#: (the paper's seeds and label-noise figures, after the scikit-learn ROC example).
FPR_GRID = np.linspace(0.0, 1.0, 200)

#: the metrics of the paper's Table 2, in its column order
THRESHOLD_METRICS = ("accuracy", "recall", "precision", "auc")


# --------------------------------------------------------------------------- checks
def _as_labels(y_true, name="y_true"):
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {y.shape}")
    if y.dtype == bool:
        return y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number):
        raise InputError(f"{name} must be numeric 0/1 labels, got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise InputError(f"{name} must contain only 0 and 1; found {y[bad][0]!r} "
                         f"at position {int(np.flatnonzero(bad)[0])}")
    return y.astype(np.int64)


def _as_scores(p, n, name="p"):
    s = np.asarray(p, dtype=float)
    if s.ndim == 2 and s.shape[1] == 1:  # Keras' (N, 1) sigmoid output
        s = s[:, 0]
    if s.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {s.shape}")
    if len(s) != n:
        raise InputError(f"{name} has {len(s)} values but y_true has {n}")
    if not np.isfinite(s).all():
        raise InputError(f"{name} contains {int((~np.isfinite(s)).sum())} non-finite values")
    return s


def _check_binary(y_true, p, *, name="p", need_both=True):
    y = _as_labels(y_true)
    if len(y) == 0:
        raise InputError("y_true is empty")
    s = _as_scores(p, len(y), name=name)
    if need_both and (y.min() == y.max()):
        raise InputError(f"y_true contains only the class {int(y[0])}; ROC and AUC need "
                         "both classes")
    return y, s


def _check_grid(fpr_grid):
    g = np.asarray(fpr_grid, dtype=float)
    if g.ndim != 1 or len(g) == 0 or not np.isfinite(g).all() or g.min() < 0 or g.max() > 1:
        raise InputError("fpr_grid must be a non-empty 1-D array of values in [0, 1]")
    return g


# --------------------------------------------------------------------------- the core
# Every metric here is a function of, per distinct score value, how many positives and
# negatives carry it.  A bootstrap resample only changes those counts, so one bincount
# over (resample, score group, label) gives every resample's metrics, ROC and AUC at
# once, without sorting each resample.

def _group_counts(idx, y, group, n_groups):
    """Counts (b, n_groups, 2) of negatives [..., 0] and positives [..., 1] per group."""
    b = idx.shape[0]
    key = (np.arange(b)[:, None] * n_groups + group[idx]) * 2 + y[idx]
    return np.bincount(key.ravel(), minlength=b * n_groups * 2).reshape(b, n_groups, 2)


def _interp_rows(fps, tps, n0, n1, grid):
    """np.interp(grid, fpr_b, tpr_b) for every row b, exactly as numpy would compute it.

    ``fps``/``tps`` are (b, m) non-decreasing integer counts starting at 0; the ROC of a
    row is ``(fps / n0, tps / n1)``.  The position of each grid point on each curve is
    found by one ``searchsorted`` on integers (rows shifted apart), so it is exact.
    """
    b, m = fps.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps / n0[:, None]
        tpr = tps / n1[:, None]
    n0c = np.maximum(n0, 1)[:, None]
    # Largest integer count c with fl(c / n0) <= x (the division is monotone in c).
    c = np.floor(grid[None, :] * n0c).astype(np.int64)
    c = np.where((c + 1) / n0c <= grid[None, :], c + 1, c)
    c = np.where(c / n0c > grid[None, :], c - 1, c)
    step = int(fps.max(initial=0)) + 2
    offset = np.arange(b, dtype=np.int64)[:, None] * step
    j = np.searchsorted((fps + offset).ravel(), (c + offset).ravel(), side="right")
    j = j.reshape(b, -1) - 1 - np.arange(b)[:, None] * m
    j = np.clip(j, 0, m - 1)
    jn = np.minimum(j + 1, m - 1)
    x0 = np.take_along_axis(fpr, j, 1)
    x1 = np.take_along_axis(fpr, jn, 1)
    y0 = np.take_along_axis(tpr, j, 1)
    y1 = np.take_along_axis(tpr, jn, 1)
    exact = (j == m - 1) | (x0 == grid[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (y1 - y0) / (x1 - x0)
        out = np.where(exact, y0, slope * (grid[None, :] - x0) + y0)
    out[(n0 == 0) | (n1 == 0)] = np.nan
    return out


def _metrics_from_counts(counts, uniq, threshold, grid):
    """Threshold metrics, AUC and the interpolated ROC of each row of ``counts``."""
    neg = counts[..., 0]
    pos = counts[..., 1]
    n0 = neg.sum(axis=1)
    n1 = pos.sum(axis=1)
    predicted = uniq > threshold
    tp = pos[:, predicted].sum(axis=1)
    fp = neg[:, predicted].sum(axis=1)
    fn = n1 - tp
    tn = n0 - fp
    n = n0 + n1
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = (tp + tn) / n
        # scikit-learn's zero_division=0: no predicted (or true) positives -> 0.
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        recall = np.where(n1 > 0, tp / np.maximum(n1, 1), 0.0)
        # Mann-Whitney: P(score_pos > score_neg) + 1/2 P(tie); groups ascend in score.
        neg_below = np.cumsum(neg, axis=1) - neg
        auc = (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (n1 * n0)
    auc = np.where((n1 > 0) & (n0 > 0), auc, np.nan)
    out = {"accuracy": accuracy, "precision": precision, "recall": recall, "auc": auc,
           "tn": tn, "fp": fp, "fn": fn, "tp": tp}
    if grid is not None:
        # ROC points from the highest score down, starting at (0, 0) as scikit-learn does.
        zeros = np.zeros((len(n), 1), dtype=np.int64)
        fps = np.concatenate([zeros, np.cumsum(neg[:, ::-1], axis=1)], axis=1)
        tps = np.concatenate([zeros, np.cumsum(pos[:, ::-1], axis=1)], axis=1)
        out["tpr"] = _interp_rows(fps, tps, n0, n1, grid)
    return out


def _score_groups(s):
    """Distinct score values (ascending) and each object's group."""
    uniq, group = np.unique(s, return_inverse=True)
    return uniq, group.ravel()

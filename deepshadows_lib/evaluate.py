"""Metrics, ROC curves on a fixed false-positive-rate grid, and bootstrap intervals.

Everything here works on plain arrays of true labels and predicted scores (numpy and
scikit-learn only, no TensorFlow), so the CNN and the feature baselines are evaluated the
same way:

* :func:`binary_metrics` -- accuracy, precision, recall, AUC and the confusion counts at
  a threshold (the paper: 0.5);
* :func:`confusion_matrix`, :func:`reduced_confusion`, :func:`multiclass_metrics` -- the
  three-class problem of Appendix A and its LSBG-vs-artifact reduction (Fig. A11);
* :func:`roc`, :func:`roc_interp` and :data:`FPR_GRID` -- ROC curves interpolated on 200
  evenly spaced false-positive rates so that curves can be overlaid, averaged and banded
  (Figs. 4, 7, 8);
* :func:`bootstrap` -- resampled metrics and ROC curves, vectorised over the resamples
  (Table 3, the bands of Fig. 4);
* :func:`tpr_ratio`, :func:`tpr_ratio_bootstrap` -- the ratio of two models' true-positive
  rates against the false-positive rate (Fig. 9);
* :func:`metrics_table`, :func:`compare_with_paper` and the ``PAPER_*`` constants -- this
  run's numbers in the shape of the paper's tables, beside the paper's.

Conventions: the label 1 is an LSBG (the positive class), 0 an artifact; an object is
predicted positive when its score is strictly above the threshold (``p > 0.5``, which is
also what ``np.round`` and Keras' binary accuracy do away from exact ties).
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd

from .errors import InputError
from .paper import (PAPER_BOOTSTRAP, PAPER_CONFUSION, PAPER_HSC, PAPER_LABEL_NOISE,
                    PAPER_SEEDS_ACCURACY, PAPER_TABLE2, PAPER_THREE_CLASS_ACCURACY)

__all__ = [
    "FPR_GRID", "binary_metrics", "confusion_matrix", "reduced_confusion",
    "multiclass_metrics", "roc", "roc_interp", "bootstrap", "bootstrap_indices",
    "BootstrapResult", "tpr_ratio", "tpr_ratio_bootstrap", "metrics_table",
    "compare_with_paper", "PAPER_TABLE2", "PAPER_CONFUSION", "PAPER_BOOTSTRAP",
    "PAPER_SEEDS_ACCURACY", "PAPER_LABEL_NOISE", "PAPER_HSC", "PAPER_THREE_CLASS_ACCURACY",
    "THRESHOLD_METRICS",
]

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


# --------------------------------------------------------------------------- metrics
def binary_metrics(y_true, p, *, threshold=0.5):
    """Accuracy, precision, recall, AUC and confusion counts of a binary classifier.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True labels, 1 = LSBG (positive), 0 = artifact.
    p : array-like of float, shape (N,) or (N, 1)
        Scores: the predicted probability of an LSBG (any real score works for the AUC).
    threshold : float, optional
        An object is predicted an LSBG when ``p > threshold``.  The paper: 0.5.

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``auc`` (floats; precision is 0 when
        nothing is predicted positive, AUC is NaN when one class is absent) and ``tn``,
        ``fp``, ``fn``, ``tp`` (ints).
    """
    y, s = _check_binary(y_true, p, need_both=False)
    uniq, group = _score_groups(s)
    counts = _group_counts(np.arange(len(y))[None, :], y, group, len(uniq))
    m = _metrics_from_counts(counts, uniq, float(threshold), None)
    return {k: (int(v[0]) if k in ("tn", "fp", "fn", "tp") else float(v[0]))
            for k, v in m.items()}


def confusion_matrix(y_true, y_pred, *, labels=None):
    """Confusion matrix, rows the true class, columns the predicted class.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices.
    labels : sequence of int, optional
        Row/column order; by default the sorted union of the classes present.

    Returns
    -------
    numpy.ndarray of int64, shape (K, K)
        ``cm[i, j]`` counts objects of class ``labels[i]`` predicted as ``labels[j]``;
        objects whose class is not in ``labels`` are left out.
    """
    t = np.asarray(y_true).ravel()
    q = np.asarray(y_pred).ravel()
    if len(t) != len(q):
        raise InputError(f"y_pred has {len(q)} values but y_true has {len(t)}")
    labels = np.union1d(t, q) if labels is None else np.asarray(labels)
    k = len(labels)
    order = np.argsort(labels, kind="stable")
    ti = np.searchsorted(labels[order], t)
    qi = np.searchsorted(labels[order], q)
    ti_ok = (ti < k) & (labels[order][np.minimum(ti, k - 1)] == t)
    qi_ok = (qi < k) & (labels[order][np.minimum(qi, k - 1)] == q)
    ok = ti_ok & qi_ok
    rows = order[ti[ok]]
    cols = order[qi[ok]]
    return np.bincount(rows * k + cols, minlength=k * k).reshape(k, k).astype(np.int64)


def reduced_confusion(cm3, *, lsbg_index=1):
    """Collapse a multi-class confusion matrix to LSBG vs artifact (Fig. A11, right).

    Parameters
    ----------
    cm3 : array-like, shape (K, K)
        Confusion matrix (rows true, columns predicted) over ``class_index``
        (artifact2 = 0, lsbg = 1, artifact1 = 2).
    lsbg_index : int, optional
        Row/column of the LSBG class; every other class is an artifact.

    Returns
    -------
    numpy.ndarray, shape (2, 2)
        Order [artifact, LSBG] on both axes: ``[[TN, FP], [FN, TP]]`` with LSBG positive.
        An artifact of one type predicted as the other type counts as correct.
    """
    cm = np.asarray(cm3)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or not 0 <= lsbg_index < cm.shape[0]:
        raise InputError(f"expected a square confusion matrix containing row {lsbg_index}, "
                         f"got shape {cm.shape}")
    art = np.array([i for i in range(cm.shape[0]) if i != lsbg_index])
    return np.array([[cm[np.ix_(art, art)].sum(), cm[art, lsbg_index].sum()],
                     [cm[lsbg_index, art].sum(), cm[lsbg_index, lsbg_index]]])


def multiclass_metrics(y_true, proba, *, lsbg_index=1):
    """Metrics of a softmax classifier (the three-class problem of Appendix A).

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True class indices (``class_index``: artifact2 = 0, lsbg = 1, artifact1 = 2).
    proba : array-like of float, shape (N, K)
        Predicted class probabilities; the prediction is the argmax.
    lsbg_index : int, optional
        The LSBG class, for the reduced two-class matrix.

    Returns
    -------
    dict
        ``accuracy`` (float), ``confusion`` (K x K, rows true), ``recall`` and
        ``precision`` (per class, arrays of length K), ``reduced_confusion`` (2 x 2,
        [artifact, LSBG]) and ``reduced_accuracy`` (LSBG vs artifact).
    """
    t = np.asarray(y_true).ravel()
    pr = np.asarray(proba, dtype=float)
    if pr.ndim != 2 or len(pr) != len(t):
        raise InputError(f"proba must have shape (N, K) with N = {len(t)}, got {pr.shape}")
    k = pr.shape[1]
    if len(t) and (t.min() < 0 or t.max() >= k or not np.all(t == np.round(t))):
        raise InputError(f"y_true must hold class indices 0..{k - 1}")
    cm = confusion_matrix(t.astype(int), pr.argmax(axis=1), labels=np.arange(k))
    diag = np.diag(cm).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(cm.sum(1) > 0, diag / np.maximum(cm.sum(1), 1), 0.0)
        precision = np.where(cm.sum(0) > 0, diag / np.maximum(cm.sum(0), 1), 0.0)
    red = reduced_confusion(cm, lsbg_index=lsbg_index) if k > 2 else cm
    total = max(int(cm.sum()), 1)
    return {"accuracy": float(diag.sum() / total), "confusion": cm, "recall": recall,
            "precision": precision, "reduced_confusion": red,
            "reduced_accuracy": float(np.trace(red) / total)}


# --------------------------------------------------------------------------- ROC
def roc(y_true, p):
    """The raw ROC curve (scikit-learn's :func:`~sklearn.metrics.roc_curve`).

    Returns
    -------
    fpr, tpr, thresholds : numpy.ndarray
        Starting at (0, 0); ``thresholds[0]`` is ``inf``.
    """
    from sklearn.metrics import roc_curve
    y, s = _check_binary(y_true, p)
    return roc_curve(y, s)


def roc_interp(y_true, p, *, fpr_grid=FPR_GRID, zero_start=False):
    """True-positive rates of the ROC curve interpolated on ``fpr_grid``.

    Linear interpolation of the ROC polyline, identical to
    ``np.interp(fpr_grid, *roc(y_true, p)[:2])``.

    Parameters
    ----------
    y_true, p : array-like, shape (N,)
        Labels (1 = LSBG) and scores.
    fpr_grid : array-like, optional
        False-positive rates in [0, 1]; by default :data:`FPR_GRID` (200 points).
    zero_start : bool, optional
        At FPR = 0 the ROC has a vertical segment from (0, 0) to the largest TPR reached
        without a false positive; the interpolation returns that top value, i.e. the best
        TPR at zero FPR.  ``zero_start=True`` returns 0 there instead, as in the
        scikit-learn example the paper followed (``interp_tpr[0] = 0``), so that plotted
        curves start at the origin.

    Returns
    -------
    numpy.ndarray, shape (len(fpr_grid),)
    """
    y, s = _check_binary(y_true, p)
    grid = _check_grid(fpr_grid)
    uniq, group = _score_groups(s)
    counts = _group_counts(np.arange(len(y))[None, :], y, group, len(uniq))
    tpr = _metrics_from_counts(counts, uniq, 0.5, grid)["tpr"][0]
    if zero_start:
        tpr = np.where(grid == 0, 0.0, tpr)
    return tpr


# --------------------------------------------------------------------------- bootstrap
def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def bootstrap_indices(n, *, n_resamples=1000, seed=0):
    """The resampling scheme of :func:`bootstrap`.

    Resample ``b`` is ``rng.integers(0, n, size=n)``, drawn in order from
    ``rng = np.random.default_rng(seed)``; equivalently one draw of shape
    ``(n_resamples, n)``.

    Returns
    -------
    numpy.ndarray of int64, shape (n_resamples, n)
    """
    return _rng(seed).integers(0, n, size=(int(n_resamples), int(n)))


@dataclasses.dataclass
class BootstrapResult:
    """Bootstrap distribution of a classifier's metrics on its test set.

    Attributes
    ----------
    accuracy, precision, recall, auc : numpy.ndarray, shape (n_resamples,)
        The metric on each resample (AUC NaN on a resample without both classes).
    tpr : numpy.ndarray, shape (n_resamples, len(fpr_grid))
        Each resample's ROC curve interpolated on ``fpr_grid``.
    fpr_grid : numpy.ndarray
        The false-positive rates of ``tpr``.
    estimate : dict
        The metrics on the full (not resampled) test set, plus ``tpr``.
    intervals : dict
        ``metric -> (low, high)``: percentile interval of probability ``ci``.
    n_resamples, seed, ci, threshold
        The parameters of the run.
    """

    accuracy: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    auc: np.ndarray
    tpr: np.ndarray
    fpr_grid: np.ndarray
    estimate: dict
    intervals: dict
    n_resamples: int
    seed: object
    ci: float
    threshold: float

    def interval(self, metric):
        """(low, high) of ``metric`` (accuracy, precision, recall or auc)."""
        return self.intervals[metric]

    def tpr_band(self):
        """Lower and upper percentile bands of the interpolated ROC, each (len(grid),)."""
        return _percentiles(self.tpr, self.ci, axis=0)

    def curve(self, *, zero_start=True):
        """The ROC on the grid with its band, as :func:`deepshadows_lib.plots.roc_curves`
        takes it: ``{"fpr", "tpr", "auc", "band": (lo, hi)}``.

        ``zero_start`` pins the curve and band to 0 at FPR = 0 so that the plotted curve
        starts at the origin (see :func:`roc_interp`).
        """
        tpr = np.array(self.estimate["tpr"], dtype=float)
        lo, hi = self.tpr_band()
        if zero_start:
            at0 = self.fpr_grid == 0
            tpr[at0], lo[at0], hi[at0] = 0.0, 0.0, 0.0
        return {"fpr": self.fpr_grid, "tpr": tpr, "auc": self.estimate["auc"],
                "band": (lo, hi)}

    def summary(self):
        """A DataFrame, one row per metric: estimate, low, high (the shape of Table 3)."""
        rows = {m: {"estimate": self.estimate[m], "low": self.intervals[m][0],
                    "high": self.intervals[m][1]} for m in THRESHOLD_METRICS}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def _percentiles(values, ci, axis=0):
    q = 100.0 * np.array([(1 - ci) / 2, (1 + ci) / 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
        lo, hi = np.nanpercentile(values, q, axis=axis)
    return lo, hi


def _block_size(n, budget=2_000_000):
    # Bound the memory of the (block, n) index and the (block, groups, 2) counts.
    return max(1, budget // max(n, 1))


def bootstrap(y_true, p, *, n_resamples=1000, seed=0, ci=0.95, threshold=0.5,
              fpr_grid=FPR_GRID, progress=False):
    """Bootstrap the test set: resampled metrics, ROC curves and percentile intervals.

    Vectorised over the resamples: each block of resamples is reduced to per-score-value
    counts of positives and negatives with one ``bincount``, from which accuracy,
    precision, recall, the AUC (Mann-Whitney rank statistic, ties counted half) and the
    interpolated ROC of every resample follow by array arithmetic.  The numbers equal a
    plain loop over the same resamples with scikit-learn (``accuracy_score``,
    ``precision_score``, ``recall_score``, ``roc_auc_score``, ``np.interp`` of
    ``roc_curve``).

    Parameters
    ----------
    y_true, p : array-like, shape (N,)
        Labels (1 = LSBG) and scores of the test set.
    n_resamples : int, optional
        Number of resamples (the paper: 1,000).
    seed : int or numpy.random.Generator, optional
        Seed of the resampling; see :func:`bootstrap_indices` for the scheme.
    ci : float, optional
        Probability of the percentile intervals (0.95: 2.5th to 97.5th percentile).
    threshold : float, optional
        Decision threshold of the threshold metrics.
    fpr_grid : array-like, optional
        Grid of the interpolated ROC curves (:data:`FPR_GRID`).
    progress : bool, optional
        Show a progress bar over blocks of resamples.

    Returns
    -------
    BootstrapResult
    """
    y, s = _check_binary(y_true, p)
    grid = _check_grid(fpr_grid)
    if int(n_resamples) < 1:
        raise InputError(f"n_resamples must be positive, got {n_resamples}")
    if not 0 < ci < 1:
        raise InputError(f"ci must be in (0, 1), got {ci}")
    n = len(y)
    uniq, group = _score_groups(s)
    full = _metrics_from_counts(_group_counts(np.arange(n)[None, :], y, group, len(uniq)),
                                uniq, float(threshold), grid)
    estimate = {k: float(v[0]) for k, v in full.items() if k != "tpr"}
    estimate["tpr"] = full["tpr"][0]

    rng = _rng(seed)
    block = _block_size(n)
    starts = range(0, int(n_resamples), block)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="bootstrap", unit="block")
    parts = []
    for start in starts:
        b = min(block, int(n_resamples) - start)
        idx = rng.integers(0, n, size=(b, n))
        parts.append(_metrics_from_counts(_group_counts(idx, y, group, len(uniq)),
                                          uniq, float(threshold), grid))
    res = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    intervals = {m: tuple(float(v) for v in _percentiles(res[m], ci))
                 for m in ("accuracy", "precision", "recall", "auc")}
    return BootstrapResult(accuracy=res["accuracy"], precision=res["precision"],
                           recall=res["recall"], auc=res["auc"], tpr=res["tpr"],
                           fpr_grid=grid, estimate=estimate, intervals=intervals,
                           n_resamples=int(n_resamples), seed=seed, ci=float(ci),
                           threshold=float(threshold))


# --------------------------------------------------------------------------- TPR ratio
def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def tpr_ratio(y_true, p_a, p_b, *, fpr_grid=FPR_GRID):
    """Ratio of two models' true-positive rates at equal false-positive rate (Fig. 9).

    Parameters
    ----------
    y_true : array-like, shape (N,)
        Labels of the common test set.
    p_a, p_b : array-like, shape (N,)
        Scores of the model of interest (the CNN) and of the baseline (SVM, RF).
    fpr_grid : array-like, optional
        False-positive rates (:data:`FPR_GRID`).

    Returns
    -------
    fpr : numpy.ndarray
        The grid.
    ratio : numpy.ndarray
        ``TPR_a(fpr) / TPR_b(fpr)``; NaN where the baseline's TPR is 0.
    """
    grid = _check_grid(fpr_grid)
    ta = roc_interp(y_true, p_a, fpr_grid=grid)
    tb = roc_interp(y_true, p_b, fpr_grid=grid)
    return grid, _ratio(ta, tb)


def tpr_ratio_bootstrap(y_true, p_a, p_b, *, n_resamples=1000, seed=0, ci=0.95,
                        fpr_grid=FPR_GRID):
    """Percentile band of :func:`tpr_ratio` from paired bootstrap resamples.

    Both models are scored on the same resamples (same ``seed`` -> the same resamples as
    :func:`bootstrap`), so the band reflects the test set's sampling noise in the ratio.

    Returns
    -------
    low, high : numpy.ndarray, shape (len(fpr_grid),)
    """
    y, sa = _check_binary(y_true, p_a, name="p_a")
    _, sb = _check_binary(y, p_b, name="p_b")
    grid = _check_grid(fpr_grid)
    n = len(y)
    ua, ga = _score_groups(sa)
    ub, gb = _score_groups(sb)
    rng = _rng(seed)
    block = _block_size(n)
    ratios = []
    for start in range(0, int(n_resamples), block):
        idx = rng.integers(0, n, size=(min(block, int(n_resamples) - start), n))
        ta = _metrics_from_counts(_group_counts(idx, y, ga, len(ua)), ua, 0.5, grid)["tpr"]
        tb = _metrics_from_counts(_group_counts(idx, y, gb, len(ub)), ub, 0.5, grid)["tpr"]
        ratios.append(_ratio(ta, tb))
    return _percentiles(np.concatenate(ratios), ci, axis=0)


# --------------------------------------------------------------------------- tables
def metrics_table(results, *, threshold=0.5):
    """Metrics of several models on their test sets, in the shape of the paper's Table 2.

    Parameters
    ----------
    results : dict
        ``model name -> (y_true, p)``.
    threshold : float, optional
        Decision threshold.

    Returns
    -------
    pandas.DataFrame
        One row per model (index ``model``, in the order given), columns accuracy,
        recall, precision, auc.
    """
    if not results:
        raise InputError("metrics_table needs at least one model")
    rows = {}
    for name, pair in results.items():
        try:
            y_true, p = pair
        except (TypeError, ValueError):
            raise InputError(f"results[{name!r}] must be a pair (y_true, p)") from None
        m = binary_metrics(y_true, p, threshold=threshold)
        rows[name] = {k: m[k] for k in THRESHOLD_METRICS}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


_ALIASES = {"svm": "SVM", "rf": "Random forest", "random forest": "Random forest",
            "random_forest": "Random forest", "randomforest": "Random forest",
            "cnn": "DeepShadows", "deepshadows": "DeepShadows"}


def compare_with_paper(table, *, paper=PAPER_TABLE2):
    """Put a run's table beside the paper's numbers.

    Parameters
    ----------
    table : pandas.DataFrame
        E.g. from :func:`metrics_table`; rows are matched to ``paper`` by name
        (case-insensitive; ``rf``, ``cnn`` and similar aliases are understood).
    paper : pandas.DataFrame, optional
        The paper's table (:data:`PAPER_TABLE2`).

    Returns
    -------
    pandas.DataFrame
        Columns ``(metric, "this run")`` and ``(metric, "paper")`` for every metric the
        two share; paper values are NaN for models the paper does not have.
    """
    lookup = {str(k).lower(): k for k in paper.index}

    def match(name):
        key = str(name).strip().lower()
        key = _ALIASES.get(key, key)
        return lookup.get(str(key).lower())

    metrics = [c for c in table.columns if c in paper.columns]
    cols = {}
    for m in metrics:
        cols[(m, "this run")] = table[m].astype(float)
        cols[(m, "paper")] = pd.Series(
            [paper.at[match(i), m] if match(i) is not None else np.nan for i in table.index],
            index=table.index, dtype=float)
    out = pd.DataFrame(cols)
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["metric", "source"])
    return out

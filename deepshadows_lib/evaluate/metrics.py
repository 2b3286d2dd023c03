"""Threshold metrics, confusion matrices and ROC curves of one classifier on one test set.

Conventions: the label 1 is an LSBG (the positive class), 0 an artifact; an object is
predicted positive when its score is strictly above the threshold (``p > 0.5``).
"""

import numpy as np
from sklearn.metrics import roc_curve

from ..errors import InputError
from ._counts import (FPR_GRID, _check_binary, _check_grid, _group_counts,
                      _metrics_from_counts, _score_groups)

__all__ = ["binary_metrics", "binary_confusion", "confusion_matrix", "reduced_confusion",
           "multiclass_metrics", "roc", "roc_interp"]


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


def binary_confusion(y_true, p, *, threshold=0.5):
    """The 2 x 2 confusion matrix of a binary classifier at ``threshold``.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True labels, 1 = LSBG.
    p : array-like of float, shape (N,) or (N, 1)
        Scores; an object is predicted an LSBG when ``p > threshold`` (the paper: 0.5).

    Returns
    -------
    numpy.ndarray of int64, shape (2, 2)
        ``[[TN, FP], [FN, TP]]`` (rows true artifact, LSBG; columns predicted).
    """
    y, s = _check_binary(y_true, p, need_both=False)
    return confusion_matrix(y, (s > float(threshold)).astype(np.int64), labels=[0, 1])


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

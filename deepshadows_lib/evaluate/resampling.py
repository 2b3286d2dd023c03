"""Bootstrap intervals and the ratio of two models' true-positive rates (Table 3, Figs. 4, 9).

Vectorised over the resamples: each block of resamples is reduced to per-score-value
counts (:mod:`._counts`), so every resample's metrics and ROC follow by array arithmetic.
(Named ``resampling`` rather than ``bootstrap`` so that the package attribute
``evaluate.bootstrap`` stays the function.)
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import InputError
from ._counts import (FPR_GRID, THRESHOLD_METRICS, _check_binary, _check_grid, _group_counts,
                      _metrics_from_counts, _score_groups)
from .metrics import roc_interp

__all__ = ["bootstrap", "bootstrap_indices", "BootstrapResult", "tpr_ratio",
           "tpr_ratio_bootstrap"]


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
        """The ROC on the grid with its band, as :func:`deepshadows_lib.plots.draw_roc_curves`
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

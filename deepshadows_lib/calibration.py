"""Calibration of a binary classifier's probabilities: ECE, Brier score, temperature scaling.

The paper reads the CNN's sigmoid output as the probability that a cutout shows an LSBG;
these functions say how far that reading is from the truth and correct it.

* :func:`expected_calibration_error` -- the gap between the predicted probability and the
  observed fraction of LSBGs, averaged over 15 equal-width bins of the prediction (each
  bin weighted by its share of the objects).  The binning is that of
  :func:`sklearn.calibration.calibration_curve` with ``strategy="uniform"``.  This is
  the ECE of the LSBG probability, the one the reliability diagram draws; the
  top-label ECE of Guo et al. (2017) bins the confidence ``max(p, 1 - p)`` instead and
  is a different number (often a few times smaller).
* :func:`brier_score` -- the mean squared difference between probability and label.
* :func:`reliability_curve` -- the points of a reliability diagram.
* :func:`fit_temperature` / :func:`apply_temperature` -- temperature scaling (Guo et al.
  2017): one scalar ``T`` divides the logit, ``p' = sigmoid(logit(p) / T)``, fitted by
  minimising the negative log-likelihood on the validation set.  ``T > 1`` softens an
  over-confident model.  The ranking of objects, hence the ROC curve and the AUC, and
  the decisions at a threshold of 0.5 are unchanged.
* :func:`fit_platt` -- Platt scaling (Platt 1999): a temperature and a bias,
  ``p' = sigmoid(logit(p) / T + b)``, a one-feature logistic regression on the logit,
  fitted the same way.  The bias moves the operating point: a model that calls too many
  objects LSBGs at 0.5 (as every short training of the synthetic survey does, by the
  same amount on the validation and the test set) is corrected, so the decisions at 0.5
  and the accuracy change; the ranking and the AUC still do not.
* :func:`fit_isotonic` / :func:`apply_isotonic` -- isotonic regression (Zadrozny & Elkan
  2002, :class:`sklearn.isotonic.IsotonicRegression`): the non-decreasing step function
  of the probability that fits the validation labels best, kept as its knots and
  applied by linear interpolation between them.  It corrects any monotone distortion,
  not only a scale and a shift, at the price of ties (the AUC may fall slightly); with
  thousands of validation objects it reaches the noise floor of the ECE.
"""

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_expit

from .errors import InputError

__all__ = ["N_BINS", "logit", "expected_calibration_error", "brier_score",
           "negative_log_likelihood", "reliability_curve", "fit_temperature",
           "fit_platt", "fit_isotonic", "apply_temperature", "apply_isotonic",
           "calibration_metrics"]

#: Bins of the expected calibration error and the reliability diagram.
N_BINS = 15
# Probabilities are kept this far from 0 and 1 before taking logits: float32 sigmoid
# outputs saturate at exactly 0 or 1, whose logit is infinite.
_EPS = 1e-7


def _check(y_true, p, *, fitting=None):
    # fitting: the name of a calibration that needs both classes to be fitted
    y = np.asarray(y_true).ravel()
    q = np.asarray(p, dtype=np.float64).ravel()
    if len(y) != len(q):
        raise InputError(f"{len(y)} labels for {len(q)} probabilities")
    if len(y) == 0:
        raise InputError("no objects to assess")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 or 1")
    if not np.all(np.isfinite(q)) or q.min() < 0 or q.max() > 1:
        raise InputError("probabilities must be finite and in [0, 1]")
    if fitting is not None and y.min() == y.max():
        raise InputError(f"{fitting} needs both classes among the labels")
    return y.astype(np.float64), q


def logit(p):
    """``log(p / (1 - p))`` with ``p`` clipped to [1e-7, 1 - 1e-7]."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(q) - np.log1p(-q)


def _bins(q, n_bins):
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    # as sklearn.calibration.calibration_curve: searchsorted on the interior edges
    return edges, np.searchsorted(edges[1:-1], q)


def reliability_curve(y_true, p, *, n_bins=N_BINS):
    """The points of a reliability diagram.

    Parameters
    ----------
    y_true : array_like of {0, 1}
    p : array_like of float
        Predicted probability of class 1 (LSBG).
    n_bins : int, optional
        Equal-width bins on [0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin_low``, ``bin_high``, ``count``, ``mean_p`` (mean predicted
        probability) and ``fraction_positive`` (observed fraction of class 1); the last
        two are NaN in an empty bin.
    """
    y, q = _check(y_true, p)
    edges, idx = _bins(q, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    sum_p = np.bincount(idx, weights=q, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sum_p / count, np.nan)
        frac = np.where(count > 0, sum_y / count, np.nan)
    return pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:], "count": count,
                         "mean_p": mean_p, "fraction_positive": frac})


def expected_calibration_error(y_true, p, *, n_bins=N_BINS):
    """Expected calibration error: ``sum_b (n_b / N) |mean(y)_b - mean(p)_b|``.

    Parameters
    ----------
    y_true : array_like of {0, 1}
    p : array_like of float
        Predicted probability of class 1.
    n_bins : int, optional
        Equal-width bins of ``p`` on [0, 1] (15, as Guo et al. 2017).

    Returns
    -------
    float
    """
    curve = reliability_curve(y_true, p, n_bins=n_bins)
    full = curve["count"] > 0
    gap = (curve.loc[full, "fraction_positive"] - curve.loc[full, "mean_p"]).abs()
    return float((gap * curve.loc[full, "count"]).sum() / curve["count"].sum())


def brier_score(y_true, p):
    """Mean squared difference between probability and label (0 is perfect)."""
    y, q = _check(y_true, p)
    return float(np.mean((q - y) ** 2))


def negative_log_likelihood(y_true, p):
    """Mean binary cross-entropy of the probabilities (probabilities clipped to 1e-7)."""
    y, q = _check(y_true, p)
    q = np.clip(q, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def apply_temperature(p, temperature, *, bias=0.0):
    """Temperature-scaled probabilities ``sigmoid(logit(p) / T + bias)``.

    ``T = 1`` and ``bias = 0`` return ``p`` itself (as float64), untouched by the logit
    round trip.  A non-zero ``bias`` is Platt scaling (:func:`fit_platt`).
    """
    t = float(temperature)
    if not t > 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    b = float(bias)
    if not np.isfinite(b):
        raise InputError(f"bias must be finite, got {bias}")
    q = np.asarray(p, dtype=np.float64)
    if t == 1.0 and b == 0.0:
        return q
    return expit(logit(q) / t + b)


def fit_temperature(y_true, p, *, bounds=(0.05, 20.0)):
    """The temperature that minimises the negative log-likelihood of ``(y_true, p)``.

    Fit it on the validation set, never on the test set.

    Parameters
    ----------
    y_true : array_like of {0, 1}
    p : array_like of float
        Uncalibrated probabilities of class 1.
    bounds : (float, float), optional
        Search interval of ``T``.

    Returns
    -------
    float
        ``T``; the NLL is convex in ``1 / T``, so the bounded search finds the optimum.
    """
    y, q = _check(y_true, p)
    z = logit(q)
    sign = 2.0 * y - 1.0  # -log sigmoid(+-z / T) is the cross-entropy of each object

    def nll(log_t):
        return -float(np.mean(log_expit(sign * z / np.exp(log_t))))

    lo, hi = (np.log(float(b)) for b in bounds)
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


def fit_platt(y_true, p, *, bounds=(0.05, 20.0)):
    """Platt scaling: the temperature and bias that minimise the negative log-likelihood.

    ``p' = sigmoid(logit(p) / T + bias)`` (:func:`apply_temperature`): the logistic
    regression of the labels on the logit, without regularisation.  Fit it on the
    validation set, never on the test set.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Both classes must be present.
    p : array_like of float
        Uncalibrated probabilities of class 1.
    bounds : (float, float), optional
        Search interval of ``T``, as :func:`fit_temperature`'s.  A model whose logit ranks
        the classes the wrong way round would want a negative slope; it gets the largest
        ``T`` (nearly constant probabilities at the fitted base rate) instead.

    Returns
    -------
    temperature, bias : float
    """
    y, q = _check(y_true, p, fitting="Platt scaling")
    z = logit(q)
    sign = 2.0 * y - 1.0

    def nll(theta):
        a, b = theta
        m = sign * (a * z + b)
        g = -expit(-m) * sign  # d/d(a z + b) of -log sigmoid(m)
        return -float(np.mean(log_expit(m))), np.array([np.mean(g * z), np.mean(g)])

    lo, hi = (float(v) for v in bounds)
    # the NLL is convex in (1/T, b); start from "no calibration"
    res = minimize(nll, x0=np.array([min(max(1.0, 1 / hi), 1 / lo), 0.0]), jac=True,
                   method="L-BFGS-B", bounds=[(1 / hi, 1 / lo), (None, None)],
                   options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000})
    a, b = (float(v) for v in res.x)
    return 1.0 / a, b


def fit_isotonic(y_true, p):
    """Isotonic calibration: the knots of the best non-decreasing map of ``p`` to ``y``.

    Fit it on the validation set, never on the test set.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Both classes must be present.
    p : array_like of float
        Uncalibrated probabilities of class 1.

    Returns
    -------
    dict
        ``{"x": [...], "y": [...]}``: the knots of
        :class:`sklearn.isotonic.IsotonicRegression` (``X_thresholds_``,
        ``y_thresholds_``), plain lists so that a model's sidecar can hold them;
        :func:`apply_isotonic` interpolates between them and clips outside.
    """
    from sklearn.isotonic import IsotonicRegression

    y, q = _check(y_true, p, fitting="isotonic calibration")
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True,
                             out_of_bounds="clip").fit(q, y)
    return {"x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_]}


def apply_isotonic(p, knots):
    """Probabilities mapped through :func:`fit_isotonic`'s knots (float64, same shape).

    The same numbers as the fitted :class:`sklearn.isotonic.IsotonicRegression`'s
    ``predict``: linear interpolation between the knots, constant beyond the ends.
    """
    try:
        x = np.asarray(knots["x"], dtype=np.float64)
        y = np.asarray(knots["y"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise InputError("isotonic knots must be a mapping with lists 'x' and 'y'") from None
    if x.ndim != 1 or len(x) == 0 or x.shape != y.shape or np.any(np.diff(x) < 0) \
            or np.any(np.diff(y) < 0):
        raise InputError("isotonic knots must be two equally long non-decreasing lists")
    q = np.asarray(p, dtype=np.float64)
    return np.interp(q, x, y)


def calibration_metrics(y_true, p, *, n_bins=N_BINS, threshold=0.5):
    """Accuracy, ECE, Brier score and NLL of one set of probabilities (a dict)."""
    y, q = _check(y_true, p)
    return {"accuracy": float(np.mean((q > threshold) == (y == 1))),
            "ece": expected_calibration_error(y, q, n_bins=n_bins),
            "brier": brier_score(y, q), "nll": negative_log_likelihood(y, q)}

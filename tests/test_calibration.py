"""Tests of deepshadows_lib.calibration: ECE, Brier score, reliability curve, temperature."""

import numpy as np
import pytest
from scipy.special import expit

from deepshadows_lib import calibration
from deepshadows_lib.errors import InputError


def _overconfident(n=20000, factor=3.0, seed=0):
    """Labels drawn from true probabilities sigmoid(z), predictions sigmoid(factor * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < expit(z)).astype(int)
    return y, expit(factor * z), expit(z)


def test_ece_equals_sklearn_calibration_curve_reference():
    from sklearn.calibration import calibration_curve
    rng = np.random.default_rng(1)
    p = rng.random(5000)
    y = (rng.random(5000) < p ** 1.5).astype(int)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=15, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 16)[1:-1], p), minlength=15)
    counts = counts[counts > 0]
    reference = float(np.sum(counts * np.abs(prob_true - prob_pred)) / len(p))
    assert calibration.expected_calibration_error(y, p) == pytest.approx(reference, abs=1e-12)
    curve = calibration.reliability_curve(y, p)
    assert len(curve) == 15 and curve["count"].sum() == 5000
    full = curve["count"] > 0
    np.testing.assert_allclose(curve.loc[full, "fraction_positive"], prob_true)
    np.testing.assert_allclose(curve.loc[full, "mean_p"], prob_pred)


def test_ece_is_small_for_calibrated_and_large_for_overconfident_scores():
    y, p_over, p_true = _overconfident()
    assert calibration.expected_calibration_error(y, p_true) < 0.015
    assert calibration.expected_calibration_error(y, p_over) > 0.05


def test_brier_score_equals_sklearn():
    from sklearn.metrics import brier_score_loss
    y, p, _ = _overconfident(n=3000)
    assert calibration.brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_fit_temperature_recovers_the_overconfidence_factor():
    y, p_over, _ = _overconfident(factor=3.0)
    t = calibration.fit_temperature(y, p_over)
    assert t == pytest.approx(3.0, rel=0.08)
    scaled = calibration.apply_temperature(p_over, t)
    assert calibration.expected_calibration_error(y, scaled) < 0.015
    assert calibration.negative_log_likelihood(y, scaled) < \
        calibration.negative_log_likelihood(y, p_over)
    # temperature keeps every decision at 0.5 and the ranking (away from the clipped ends)
    from sklearn.metrics import roc_auc_score
    np.testing.assert_array_equal(scaled > 0.5, p_over > 0.5)
    mid = (p_over > 1e-6) & (p_over < 1 - 1e-6)
    assert np.all(np.diff(scaled[mid][np.argsort(p_over[mid])]) >= 0)
    assert roc_auc_score(y, scaled) == pytest.approx(roc_auc_score(y, p_over), abs=1e-4)


def test_temperature_one_returns_the_input_exactly():
    p = np.array([0.0, 0.2, 0.999999, 1.0])
    np.testing.assert_array_equal(calibration.apply_temperature(p, 1.0), p)
    with pytest.raises(InputError):
        calibration.apply_temperature(p, 0)


def test_bad_input_is_one_clear_error():
    with pytest.raises(InputError, match="labels"):
        calibration.brier_score([0, 2], [0.1, 0.2])
    with pytest.raises(InputError, match="probabilities"):
        calibration.expected_calibration_error([0, 1], [0.1, 1.2])
    with pytest.raises(InputError, match="2 labels for 3"):
        calibration.brier_score([0, 1], [0.1, 0.2, 0.3])


def test_fit_platt_equals_an_unregularised_logistic_regression_on_the_logit():
    from sklearn.linear_model import LogisticRegression
    y, p_over, _ = _overconfident(factor=2.0, seed=4)
    # shift the model towards class 1, as the short trainings of the synthetic survey are
    p = expit(calibration.logit(p_over) + 1.2)
    t, b = calibration.fit_platt(y, p)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        calibration.logit(p)[:, None], y)
    assert 1 / t == pytest.approx(ref.coef_[0, 0], rel=1e-6)
    assert b == pytest.approx(ref.intercept_[0], abs=1e-6)
    # it recovers the factor and the shift it was given
    assert t == pytest.approx(2.0, rel=0.08) and b == pytest.approx(-1.2 / 2.0, abs=0.06)
    q = calibration.apply_temperature(p, t, bias=b)
    np.testing.assert_allclose(q, ref.predict_proba(calibration.logit(p)[:, None])[:, 1],
                               atol=1e-6)
    # unlike a temperature alone, the bias moves decisions at 0.5 and mends the accuracy
    assert np.mean((q > 0.5) == y) > np.mean((p > 0.5) == y) + 0.02
    assert calibration.expected_calibration_error(y, q) < \
        calibration.expected_calibration_error(y, calibration.apply_temperature(
            p, calibration.fit_temperature(y, p)))


def test_fit_platt_on_reversed_probabilities_stays_within_the_temperature_bounds():
    y, p, _ = _overconfident(n=2000, seed=2)
    t, b = calibration.fit_platt(y, 1 - p)
    assert t == pytest.approx(20.0)
    with pytest.raises(InputError, match="both classes"):
        calibration.fit_platt(np.ones(5), np.full(5, 0.7))


def test_apply_temperature_with_a_bias_is_sigmoid_of_the_shifted_logit():
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(calibration.apply_temperature(p, 2.0, bias=-0.5),
                               expit(np.log(p / (1 - p)) / 2.0 - 0.5))
    with pytest.raises(InputError, match="bias"):
        calibration.apply_temperature(p, 1.0, bias=np.nan)


def test_isotonic_calibration_equals_scikit_learns_and_reaches_the_ece_floor():
    from sklearn.isotonic import IsotonicRegression
    y, p_over, _ = _overconfident(factor=2.5, seed=6)
    p = expit(calibration.logit(p_over) ** 3 / 8 + 0.8)  # a non-logistic distortion
    fit, test = slice(0, 10000), slice(10000, None)
    knots = calibration.fit_isotonic(y[fit], p[fit])
    ref = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p[fit], y[fit])
    q = calibration.apply_isotonic(p[test], knots)
    np.testing.assert_allclose(q, ref.predict(p[test]), atol=1e-12)
    assert calibration.expected_calibration_error(y[test], q) < 0.03
    t, b = calibration.fit_platt(y[fit], p[fit])
    assert calibration.expected_calibration_error(y[test], q) < \
        calibration.expected_calibration_error(y[test], calibration.apply_temperature(
            p[test], t, bias=b))
    with pytest.raises(InputError, match="knots"):
        calibration.apply_isotonic(q, {"x": [0.1, 0.2], "y": [0.5]})
    with pytest.raises(InputError, match="knots"):
        calibration.apply_isotonic(q, [1, 2])
    with pytest.raises(InputError, match="both classes"):
        calibration.fit_isotonic(np.zeros(4), np.linspace(0, 1, 4))

"""Tests of deepshadows_lib.evaluate against scikit-learn and the paper's own numbers."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from deepshadows_lib import evaluate as ev
from deepshadows_lib.evaluate import resampling
from deepshadows_lib.errors import InputError


def _scores(n, *, seed, ties=True):
    """Labels and overlapping scores; rounding to 2 decimals makes many ties."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.25, n), 0, 1)
    return y, (np.round(p, 2) if ties else p)


def _paper_test_set():
    """A test set with the paper's confusion counts TN 2196, FP 258, FN 142, TP 2404."""
    y = np.r_[np.zeros(2196 + 258, int), np.ones(142 + 2404, int)]
    p = np.r_[np.full(2196, 0.1), np.full(258, 0.9), np.full(142, 0.2), np.full(2404, 0.8)]
    return y, p


# --------------------------------------------------------------------------- binary
def test_binary_metrics_reproduce_paper_table2_from_confusion_counts():
    y, p = _paper_test_set()
    m = ev.binary_metrics(y, p)
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (2196, 258, 142, 2404)
    assert round(m["accuracy"], 3) == 0.920
    assert round(m["recall"], 3) == 0.944
    assert round(m["precision"], 3) == 0.903
    row = ev.PAPER_TABLE2.loc["DeepShadows"]
    assert round(m["accuracy"], 3) == row["accuracy"]
    assert ev.PAPER_CONFUSION == {"tn": 2196, "fp": 258, "fn": 142, "tp": 2404}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_sklearn(seed):
    y, p = _scores(257, seed=seed)
    m = ev.binary_metrics(y, p, threshold=0.5)
    pred = p > 0.5
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)
    assert all(isinstance(m[k], int) for k in ("tn", "fp", "fn", "tp"))
    assert all(isinstance(m[k], float) for k in ("accuracy", "precision", "recall", "auc"))


def test_threshold_is_strict_and_movable():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.5, 0.5, 0.7, 0.2])
    assert ev.binary_metrics(y, p)["tp"] == 1  # 0.5 is not above 0.5
    m = ev.binary_metrics(y, p, threshold=0.4)
    assert (m["tp"], m["fp"]) == (2, 1)


def test_auc_accepts_unbounded_scores_and_column_vectors():
    y, p = _scores(100, seed=5, ties=False)
    z = 7.0 * (p - 0.5)  # e.g. an SVM decision function
    assert ev.binary_metrics(y, z, threshold=0.0)["auc"] == pytest.approx(
        skm.roc_auc_score(y, z), abs=1e-12)
    assert ev.binary_metrics(y, p[:, None]) == ev.binary_metrics(y, p)


def test_no_predicted_positive_gives_zero_precision_and_single_class_nan_auc():
    m = ev.binary_metrics([0, 1, 1], [0.1, 0.2, 0.3])
    assert m["precision"] == 0.0 and m["recall"] == 0.0
    assert np.isnan(ev.binary_metrics([1, 1], [0.2, 0.9])["auc"])


@pytest.mark.parametrize("y, p, word", [
    ([0, 1, 2], [0.1, 0.2, 0.3], "only 0 and 1"),
    ([0, 1], [0.1], "has 1 values"),
    ([0, 1], [0.1, np.nan], "non-finite"),
    ([[0, 1]], [0.1, 0.2], "one-dimensional"),
])
def test_bad_input_is_one_line_input_error(y, p, word):
    with pytest.raises(InputError, match=word) as info:
        ev.binary_metrics(y, p)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- confusion
def test_confusion_matrix_matches_sklearn_including_label_order():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 3, 200)
    q = rng.integers(0, 3, 200)
    np.testing.assert_array_equal(ev.confusion_matrix(t, q), skm.confusion_matrix(t, q))
    order = [2, 0, 1]
    np.testing.assert_array_equal(ev.confusion_matrix(t, q, labels=order),
                                  skm.confusion_matrix(t, q, labels=order))
    # classes outside `labels` are dropped, as in scikit-learn
    np.testing.assert_array_equal(ev.confusion_matrix(t, q, labels=[0, 1]),
                                  skm.confusion_matrix(t, q, labels=[0, 1]))


def test_reduced_confusion_by_hand():
    # rows/cols: artifact2 (0), lsbg (1), artifact1 (2)
    cm3 = np.array([[50, 5, 7],
                    [3, 60, 2],
                    [4, 6, 40]])
    red = ev.reduced_confusion(cm3)
    # artifact -> artifact includes artifact1 <-> artifact2 confusions: 50+7+4+40
    np.testing.assert_array_equal(red, [[101, 11], [5, 60]])
    assert red.sum() == cm3.sum()
    with pytest.raises(InputError):
        ev.reduced_confusion(np.ones((2, 3)))


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(4)
    t = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[t]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = ev.multiclass_metrics(t, proba)
    pred = proba.argmax(1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(t, pred), abs=1e-12)
    np.testing.assert_array_equal(m["confusion"], skm.confusion_matrix(t, pred))
    np.testing.assert_allclose(m["recall"], skm.recall_score(t, pred, average=None))
    np.testing.assert_allclose(m["precision"], skm.precision_score(t, pred, average=None))
    # LSBG (1) vs the rest
    assert m["reduced_accuracy"] == pytest.approx(np.mean((t == 1) == (pred == 1)))
    with pytest.raises(InputError):
        ev.multiclass_metrics(t, proba[:, :2])


# --------------------------------------------------------------------------- ROC
def test_fpr_grid_has_200_points_from_0_to_1():
    assert ev.FPR_GRID.shape == (200,)
    assert ev.FPR_GRID[0] == 0 and ev.FPR_GRID[-1] == 1


@pytest.mark.parametrize("ties", [True, False])
def test_roc_interp_equals_np_interp_of_sklearn_roc(ties):
    y, p = _scores(400, seed=7, ties=ties)
    fpr, tpr, _ = skm.roc_curve(y, p)
    np.testing.assert_allclose(ev.roc_interp(y, p), np.interp(ev.FPR_GRID, fpr, tpr),
                               atol=1e-12, rtol=0)
    grid = np.array([0.0, 0.013, 0.5, 1.0])
    np.testing.assert_allclose(ev.roc_interp(y, p, fpr_grid=grid),
                               np.interp(grid, fpr, tpr), atol=1e-12, rtol=0)
    raw = ev.roc(y, p)
    np.testing.assert_array_equal(raw[0], fpr)


def test_roc_interp_first_point():
    # perfect separation: TPR reaches 1 before any false positive
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9])
    np.testing.assert_array_equal(ev.roc_interp(y, p), np.ones(200))
    z = ev.roc_interp(y, p, zero_start=True)
    assert z[0] == 0 and (z[1:] == 1).all()
    with pytest.raises(InputError, match="only the class"):
        ev.roc_interp([1, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="fpr_grid"):
        ev.roc_interp(y, p, fpr_grid=[0.5, 1.5])


# --------------------------------------------------------------------------- bootstrap
def _plain_loop(y, p, idx, threshold=0.5):
    """Reference: one resample at a time with scikit-learn."""
    out = {k: [] for k in ("accuracy", "precision", "recall", "auc", "tpr")}
    for i in idx:
        yi, pi = y[i], p[i]
        pred = pi > threshold
        out["accuracy"].append(skm.accuracy_score(yi, pred))
        out["precision"].append(skm.precision_score(yi, pred, zero_division=0))
        out["recall"].append(skm.recall_score(yi, pred, zero_division=0))
        if yi.min() == yi.max():
            out["auc"].append(np.nan)
            out["tpr"].append(np.full(len(ev.FPR_GRID), np.nan))
            continue
        out["auc"].append(skm.roc_auc_score(yi, pi))
        f, t, _ = skm.roc_curve(yi, pi)
        out["tpr"].append(np.interp(ev.FPR_GRID, f, t))
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("n, ties", [(211, True), (150, False)])
def test_bootstrap_equals_plain_sklearn_loop(n, ties):
    y, p = _scores(n, seed=11, ties=ties)
    res = ev.bootstrap(y, p, n_resamples=120, seed=5)
    # the documented scheme, drawn independently of the library
    rng = np.random.default_rng(5)
    idx = np.stack([rng.integers(0, n, size=n) for _ in range(120)])
    ref = _plain_loop(y, p, idx)
    for k in ("accuracy", "precision", "recall", "auc"):
        np.testing.assert_allclose(getattr(res, k), ref[k], atol=1e-12, rtol=0, err_msg=k)
    np.testing.assert_allclose(res.tpr, ref["tpr"], atol=1e-12, rtol=0)
    lo, hi = np.percentile(ref["accuracy"], [2.5, 97.5])
    assert res.interval("accuracy") == pytest.approx((lo, hi), abs=1e-12)
    band_lo, band_hi = res.tpr_band()
    np.testing.assert_allclose(band_hi, np.percentile(ref["tpr"], 97.5, axis=0), atol=1e-12)
    assert res.estimate["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_bootstrap_tiny_set_with_one_class_resamples_gives_nan_auc():
    y = np.array([0, 0, 0, 0, 1])
    p = np.array([0.1, 0.4, 0.6, 0.2, 0.7])
    res = ev.bootstrap(y, p, n_resamples=200, seed=1)
    ref = _plain_loop(y, p, ev.bootstrap_indices(5, n_resamples=200, seed=1))
    assert np.isnan(ref["auc"]).any()
    np.testing.assert_array_equal(np.isnan(res.auc), np.isnan(ref["auc"]))
    np.testing.assert_allclose(res.auc, ref["auc"], atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(res.tpr, ref["tpr"], atol=1e-12, equal_nan=True)
    assert np.isfinite(res.interval("auc")).all()


def test_bootstrap_blocks_and_seeds():
    y, p = _scores(60, seed=2)
    a = ev.bootstrap(y, p, n_resamples=50, seed=9)
    b = ev.bootstrap(y, p, n_resamples=50, seed=np.random.default_rng(9))
    c = ev.bootstrap(y, p, n_resamples=50, seed=10)
    np.testing.assert_array_equal(a.auc, b.auc)
    assert not np.array_equal(a.auc, c.auc)
    # many small blocks give the same resamples as one block
    ev_block = resampling._block_size
    try:
        resampling._block_size = lambda n, budget=0: 7
        d = ev.bootstrap(y, p, n_resamples=50, seed=9)
    finally:
        resampling._block_size = ev_block
    np.testing.assert_array_equal(a.tpr, d.tpr)
    curve = a.curve()
    assert curve["tpr"][0] == 0 and curve["band"][0][0] == 0
    np.testing.assert_array_equal(curve["tpr"][1:], a.estimate["tpr"][1:])
    np.testing.assert_allclose(curve["tpr"], ev.roc_interp(y, p, zero_start=True))
    assert curve["auc"] == a.estimate["auc"]
    table = a.summary()
    assert list(table.index) == list(ev.THRESHOLD_METRICS)
    assert (table["low"] <= table["high"]).all()


def test_bootstrap_interval_on_paper_set_is_about_paper_width():
    # With the paper's counts the accuracy interval must be about +-0.0075 (binomial),
    # as in Table 3 (0.912-0.928).
    y, p = _paper_test_set()
    res = ev.bootstrap(y, p, n_resamples=300, seed=0)
    lo, hi = res.interval("accuracy")
    sigma = np.sqrt(0.92 * 0.08 / 5000)
    assert hi - lo == pytest.approx(2 * 1.96 * sigma, rel=0.2)
    assert lo < 0.92 < hi


def test_bootstrap_rejects_bad_parameters():
    y, p = _scores(20, seed=0)
    with pytest.raises(InputError):
        ev.bootstrap(y, p, n_resamples=0)
    with pytest.raises(InputError):
        ev.bootstrap(y, p, ci=1.5)


# --------------------------------------------------------------------------- TPR ratio
def test_tpr_ratio_against_manual_curves():
    y, pa = _scores(300, seed=21, ties=False)
    rng = np.random.default_rng(0)
    pb = np.clip(pa + rng.normal(0, 0.3, len(pa)), 0, 1)
    fpr, ratio = ev.tpr_ratio(y, pa, pb)
    fa, ta, _ = skm.roc_curve(y, pa)
    fb, tb, _ = skm.roc_curve(y, pb)
    ia, ib = np.interp(fpr, fa, ta), np.interp(fpr, fb, tb)
    ok = ib > 0
    np.testing.assert_allclose(ratio[ok], ia[ok] / ib[ok], rtol=1e-12)
    assert np.isnan(ratio[~ok]).all()
    assert ratio[-1] == pytest.approx(1.0)
    _, same = ev.tpr_ratio(y, pa, pa)
    np.testing.assert_allclose(same[np.isfinite(same)], 1.0)


def test_tpr_ratio_bootstrap_equals_loop():
    y, pa = _scores(80, seed=3)
    pb = np.round(np.clip(pa + np.random.default_rng(1).normal(0, 0.2, 80), 0, 1), 2)
    lo, hi = ev.tpr_ratio_bootstrap(y, pa, pb, n_resamples=40, seed=2)
    ratios = []
    for i in ev.bootstrap_indices(80, n_resamples=40, seed=2):
        fa, ta, _ = skm.roc_curve(y[i], pa[i])
        fb, tb, _ = skm.roc_curve(y[i], pb[i])
        a, b = np.interp(ev.FPR_GRID, fa, ta), np.interp(ev.FPR_GRID, fb, tb)
        ratios.append(np.where(b > 0, a / np.where(b > 0, b, 1), np.nan))
    with np.errstate(all="ignore"):
        ref_lo, ref_hi = np.nanpercentile(np.array(ratios), [2.5, 97.5], axis=0)
    np.testing.assert_allclose(lo, ref_lo, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-12, equal_nan=True)


# --------------------------------------------------------------------------- tables
def test_metrics_table_and_comparison_with_paper():
    y, p = _scores(200, seed=1)
    y2, p2 = _paper_test_set()
    table = ev.metrics_table({"svm": (y, p), "DeepShadows": (y2, p2), "mine": (y, 1 - p)})
    assert list(table.index) == ["svm", "DeepShadows", "mine"]
    assert list(table.columns) == ["accuracy", "recall", "precision", "auc"]
    assert table.at["svm", "auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert table.at["svm", "recall"] == pytest.approx(skm.recall_score(y, p > 0.5))
    cmp = ev.compare_with_paper(table)
    assert cmp.loc["svm", ("accuracy", "paper")] == 0.819
    assert cmp.loc["DeepShadows", ("recall", "paper")] == 0.944
    assert np.isnan(cmp.loc["mine", ("auc", "paper")])
    assert round(cmp.loc["DeepShadows", ("precision", "this run")], 3) == 0.903
    with pytest.raises(InputError):
        ev.metrics_table({})
    with pytest.raises(InputError):
        ev.metrics_table({"x": y})


def test_paper_constants_are_consistent():
    assert list(ev.PAPER_TABLE2.columns) == list(ev.THRESHOLD_METRICS)
    lo, hi = ev.PAPER_BOOTSTRAP["accuracy"]
    assert lo < ev.PAPER_TABLE2.at["DeepShadows", "accuracy"] < hi
    assert ev.PAPER_LABEL_NOISE["accuracy"].is_monotonic_decreasing
    assert ev.PAPER_HSC.at["after fine-tuning", "accuracy"] == 0.876


@pytest.mark.slow  # spawns a process
def test_evaluate_does_not_import_tensorflow():
    code = ("import sys, deepshadows_lib.evaluate as e; import numpy as np; "
            "e.bootstrap([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.4], n_resamples=5); "
            "sys.exit(int('tensorflow' in sys.modules or 'keras' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0

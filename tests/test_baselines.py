"""Tests of deepshadows_lib.baselines: the paper's SVM and random forest."""

import numpy as np

from deepshadows_lib import baselines


def _blobs(n=200, seed=0, shift=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) + shift * y[:, None]
    return X * np.array([1.0, 100.0, 0.01, 5.0]), y  # scales that need the scaler


def test_svm_pipeline_is_the_papers_and_scores_follow_the_decision():
    pipe = baselines.svm_pipeline()
    svc = pipe.named_steps["svm"]
    assert (svc.kernel, svc.C, svc.gamma) == ("rbf", 1e4, 1e-3)
    assert "scale" in pipe.named_steps
    X, y = _blobs()
    pipe.fit(X, y)
    s = baselines.baseline_scores(pipe, X)
    assert s.shape == (len(y),) and np.all((s > 0) & (s < 1))
    # score > 0.5 exactly when the SVM itself predicts an LSBG
    np.testing.assert_array_equal((s > 0.5).astype(int), pipe.predict(X))


def test_random_forest_pipeline_is_the_papers():
    from sklearn.ensemble import RandomForestClassifier

    pipe = baselines.random_forest_pipeline(seed=3)
    rf = pipe.named_steps["rf"]
    assert (rf.n_estimators, rf.min_samples_split) == (100, 10)
    X, y = _blobs(seed=1)
    pipe.fit(X, y)
    # an independent forest on the raw features (scaling is irrelevant to trees)
    ref = RandomForestClassifier(n_estimators=100, min_samples_split=10, random_state=3)
    ref.fit(X, y)
    np.testing.assert_allclose(baselines.baseline_scores(pipe, X), ref.predict_proba(X)[:, 1])


def test_baseline_pipelines_names():
    assert set(baselines.baseline_pipelines()) == {"SVM", "Random forest"}


def test_a_larger_kernel_cache_leaves_the_fitted_svm_unchanged():
    X, y = _blobs(n=600, seed=2, shift=0.8)
    big = baselines.svm_pipeline(seed=1).fit(X, y)
    small = baselines.svm_pipeline(seed=1, cache_size=1).fit(X, y)
    assert big.named_steps["svm"].cache_size == baselines.SVM_CACHE_MB > 200
    np.testing.assert_array_equal(big.decision_function(X), small.decision_function(X))

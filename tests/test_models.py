"""Tests of deepshadows_lib.models: the paper's network and the feature baselines."""

import numpy as np
import pytest

from deepshadows_lib import models


def _expected_params(n_out):
    """Parameter count of the paper's architecture, from first principles."""
    total, c_in, side = 0, 3, 64
    for filters in (16, 32, 64):
        total += 3 * 3 * c_in * filters + filters  # conv kernel + bias
        total += 4 * filters                         # BN gamma, beta, moving mean, var
        c_in, side = filters, side // 2
    flat = side * side * c_in
    total += flat * 1024 + 1024
    total += 1024 * n_out + n_out
    return total


@pytest.fixture(scope="module")
def binary():
    return models.build_deepshadows()


def test_parameter_count_is_the_papers(binary):
    assert _expected_params(1) == 4_220_385  # the reference itself agrees with the paper
    assert binary.count_params() == 4_220_385 == models.PAPER_N_PARAMS


def test_layers_in_order_and_configured(binary):
    import keras

    assert isinstance(binary, keras.Model) and not isinstance(binary, keras.Sequential)
    assert [layer.name for layer in binary.layers] == list(models.LAYER_NAMES)
    for k, filters in enumerate((16, 32, 64), start=1):
        conv = binary.get_layer(f"conv{k}").get_config()
        assert conv["filters"] == filters
        assert tuple(conv["kernel_size"]) == (3, 3)
        assert conv["padding"] == "same"
        assert conv["activation"] == "relu"
        assert conv["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.13)
        assert isinstance(binary.get_layer(f"bn{k}"), keras.layers.BatchNormalization)
        assert tuple(binary.get_layer(f"pool{k}").get_config()["pool_size"]) == (2, 2)
        assert binary.get_layer(f"drop{k}").get_config()["rate"] == pytest.approx(0.4)
    dense = binary.get_layer("dense1").get_config()
    assert dense["units"] == 1024 and dense["activation"] == "relu"
    assert dense["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.12)
    out = binary.get_layer("output").get_config()
    assert out["units"] == 1 and out["activation"] == "sigmoid"
    assert binary.get_layer(models.LAST_CONV_LAYER).output.shape[1:] == (16, 16, 64)


def test_regularisation_penalty_matches_numpy(binary):
    # Keras' L2(c) adds c * sum(w^2) per kernel; check against an independent sum
    expected = sum(c * float(np.sum(binary.get_layer(name).get_weights()[0].astype(float) ** 2))
                   for name, c in [("conv1", 0.13), ("conv2", 0.13), ("conv3", 0.13),
                                   ("dense1", 0.12)])
    got = float(sum(np.asarray(v) for v in binary.losses))
    assert got == pytest.approx(expected, rel=1e-5)


def test_compiled_as_in_the_paper(binary):
    import keras

    opt = binary.optimizer
    assert isinstance(opt, keras.optimizers.Adadelta)
    assert float(np.asarray(opt.learning_rate)) == pytest.approx(0.1)
    assert "binary_crossentropy" in str(binary.loss)


def test_three_class_head():
    import keras

    m = models.build_deepshadows(n_classes=3, learning_rate=0.005)
    assert m.count_params() == _expected_params(3)
    out = m.get_layer("output").get_config()
    assert out["units"] == 3 and out["activation"] == "softmax"
    assert "categorical_crossentropy" in str(m.loss)
    assert float(np.asarray(m.optimizer.learning_rate)) == pytest.approx(0.005)
    p = np.asarray(m(np.random.default_rng(0).random((2, 64, 64, 3)), training=False))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    keras.backend.clear_session()


def test_uncompiled_and_bad_n_classes():
    m = models.build_deepshadows(compile=False)
    assert not m.compiled
    with pytest.raises(ValueError, match="n_classes"):
        models.build_deepshadows(n_classes=0)


# --------------------------------------------------------------------------- baselines
def _blobs(n=200, seed=0, shift=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) + shift * y[:, None]
    return X * np.array([1.0, 100.0, 0.01, 5.0]), y  # scales that need the scaler


def test_svm_pipeline_is_the_papers_and_scores_follow_the_decision():
    pipe = models.svm_pipeline()
    svc = pipe.named_steps["svm"]
    assert (svc.kernel, svc.C, svc.gamma) == ("rbf", 1e4, 1e-3)
    assert "scale" in pipe.named_steps
    X, y = _blobs()
    pipe.fit(X, y)
    s = models.baseline_scores(pipe, X)
    assert s.shape == (len(y),) and np.all((s > 0) & (s < 1))
    # score > 0.5 exactly when the SVM itself predicts an LSBG
    np.testing.assert_array_equal((s > 0.5).astype(int), pipe.predict(X))


def test_random_forest_pipeline_is_the_papers():
    from sklearn.ensemble import RandomForestClassifier

    pipe = models.random_forest_pipeline(seed=3)
    rf = pipe.named_steps["rf"]
    assert (rf.n_estimators, rf.min_samples_split) == (100, 10)
    X, y = _blobs(seed=1)
    pipe.fit(X, y)
    # an independent forest on the raw features (scaling is irrelevant to trees)
    ref = RandomForestClassifier(n_estimators=100, min_samples_split=10, random_state=3)
    ref.fit(X, y)
    np.testing.assert_allclose(models.baseline_scores(pipe, X), ref.predict_proba(X)[:, 1])


def test_baseline_pipelines_names():
    assert set(models.baseline_pipelines()) == {"SVM", "Random forest"}


def test_fused_batch_norm_gradients_match_keras():
    # the fused batch norm against Keras' own ops: same loss, same gradients, same stats.
    # (Whole training runs are not compared: Adadelta's first steps normalise each
    # gradient element, so float32 rounding of near-zero elements is amplified.)
    import keras
    import tensorflow as tf
    from deepshadows_lib.models import build_deepshadows, fuse_batch_norm

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((8, 64, 64, 3)).astype(np.float32))
    y = tf.constant((rng.random((8, 1)) > 0.5).astype(np.float32))
    out = {}
    for fused in (False, True):
        keras.utils.set_random_seed(3)
        m = build_deepshadows(compile=False)
        if fused:
            fuse_batch_norm(m)
        keras.utils.set_random_seed(4)  # same dropout masks
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, m(x, training=True)))
        grads = tape.gradient(loss, m.trainable_variables)
        out[fused] = (float(loss), [g.numpy() for g in grads],
                      [m.get_layer(f"bn{k}").moving_variance.numpy() for k in (1, 2, 3)])
    assert out[True][0] == pytest.approx(out[False][0], rel=1e-5)
    for a, b in zip(out[False][1], out[True][1]):
        assert np.linalg.norm(a) > 0
        assert np.linalg.norm(b - a) / np.linalg.norm(a) < 3e-3  # float32 sums
    for a, b in zip(out[False][2], out[True][2]):
        assert not np.allclose(a, 1.0)  # the moving variance was updated
        np.testing.assert_allclose(b, a, rtol=1e-5)  # Keras' formula, biased variance


def test_fused_adadelta_matches_keras():
    import keras
    from deepshadows_lib.models import fuse_adadelta

    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(50, 20)).astype(np.float32)
    grads = [rng.normal(scale=s, size=w0.shape).astype(np.float32) for s in (1, 1e-3, 0.1)]
    result = {}
    for fused in (False, True):
        v = keras.Variable(w0)
        opt = keras.optimizers.Adadelta(learning_rate=0.1)
        if fused:
            fuse_adadelta(opt)
        for g in grads:
            opt.apply_gradients([(g, v)])
        result[fused] = v.numpy()
        assert type(opt) is keras.optimizers.Adadelta  # saves and loads as one
    assert not np.allclose(result[False], w0)
    np.testing.assert_allclose(result[True], result[False], rtol=1e-6, atol=1e-7)


def test_gap_head_replaces_flatten_and_dense():
    gap = models.build_deepshadows(head="gap", compile=False)
    names = [layer.name for layer in gap.layers]
    assert names[-2:] == ["gap", "output"] and "dense1" not in names and "flatten" not in names
    # first principles: the three conv blocks of _expected_params, then 64 -> 1
    convs = _expected_params(1) - (8 * 8 * 64 * 1024 + 1024) - (1024 + 1)
    assert gap.count_params() == convs + 64 + 1 == 24_097
    assert gap.get_layer("conv3") is not None  # Grad-CAM's layer is still there
    with pytest.raises(ValueError, match="head"):
        models.build_deepshadows(head="dense", compile=False)

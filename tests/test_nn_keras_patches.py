"""Tests of deepshadows_lib.nn.keras_patches (and nn.fused): the fused training kernels.

The references are Keras' own optimizer and BatchNormalization layer, run side by side.
"""

import warnings

import numpy as np
import pytest

from deepshadows_lib import nn
from deepshadows_lib.nn import fused, keras_patches
from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)

pytestmark = pytest.mark.tf


@pytest.fixture
def fresh_probe(monkeypatch):
    """Forget the process's probe result and warning, so a test sees them anew."""
    monkeypatch.setattr(keras_patches, "_probe_result", None)
    monkeypatch.setattr(keras_patches, "_warned", False)


def test_probe_finds_this_keras_patchable(fresh_probe):
    assert keras_patches.probe() == {"fused_adadelta": None, "fused_batch_norm": None}


def _bn_model(seed, *, fuse):
    """Frozen conv -> BN -> ReLU -> GAP -> sigmoid: the BN's input depends only on the data."""
    import keras
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", trainable=False, name="conv")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="out")(h))
    if fuse:
        nn.fuse_batch_norm(model)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
                  loss="binary_crossentropy")
    return model


def test_fused_batch_norm_matches_keras_over_fifty_training_steps():
    rng = np.random.default_rng(0)
    x = (rng.random((400, 8, 8, 3)) * 2 + np.linspace(0, 1, 3)).astype(np.float32)
    y = (x[:, 2:6, 2:6].mean(axis=(1, 2, 3)) > np.median(x.mean(axis=(1, 2, 3)))) \
        .astype(np.float32)
    x_new = rng.random((64, 8, 8, 3)).astype(np.float32) * 2
    models = {}
    for fuse in (False, True):
        m = _bn_model(1, fuse=fuse)
        assert (keras_patches.is_patched(m.get_layer("bn")) == "fused_batch_norm") == fuse
        # 400 / 8 = 50 training steps, the same batches in the same order
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        assert int(m.optimizer.iterations.numpy()) == 50
        models[fuse] = m
    keras_bn, fused_bn = models[False].get_layer("bn"), models[True].get_layer("bn")
    # the statistics moved far from their start (0 and 1): the comparison means something
    assert np.abs(keras_bn.moving_mean.numpy()).min() > 0.01
    assert np.abs(keras_bn.moving_variance.numpy() - 1).min() > 0.01
    np.testing.assert_allclose(fused_bn.moving_mean.numpy(), keras_bn.moving_mean.numpy(),
                               rtol=1e-5)
    np.testing.assert_allclose(fused_bn.moving_variance.numpy(),
                               keras_bn.moving_variance.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused_bn.gamma.numpy(), keras_bn.gamma.numpy(), rtol=1e-4)
    np.testing.assert_allclose(fused_bn.beta.numpy(), keras_bn.beta.numpy(), atol=1e-5)
    # inference after fused training (Keras' inference path for both) gives Keras' answer
    p_keras = models[False].predict(x_new, verbose=0)
    p_fused = models[True].predict(x_new, verbose=0)
    assert np.ptp(p_keras) > 1e-3
    np.testing.assert_allclose(p_fused, p_keras, atol=1e-5)


def test_fused_batch_norm_gradients_match_keras():
    # one training step of the full network: same loss, same gradients, same statistics
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((8, 64, 64, 3)).astype(np.float32))
    y = tf.constant((rng.random((8, 1)) > 0.5).astype(np.float32))
    out = {}
    for fuse in (False, True):
        keras.utils.set_random_seed(3)
        m = nn.build_deepshadows(compile=False)
        if fuse:
            nn.fuse_batch_norm(m)
        keras.utils.set_random_seed(4)  # same dropout masks
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, m(x, training=True)))
        grads = tape.gradient(loss, m.trainable_variables)
        out[fuse] = (float(loss), [g.numpy() for g in grads],
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

    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(50, 20)).astype(np.float32)
    grads = [rng.normal(scale=s, size=w0.shape).astype(np.float32) for s in (1, 1e-3, 0.1)]
    result = {}
    for fuse in (False, True):
        v = keras.Variable(w0)
        opt = keras.optimizers.Adadelta(learning_rate=0.1)
        if fuse:
            nn.fuse_adadelta(opt)
        assert (keras_patches.is_patched(opt) == "fused_adadelta") == fuse
        for g in grads:
            opt.apply_gradients([(g, v)])
        result[fuse] = v.numpy()
        assert type(opt) is keras.optimizers.Adadelta  # saves and loads as one
    assert not np.allclose(result[False], w0)
    np.testing.assert_allclose(result[True], result[False], rtol=1e-6, atol=1e-7)


def _count_calls(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.slow
def test_fusion_is_active_exactly_when_claimed(monkeypatch, fuse):
    # the fused kernels are traced into the training step when, and only when, the
    # optimizer and the layers say they are patched
    bn_calls = _count_calls(monkeypatch, fused, "batch_norm_train")
    opt_calls = _count_calls(monkeypatch, fused, "adadelta_apply")
    model = nn.build_deepshadows(compile=False)
    nn.compile_deepshadows(model, jit_compile=False, fused=fuse)
    bns = [model.get_layer(f"bn{k}") for k in (1, 2, 3)]
    claimed = ([keras_patches.is_patched(model.optimizer)]
               + [keras_patches.is_patched(b) for b in bns])
    images, y = easy_images(8)
    model.train_on_batch(images.astype(np.float32) / 255, y.astype(np.float32))
    if fuse:
        assert claimed == ["fused_adadelta"] + ["fused_batch_norm"] * 3
        assert len(bn_calls) >= 3                 # one per layer, at least when traced
        assert len(opt_calls) >= len(model.trainable_variables)
    else:
        assert claimed == [None] * 4
        assert bn_calls == [] and opt_calls == []


@pytest.mark.slow
def test_missing_keras_internal_falls_back_with_one_warning(monkeypatch, fresh_probe):
    # simulate a TensorFlow / Keras without the internals the patches use: the probe
    # finds out, nothing is patched, training runs Keras' own ops, one warning in all
    import tensorflow as tf

    monkeypatch.delattr(tf.raw_ops, "ResourceApplyAdadelta")
    monkeypatch.delattr(tf.raw_ops, "FusedBatchNormV3")
    images, y = easy_images(32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, hist = nn.train_cnn(images, y, epochs=1, batch_size=16, seed=0,
                                   progress=False, checkpoint=None)
        again = nn.build_deepshadows()  # compiles (and would patch) once more
    ours = [w for w in caught if issubclass(w.category, keras_patches.KerasPatchWarning)]
    assert len(ours) == 1
    assert "ResourceApplyAdadelta" in str(ours[0].message)
    assert "FusedBatchNormV3" in str(ours[0].message)
    reasons = keras_patches.probe()
    assert reasons["fused_adadelta"] and reasons["fused_batch_norm"]
    for m in (model, again):
        assert keras_patches.is_patched(m.optimizer) is None
        assert all(keras_patches.is_patched(m.get_layer(f"bn{k}")) is None for k in (1, 2, 3))
    assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 2  # it trained: 32 / 16 steps


@pytest.mark.slow
def test_fallback_training_agrees_with_fused_training(monkeypatch, fresh_probe):
    # Keras' own ops and the fused ones: the same network after the same short training,
    # to the rounding Adadelta's first steps amplify
    import tensorflow as tf

    images, y = easy_images(32)
    kw = dict(epochs=1, batch_size=16, seed=0, progress=False, checkpoint=None)
    fused_model, _ = nn.train_cnn(images, y, **kw)
    monkeypatch.setattr(keras_patches, "_probe_result", None)
    monkeypatch.delattr(tf.raw_ops, "FusedBatchNormV3")
    monkeypatch.delattr(tf.raw_ops, "ResourceApplyAdadelta")
    with pytest.warns(keras_patches.KerasPatchWarning):
        plain_model, _ = nn.train_cnn(images, y, **kw)
    p_fused = nn.predict(fused_model, images)
    p_plain = nn.predict(plain_model, images)
    np.testing.assert_allclose(p_fused, p_plain, atol=2e-2)

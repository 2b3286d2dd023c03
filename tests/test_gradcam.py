"""Tests of deepshadows_lib.gradcam.

The Grad-CAM maps are checked against an independent implementation written here with a
plain ``tf.GradientTape`` (no tf-keras-vis, nothing imported from the library), and on
images where one bright off-centre source drives the prediction.
"""

import numpy as np
import pytest
from scipy.ndimage import zoom

from deepshadows_lib import gradcam as gc
from deepshadows_lib.errors import InputError

pytestmark = pytest.mark.tf  # builds or runs TensorFlow models

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


# --------------------------------------------------------------------------- fixtures
def _small_cnn(n_out=1, seed=0):
    """A small random Functional CNN shaped like DeepShadows (conv, BN, pool, dropout)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Dropout(0.4)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    act = "sigmoid" if n_out == 1 else "softmax"
    out = keras.layers.Dense(n_out, activation=act, name="out")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def binary_model():
    return _small_cnn(1, seed=0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(6, 64, 64, 3), dtype=np.uint8)


def reference_gradcam(model, x, *, layer, targets):
    """Grad-CAM from scratch: d(logit)/d(feature maps), channel weights = spatial mean.

    ``targets[i]`` is the class explained for image i.  The logit is recomputed from the
    output layer's kernel and bias, so the sigmoid/softmax is never differentiated.
    """
    conv = model.get_layer(layer)
    last = model.get_layer("out")
    feat = keras.Model(model.inputs, [conv.output, last.input])
    x = tf.constant(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        a, h = feat(x, training=False)
        tape.watch(a)
        logits = tf.matmul(h, last.kernel) + last.bias
        if logits.shape[1] == 1:
            sign = tf.constant(2.0 * np.asarray(targets, np.float32) - 1.0)
            score = tf.reduce_sum(sign * logits[:, 0])
        else:
            onehot = tf.one_hot(targets, logits.shape[1])
            score = tf.reduce_sum(onehot * logits)
    g = tape.gradient(score, a).numpy()
    weights = g.mean(axis=(1, 2), keepdims=True)
    return np.maximum((a.numpy() * weights).sum(axis=-1), 0.0)


def _corr(a, b):
    return np.corrcoef(a.ravel(), b.ravel())[0, 1]


def _nonconstant(maps):
    return [i for i in range(len(maps)) if np.ptp(maps[i]) > 0]


# --------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("class_index", [None, 1, 0])
def test_maps_agree_with_independent_gradient_tape(binary_model, images, class_index):
    x = images.astype(np.float32) / 255
    p = binary_model.predict(x, verbose=0)[:, 0]
    targets = (p > 0.5).astype(int) if class_index is None else np.full(len(x), class_index)
    ref = reference_gradcam(binary_model, x, layer="conv2", targets=targets)

    native = gc.gradcam_maps(binary_model, images, class_index=class_index, expand=False)
    assert native.shape == (6, 32, 32)
    idx = _nonconstant(ref)
    assert len(idx) >= 3, "the random model should give non-trivial maps"
    for i in idx:
        assert _corr(native[i], ref[i]) > 0.99

    full = gc.gradcam_maps(binary_model, images, class_index=class_index, batch_size=4)
    assert full.shape == (6, 64, 64) and full.dtype == np.float32
    # tf-keras-vis upsamples with scipy's linear zoom (corners aligned)
    up = zoom(ref, (1, 2, 2), order=1)
    for i in idx:
        assert _corr(full[i], up[i]) > 0.99
        assert full[i].min() == pytest.approx(0, abs=1e-6)
        assert full[i].max() == pytest.approx(1, abs=1e-4)


def test_softmax_model_agrees_with_reference(images):
    model = _small_cnn(3, seed=2)
    x = images.astype(np.float32) / 255
    for class_index in (None, 2):
        pred = model.predict(x, verbose=0).argmax(1)
        targets = pred if class_index is None else np.full(len(x), class_index)
        ref = reference_gradcam(model, x, layer="conv2", targets=targets)
        mine = gc.gradcam_maps(model, x, class_index=class_index, expand=False)
        for i in _nonconstant(ref):
            assert _corr(mine[i], ref[i]) > 0.99


def test_per_image_class_index_and_batching(binary_model, images):
    per = np.array([0, 1, 0, 1, 1, 0])
    a = gc.gradcam_maps(binary_model, images, class_index=per, batch_size=1, expand=False)
    b = gc.gradcam_maps(binary_model, images, class_index=per, batch_size=32, expand=False)
    np.testing.assert_allclose(a, b, atol=1e-5)
    x = images.astype(np.float32) / 255
    ref = reference_gradcam(binary_model, x, layer="conv2", targets=per)
    for i in _nonconstant(ref):
        assert _corr(a[i], ref[i]) > 0.99
    # uint8 images are scaled by 1/255 like float input
    np.testing.assert_allclose(gc.gradcam_maps(binary_model, x, class_index=per,
                                               expand=False), b, atol=1e-5)
    one = gc.gradcam_maps(binary_model, images[2], class_index=0)
    assert one.shape == (64, 64)


def test_caller_model_is_not_modified(binary_model, images):
    x = images.astype(np.float32) / 255
    before = binary_model.predict(x, verbose=0)
    weights = [w.copy() for w in binary_model.get_weights()]
    gc.gradcam_maps(binary_model, images)
    assert binary_model.get_layer("out").activation is keras.activations.sigmoid
    np.testing.assert_array_equal(binary_model.predict(x, verbose=0), before)
    for w0, w1 in zip(weights, binary_model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_last_conv_layer_and_bad_input(binary_model, images):
    assert gc.last_conv_layer(binary_model) == "conv2"
    inp = keras.Input((64, 64, 3))
    dense_only = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))
    with pytest.raises(InputError, match="no convolutional layer"):
        gc.last_conv_layer(dense_only)
    with pytest.raises(InputError, match="expects"):
        gc.gradcam_maps(binary_model, images[:, :32])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        gc.gradcam_maps(binary_model, images.astype(np.float32))
    with pytest.raises(InputError, match="no layer named"):
        gc.gradcam_maps(binary_model, images, layer_name="conv9")
    with pytest.raises(InputError, match="0 or 1"):
        gc.gradcam_maps(binary_model, images, class_index=2)


# --------------------------------------------------------------------------- localisation
SOURCE = (14, 47)  # row, column: off-centre and asymmetric, so a transposed map fails


def _scene(rng, *, source=None, n=1):
    """Noise plus a faint extended central blob (LSBG-like), optionally a bright star."""
    yy, xx = np.mgrid[:64, :64]
    img = 0.05 + 0.03 * rng.standard_normal((n, 64, 64, 1))
    img = img + 0.15 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / (2 * 8.0 ** 2))[..., None]
    if source is not None:
        r, c = source
        img = img + 0.9 * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 1.5 ** 2))[..., None]
    return np.clip(np.repeat(img, 3, axis=-1), 0, 1).astype(np.float32)


def test_map_peaks_on_bright_source_hand_set_model():
    """Conv detects bright pixels; Dense turns brightness into 'artifact'."""
    inp = keras.Input((64, 64, 3))
    conv = keras.layers.Conv2D(1, 3, padding="same", activation="relu", name="bright")
    x = conv(inp)
    dense = keras.layers.Dense(1, activation="sigmoid", name="out")
    out = dense(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    conv.set_weights([np.full((3, 3, 3, 1), 1 / 27, np.float32), np.array([-0.4], np.float32)])
    dense.set_weights([np.full((64 * 64, 1), -20.0, np.float32), np.array([3.0], np.float32)])

    x = _scene(np.random.default_rng(0), source=SOURCE)
    p = float(model.predict(x, verbose=0)[0, 0])
    assert p < 0.2  # the star makes it an artifact
    clean = _scene(np.random.default_rng(0))
    assert float(model.predict(clean, verbose=0)[0, 0]) > 0.8
    cam = gc.gradcam_maps(model, x)[0]  # explains the predicted class: artifact
    peak = np.unravel_index(np.argmax(cam), cam.shape)
    assert np.hypot(peak[0] - SOURCE[0], peak[1] - SOURCE[1]) <= 3


@pytest.mark.slow
def test_map_peaks_on_bright_source_trained_model():
    """A tiny CNN trained to call images with a bright off-centre star artifacts."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 192
    positions = []
    xs, ys = [], []
    for i in range(n):
        if i % 2:
            while True:
                pos = tuple(rng.integers(6, 58, 2))
                if np.hypot(pos[0] - 32, pos[1] - 32) > 16:
                    break
            xs.append(_scene(rng, source=pos)[0])
            ys.append(0)
            positions.append(pos)
        else:
            xs.append(_scene(rng)[0])
            ys.append(1)
            positions.append(None)
    x, y = np.stack(xs), np.array(ys, np.float32)
    inp = keras.Input((64, 64, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="out")(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    model.fit(x[:160], y[:160], epochs=10, batch_size=32, verbose=0)

    p = model.predict(x[160:], verbose=0)[:, 0]
    assert np.mean((p > 0.5) == y[160:]) > 0.8, "the tiny CNN must learn the task"
    # held-out images with a star that the model calls artifacts with confidence
    test = [i for i in range(160, n) if y[i] == 0 and p[i - 160] < 0.2]
    assert len(test) >= 6
    maps = gc.gradcam_maps(model, x[test])
    near = []
    for m, i in zip(maps, test):
        peak = np.unravel_index(np.argmax(m), m.shape)
        near.append(np.hypot(peak[0] - positions[i][0], peak[1] - positions[i][1]) <= 4)
    assert np.mean(near) >= 0.9


# --------------------------------------------------------------------------- selection
def test_select_examples_categories_and_limits():
    y = np.array([1, 1, 1, 0, 0, 0, 1, 0, 1, 0, 1])
    p = np.array([0.9, 0.95, 0.1, 0.05, 0.85, 0.5, 0.81, 0.19, 0.79, 0.2, 0.99])
    sel = gc.select_examples(y, p, n=10)
    assert set(sel) == {"TP", "TN", "FP", "FN"}
    np.testing.assert_array_equal(sel["TP"], [0, 1, 6, 10])  # 0.79 is not above 0.8
    np.testing.assert_array_equal(sel["TN"], [3, 7])  # 0.2 is not below 0.2
    np.testing.assert_array_equal(sel["FP"], [4])
    np.testing.assert_array_equal(sel["FN"], [2])
    two = gc.select_examples(y, p[:, None], n=2, seed=3)
    assert len(two["TP"]) == 2 and set(two["TP"]) <= {0, 1, 6, 10}
    np.testing.assert_array_equal(two["TP"], gc.select_examples(y, p, n=2, seed=3)["TP"])
    draws = {tuple(gc.select_examples(y, p, n=2, seed=s)["TP"]) for s in range(20)}
    assert len(draws) > 1  # the seed matters
    with pytest.raises(InputError):
        gc.select_examples(y, p[:-1])
    with pytest.raises(InputError):
        gc.select_examples(y + 1, p)


def test_gradcam_examples_bundles_maps(binary_model, images):
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.1, 0.95, 0.5, 0.3])
    ex = gc.gradcam_examples(binary_model, images, y, p, n=2)
    assert [len(ex[c]["index"]) for c in gc.CATEGORIES] == [1, 1, 1, 1]
    np.testing.assert_array_equal(ex["FP"]["image"][0], images[3])
    np.testing.assert_allclose(ex["FP"]["map"][0], gc.gradcam_maps(binary_model, images[3]),
                               atol=1e-6)
    assert ex["FN"]["p"][0] == 0.1


# --------------------------------------------------------------------------- HiResCAM
def reference_hirescam(model, x, *, layer, targets):
    """HiResCAM from scratch: ReLU(sum over channels of gradient * activation)."""
    conv = model.get_layer(layer)
    last = model.get_layer("out")
    feat = keras.Model(model.inputs, [conv.output, last.input])
    x = tf.constant(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        a, h = feat(x, training=False)
        tape.watch(a)
        logits = tf.matmul(h, last.kernel) + last.bias
        sign = tf.constant(2.0 * np.asarray(targets, np.float32) - 1.0)
        score = tf.reduce_sum(sign * logits[:, 0])
    g = tape.gradient(score, a).numpy()
    return np.maximum((a.numpy() * g).sum(axis=-1), 0.0)


@pytest.mark.parametrize("class_index", [1, 0])
def test_hirescam_agrees_with_independent_gradient_tape(binary_model, images, class_index):
    x = images.astype(np.float32) / 255
    ref = reference_hirescam(binary_model, x, layer="conv2",
                             targets=np.full(len(x), class_index))
    native = gc.gradcam_maps(binary_model, images, class_index=class_index, expand=False,
                             normalize=False, method="hirescam", batch_size=4)
    assert native.shape == ref.shape == (6, 32, 32)
    np.testing.assert_allclose(native, ref, rtol=1e-4, atol=1e-6 * ref.max())
    with pytest.raises(InputError, match="method"):
        gc.gradcam_maps(binary_model, images, method="scorecam")


def _centre_vs_surroundings_model():
    """One channel, flattened into the logit: + at the centre, - everywhere else.

    The logit rises with light at the centre and falls with light around it: the
    situation where Grad-CAM's image-averaged channel weight is ruled by the surroundings.
    """
    inp = keras.Input((64, 64, 3))
    conv = keras.layers.Conv2D(1, 1, activation="relu", name="conv1")
    feats = conv(inp)
    flat = keras.layers.Flatten()(feats)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(flat)
    model = keras.Model(inp, out)
    conv.set_weights([np.ones((1, 1, 3, 1), np.float32), np.zeros(1, np.float32)])
    from deepshadows_lib.occlusion import central_mask
    w = np.where(central_mask((64, 64), radius=8), 1.0, -0.1).astype(np.float32)
    model.get_layer("out").set_weights([w.reshape(-1, 1), np.zeros(1, np.float32)])
    return model


def test_hirescam_finds_the_centre_where_gradcam_does_not():
    model = _centre_vs_surroundings_model()
    img = np.full((2, 64, 64, 3), 20, np.uint8)
    img[:, 26:38, 26:38] = 200  # a bright central object
    share_grad = gc.central_share(gc.gradcam_maps(model, img, class_index=1))
    share_hires = gc.central_share(gc.gradcam_maps(model, img, class_index=1,
                                                   method="hirescam"))
    # the channel's mean gradient is negative (most pixels count against), so Grad-CAM
    # weights the central object negatively and keeps only what the ReLU lets through
    assert np.all(np.nan_to_num(share_grad) < 0.2)
    assert np.all(share_hires > 0.99)


def test_central_share_and_disc_share():
    assert gc.disc_share((64, 64)) == pytest.approx(np.pi * 144 / 4096, rel=0.03)
    flat = np.ones((64, 64))
    assert gc.central_share(flat) == pytest.approx(gc.disc_share((64, 64)))
    spot = np.zeros((64, 64))
    spot[30:34, 30:34] = 1
    corner = np.zeros((64, 64))
    corner[:5, :5] = 1
    shares = gc.central_share(np.stack([spot, corner, np.zeros((64, 64))]))
    assert shares[0] == 1 and shares[1] == 0 and np.isnan(shares[2])

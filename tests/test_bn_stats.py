"""Tests of deepshadows_lib.bn_stats: batch-norm statistics re-estimated after training."""

import numpy as np
import pytest

from deepshadows_lib import bn_stats

pytestmark = pytest.mark.tf  # builds or runs TensorFlow models

keras = pytest.importorskip("keras")


def _small_model(seed=0):
    """image (4, 4, 2) -> 1x1 conv (3) -> BN -> ReLU -> 1x1 conv (2) -> BN -> pool -> dense."""
    from keras import layers
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4, 4, 2), name="image")
    x = layers.Conv2D(3, 1, name="c1")(inp)
    x = layers.BatchNormalization(name="b1", epsilon=1e-3)(x)
    x = layers.ReLU(name="r1")(x)
    x = layers.Conv2D(2, 1, name="c2")(x)
    x = layers.BatchNormalization(name="b2", epsilon=1e-3)(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(1, activation="sigmoid", name="out")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(seed)
    for name in ("b1", "b2"):  # statistics and affine parameters far from their defaults
        bn = model.get_layer(name)
        c = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 2.0, c).astype(np.float32))
        bn.beta.assign(rng.normal(0, 0.5, c).astype(np.float32))
        bn.moving_mean.assign(rng.normal(5, 1, c).astype(np.float32))
        bn.moving_variance.assign(rng.uniform(10, 20, c).astype(np.float32))
    return model


def _by_hand(model, images):
    """The statistics each BN layer should get, computed with numpy only."""
    x = images.astype(np.float64) / 255.0
    w1, b1 = (np.asarray(v, np.float64) for v in model.get_layer("c1").get_weights())
    h1 = np.einsum("nhwc,ck->nhwk", x, w1[0, 0]) + b1
    m1 = h1.reshape(-1, 3).mean(axis=0)
    v1 = h1.reshape(-1, 3).var(axis=0)  # biased, as a BN layer pools a batch
    bn1 = model.get_layer("b1")
    z1 = (np.asarray(bn1.gamma) * (h1 - m1) / np.sqrt(v1 + bn1.epsilon)
          + np.asarray(bn1.beta))
    r1 = np.maximum(z1, 0)
    w2, b2 = (np.asarray(v, np.float64) for v in model.get_layer("c2").get_weights())
    h2 = np.einsum("nhwc,ck->nhwk", r1, w2[0, 0]) + b2
    return m1, v1, h2.reshape(-1, 2).mean(axis=0), h2.reshape(-1, 2).var(axis=0)


def test_reestimated_statistics_equal_those_computed_by_hand():
    model = _small_model()
    images = np.random.default_rng(1).integers(0, 256, (37, 4, 4, 2), dtype=np.uint8)
    m1, v1, m2, v2 = _by_hand(model, images)  # uses the re-estimated b1 for b2's input
    changes = bn_stats.reestimate_batch_norm(model, images, batch_size=5)  # uneven batches
    np.testing.assert_allclose(model.get_layer("b1").moving_mean, m1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("b1").moving_variance, v1, rtol=1e-5)
    np.testing.assert_allclose(model.get_layer("b2").moving_mean, m2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.get_layer("b2").moving_variance, v2, rtol=1e-4)
    assert list(changes) == ["b1", "b2"]
    assert changes["b1"]["moving_mean"] != changes["b1"]["mean"]  # the old values reported


def test_reestimation_uses_only_the_rows_asked_for():
    model = _small_model()
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (20, 4, 4, 2), dtype=np.uint8)
    images[10:] = 255 - images[10:] // 4  # a different population in the second half
    rows = np.arange(10)
    m1, v1, _, _ = _by_hand(model, images[rows])
    bn_stats.reestimate_batch_norm(model, images, indices=rows)
    np.testing.assert_allclose(model.get_layer("b1").moving_mean, m1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("b1").moving_variance, v1, rtol=1e-5)


def test_reestimation_changes_no_weight_but_the_statistics():
    model = _small_model()
    before = {w.path: np.asarray(w).copy() for w in model.weights}
    images = np.random.default_rng(3).integers(0, 256, (16, 4, 4, 2), dtype=np.uint8)
    bn_stats.reestimate_batch_norm(model, images)
    for w in model.weights:
        moved = not np.array_equal(np.asarray(w), before[w.path])
        assert moved == ("moving_" in w.path), w.path


def test_model_after_reestimation_normalises_its_training_images():
    # with gamma 1, beta 0 the first BN's output over the images has mean 0 and variance
    # v / (v + epsilon)
    model = _small_model()
    bn = model.get_layer("b1")
    bn.gamma.assign(np.ones(3, np.float32))
    bn.beta.assign(np.zeros(3, np.float32))
    images = np.random.default_rng(4).integers(0, 256, (50, 4, 4, 2), dtype=np.uint8)
    probe = keras.Model(model.inputs[0], bn.output)
    before = np.asarray(probe(images / 255.0, training=False)).reshape(-1, 3)
    assert np.abs(before.mean(axis=0)).max() > 0.5  # the planted statistics are wrong
    bn_stats.reestimate_batch_norm(model, images)
    after = np.asarray(probe(images / 255.0, training=False)).reshape(-1, 3)
    np.testing.assert_allclose(after.mean(axis=0), 0, atol=1e-4)
    _, v1, _, _ = _by_hand(model, images)
    np.testing.assert_allclose(after.var(axis=0), v1 / (v1 + bn.epsilon), rtol=1e-3)


def test_model_without_batch_norm_is_left_alone():
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))
    images = np.zeros((3, 4, 4, 2), np.uint8)
    assert bn_stats.reestimate_batch_norm(model, images) == {}


def test_effect_table_marks_the_statistics_used():
    m = {"a": {"accuracy": 0.7, "auc": 0.8, "recall": 0.9, "precision": 0.6},
         "b": {"accuracy": 0.9, "auc": 0.95, "recall": 0.9, "precision": 0.9}}
    t = bn_stats.effect_table(m, predicted={"a": np.array([0.9, 0.8]),
                                            "b": np.array([0.9, 0.1])}, used="b")
    assert list(t["used in figures"]) == ["no", "yes"]
    assert list(t["predicted LSBG"]) == [1.0, 0.5]


def test_float_images_already_scaled_give_the_statistics_of_uint8_ones():
    model = _small_model()
    images = np.random.default_rng(5).integers(0, 256, (23, 4, 4, 2), dtype=np.uint8)
    m_u8, v_u8 = bn_stats.batch_norm_statistics(model, images, layer="b1", batch_size=7)
    m_f, v_f = bn_stats.batch_norm_statistics(model, images.astype(np.float32) / 255.0,
                                              layer="b1", batch_size=7)
    # the same scaling up to float32 rounding (a graph may multiply by 1/255)
    np.testing.assert_allclose(m_f, m_u8, rtol=1e-6)
    np.testing.assert_allclose(v_f, v_u8, rtol=1e-6)
    m1, v1, _, _ = _by_hand(model, images)
    np.testing.assert_allclose(m_u8, m1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v_u8, v1, rtol=1e-5)


def _cutout_model(seed=0):
    """A small model on (64, 64, 3) cutouts (the input of nn.predict): 1x1 conv -> BN ->
    dropout -> 1x1 conv -> BN -> pool -> dense, with planted (wrong) statistics."""
    from keras import layers
    keras.utils.set_random_seed(seed)
    inp = keras.Input((64, 64, 3), name="image")
    x = layers.Conv2D(3, 1, name="c1")(inp)
    x = layers.BatchNormalization(name="b1")(x)
    x = layers.Dropout(0.5, name="drop")(x)  # in training only: the statistics must not see it
    x = layers.Conv2D(2, 1, name="c2")(x)
    x = layers.BatchNormalization(name="b2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, layers.Dense(1, activation="sigmoid", name="out")(x))
    rng = np.random.default_rng(seed)
    for name in ("b1", "b2"):
        bn = model.get_layer(name)
        c = bn.gamma.shape[0]
        bn.moving_mean.assign(rng.normal(2, 1, c).astype(np.float32))
        bn.moving_variance.assign(rng.uniform(5, 10, c).astype(np.float32))
    return model


def test_statistics_are_those_of_inference_mode_without_dropout():
    # the second layer's input statistics by hand: the first layer re-estimated, no dropout
    model = _cutout_model()
    images = np.random.default_rng(6).integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
    bn_stats.reestimate_batch_norm(model, images, batch_size=10)
    x = images.astype(np.float64) / 255.0
    w1, b1 = (np.asarray(v, np.float64) for v in model.get_layer("c1").get_weights())
    h1 = (np.einsum("nhwc,ck->nhwk", x, w1[0, 0]) + b1).reshape(-1, 3)
    bn1 = model.get_layer("b1")
    z1 = (np.asarray(bn1.gamma) * (h1 - h1.mean(0)) / np.sqrt(h1.var(0) + bn1.epsilon)
          + np.asarray(bn1.beta))
    w2, b2 = (np.asarray(v, np.float64) for v in model.get_layer("c2").get_weights())
    h2 = z1 @ w2[0, 0] + b2
    np.testing.assert_allclose(model.get_layer("b2").moving_mean, h2.mean(0), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(model.get_layer("b2").moving_variance, h2.var(0), rtol=1e-4)


@pytest.mark.parametrize("apply", [False, True])
def test_compare_reports_both_and_keeps_the_training_statistics_unless_asked(apply):
    # the paper profile (bn_reestimate off) keeps the paper's procedure: the model keeps
    # its moving averages, and the re-estimated numbers are reported beside
    from deepshadows_lib import evaluate, nn
    model = _cutout_model(seed=1)
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    train, test = np.arange(24), np.arange(24, 40)
    y = rng.integers(0, 2, test.size)
    stats = {w.path: np.asarray(w).copy() for w in model.weights}
    p_moving = nn.predict(model, images, indices=test)
    by_hand = keras.models.clone_model(model)
    by_hand.set_weights(model.get_weights())
    bn_stats.reestimate_batch_norm(by_hand, images, indices=train)
    p_re = nn.predict(by_hand, images, indices=test)
    assert np.abs(p_re - p_moving).max() > 1e-3  # the two choices differ here
    out = bn_stats.compare(model, images, train_idx=train, test_idx=test, y_test=y,
                           apply=apply)
    np.testing.assert_allclose(out["p_moving"], p_moving, atol=1e-6)
    np.testing.assert_allclose(out["p_reestimated"], p_re, atol=1e-6)
    np.testing.assert_allclose(out["p"], p_re if apply else p_moving, atol=1e-6)
    moved = [w.path for w in model.weights if not np.array_equal(np.asarray(w), stats[w.path])]
    assert bool(moved) is apply and all("moving_" in m for m in moved)
    table = out["table"]
    assert len(table) == 2 and table["used in figures"].tolist().count("yes") == 1
    used = table.index[table["used in figures"] == "yes"][0]
    assert ("re-estimated" in used) is apply
    for name, p in (("moving averages of training (the paper)", p_moving),
                    ("re-estimated after training", p_re)):
        assert table.loc[name, "accuracy"] == pytest.approx(
            evaluate.binary_metrics(y, p)["accuracy"])

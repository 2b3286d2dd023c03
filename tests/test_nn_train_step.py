"""Tests of deepshadows_lib.nn.train_step: one compiled loop per epoch."""

import numpy as np
import pytest

from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)

pytestmark = [pytest.mark.slow, pytest.mark.tf]


def _tiny(seed):
    import keras
    from keras import layers, regularizers
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((64, 64, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu",
                      kernel_regularizer=regularizers.L2(0.13))(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(8)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def test_one_step_equals_keras_train_on_batch():
    from deepshadows_lib import models
    from deepshadows_lib.nn import train_step as nn_train_step
    images, y = easy_images(32, seed=3)
    ours, ref = _tiny(0), _tiny(0)
    ref.set_weights(ours.get_weights())
    models.compile_deepshadows(ours, jit_compile=False)
    models.compile_deepshadows(ref, jit_compile=False)
    # one batch of all the rows: the order within it does not matter
    hist = nn_train_step.train_epochs(ours, images, y, epochs=1, batch_size=32, seed=0)
    logs = ref.train_on_batch(images.astype("float32") / 255.0, y.astype("float32"),
                              return_dict=True)
    # atol: the convolution's bias, followed by batch norm, has an exact gradient of
    # zero, so its first Adadelta step (~lr * grad) is rounding noise of either loop
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=5e-6)
    moved = [np.abs(w1 - w0).max() for w0, w1 in zip(_tiny(0).get_weights(),
                                                     ours.get_weights())]
    assert max(moved) > 1e-4  # the step did something
    assert hist["loss"][0] == pytest.approx(logs["loss"], rel=1e-4)


def test_the_paper_network_learns_and_a_seed_reproduces_its_run():
    import keras

    from deepshadows_lib import models, training
    from deepshadows_lib.nn import train_step as nn_train_step
    images, y = easy_images(128, seed=1)
    runs = []
    for _ in range(2):
        keras.backend.clear_session()
        training.set_seed(5)
        model = models.compile_deepshadows(models.build_deepshadows(1, compile=False),
                                           jit_compile=False)
        hist = nn_train_step.train_epochs(model, images, y, epochs=4, batch_size=16,
                                          seed=5, indices=np.arange(96))
        runs.append((hist, training.predict(model, images, indices=np.arange(96, 128))))
    (h1, p1), (h2, p2) = runs
    assert h1["loss"] == h2["loss"]
    np.testing.assert_array_equal(p1, p2)
    assert h1["epoch"] == [1, 2, 3, 4] and len(h1["epoch_time_s"]) == 4
    assert np.mean((p1 > 0.5) == y[96:]) >= 0.9

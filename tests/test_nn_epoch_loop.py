"""Tests of deepshadows_lib.nn.epoch_loop: Keras' fit, bit for bit, in one loop per epoch.

The reference is ``keras.Model.fit`` itself, on a dataset built the same way."""

import numpy as np
import pytest

from deepshadows_lib import nn
from deepshadows_lib.nn import epoch_loop
from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def data():
    return easy_images(72)


def _model(seed, n_classes=1, ema=None):
    nn.set_seed(seed)
    model = nn.build_deepshadows(n_classes, compile=False)
    return nn.compile_deepshadows(model, ema_momentum=ema)


def _datasets(images, labels, seed, n_classes=1):
    # 50 training rows in batches of 16: the last batch is a partial one
    train = nn.make_dataset(images, labels, indices=np.arange(50), batch_size=16,
                            shuffle=True, seed=seed, n_classes=n_classes)
    val = nn.make_dataset(images, labels, indices=np.arange(50, 72), batch_size=8,
                          n_classes=n_classes)
    return train, val


def _state(model):
    return ([v.numpy() for v in model.variables]
            + [v.numpy() for v in model.optimizer.variables])


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.slow
@pytest.mark.parametrize("n_classes,ema", [(1, 0.9), (3, None)])
def test_the_loop_trains_exactly_as_keras_fit(data, n_classes, ema):
    images, y = data
    labels = y if n_classes == 1 else (np.arange(len(y)) % 3)
    fast = _model(5, n_classes, ema)
    train, val = _datasets(images, labels, 5, n_classes)
    assert epoch_loop.can_run(fast, train)
    history = nn.fit(fast, train, val_ds=val, epochs=3, progress=False)
    assert getattr(fast, "train_function", None) is None  # Keras' fit never ran

    ref = _model(5, n_classes, ema)
    train, val = _datasets(images, labels, 5, n_classes)
    keras_history = ref.fit(train, validation_data=val, epochs=3, verbose=0,
                            shuffle=False).history
    assert ref.train_function is not None
    assert _same(_state(fast), _state(ref))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_array_equal(history[key], np.float64(keras_history[key]), key)
    # the run moved the weights: the comparison is not between two untouched models
    assert not _same(_state(fast), _state(_model(5, n_classes, ema)))


@pytest.mark.slow
def test_augmented_training_draws_the_same_views_as_keras_fit(data):
    from deepshadows_lib.augment import augment_dataset
    images, y = data
    fast = _model(7)
    train = augment_dataset(_datasets(images, y, 7)[0], seed=7)
    assert epoch_loop.can_run(fast, train)
    history = nn.fit(fast, train, epochs=3, progress=False)
    assert getattr(fast, "train_function", None) is None

    ref = _model(7)
    train = augment_dataset(_datasets(images, y, 7)[0], seed=7)
    keras_history = ref.fit(train, epochs=3, verbose=0, shuffle=False).history
    assert _same(_state(fast), _state(ref))
    np.testing.assert_array_equal(history["loss"], np.float64(keras_history["loss"]))
    # the views matter: without them the same seed trains other weights
    plain = _model(7)
    nn.fit(plain, _datasets(images, y, 7)[0], epochs=3, progress=False)
    assert not _same(_state(fast), _state(plain))


@pytest.mark.slow
def test_the_shuffle_is_drawn_as_fit_draws_it(data):
    images, y = data
    # another seed gives other weights: the loop follows the dataset's own shuffle
    a, b = _model(5), _model(5)
    nn.fit(a, _datasets(images, y, 5)[0], epochs=2, progress=False)
    nn.fit(b, _datasets(images, y, 6)[0], epochs=2, progress=False)
    assert not _same(_state(a), _state(b))


def test_the_scale_table_is_tensorflows_division():
    import tensorflow as tf
    v = tf.constant(np.arange(256, dtype=np.uint8))
    divided = (tf.cast(v, tf.float32) / 255.0).numpy()
    assert np.array_equal(epoch_loop._SCALE, divided)
    assert epoch_loop._SCALE.dtype == np.float32


def test_keras_fit_takes_what_the_loop_cannot(data):
    import keras
    images, y = data
    model = _model(1)
    train, _ = _datasets(images, y, 1)

    class PerBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    class PerEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    assert epoch_loop.can_run(model, train, [PerEpoch()])
    assert not epoch_loop.can_run(model, train, [PerBatch()])
    assert not epoch_loop.can_run(model, train.map(lambda x, t: (x, t)))  # augmented
    assert not epoch_loop.can_run(model, nn.make_dataset(images, batch_size=16))  # no labels
    model.run_eagerly = True  # a user debugging the step: Keras' fit, eagerly
    assert not epoch_loop.can_run(model, train)


@pytest.mark.slow
def test_a_callback_can_stop_the_loop(data):
    import keras
    images, y = data
    model = _model(2)

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    history = nn.fit(model, _datasets(images, y, 2)[0], epochs=5, progress=False,
                     callbacks=[StopAfterTwo()])
    assert history["epoch"] == [1, 2]
    assert int(model.optimizer.iterations) == 2 * 4

"""A training loop without Keras' per-step overhead: one ``tf.function`` per epoch.

``keras.Model.fit`` returns to Python after every batch (callbacks, metric objects, the
tf.data iterator); on a small network on a CPU that bookkeeping is a visible share of
the step.  :func:`train_epochs` runs a whole epoch inside one compiled TensorFlow loop:
the uint8 cutouts live in one tensor, each step gathers its batch by index, casts it to
float32 / 255, runs the forward and backward passes and applies the optimizer (the
model's own compiled optimizer: with :func:`deepshadows_lib.models.compile_deepshadows`
the fused Adadelta and fused batch normalisation).  The loss is the model's compiled
loss on the batch (binary or categorical cross-entropy, mean over the batch) plus its
regularisation losses, as in ``fit``; the order of the rows in each epoch is a
permutation drawn from ``numpy.random.default_rng([seed, epoch])``.

It is a different loop from ``fit`` (another shuffle, its own random stream for
dropout, its own loss), so its weights are not those of
:func:`deepshadows_lib.training.train_cnn` for the same seed; the same seed reproduces
the same run.  The library's own training runs Keras' ``fit`` in a loop of the same kind
bit for bit (:mod:`.epoch_loop`); this one stays the lever that
``bench/levers_training.py`` measures against it (``bench/levers_training.json``).
"""

import time

import numpy as np

from .data import encode_labels, read_images

__all__ = ["train_epochs"]


def train_epochs(model, images, labels, *, epochs, indices=None, batch_size=64, seed=0,
                 jit_compile=False, callback=None):
    """Train a compiled model for ``epochs`` epochs with one compiled loop per epoch.

    Parameters
    ----------
    model : keras.Model
        Compiled (e.g. :func:`deepshadows_lib.models.compile_deepshadows`); its
        optimizer, loss (binary or categorical cross-entropy) and regularisation losses
        are used.
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like
        (N,) binary labels, or ``class_index`` for a softmax head.
    epochs : int
        Epochs.
    indices : array_like of int, optional
        Training rows (default: all).
    batch_size : int, optional
        The paper: 64.
    seed : int, optional
        Seeds the order of the rows in each epoch.
    jit_compile : bool, optional
        Compile the epoch with XLA.
    callback : callable, optional
        ``callback(epoch, logs)`` after each epoch (logs: loss, accuracy, seconds).

    Returns
    -------
    dict
        Per-epoch ``loss``, ``accuracy``, ``epoch``, ``epoch_time_s``.
    """
    import tensorflow as tf

    x = read_images(images, indices)
    y = np.asarray(labels)
    if indices is not None:
        y = y[np.asarray(indices, dtype=np.int64).ravel()]
    n_out = int(model.output_shape[-1])
    y = encode_labels(y, n_classes=1 if n_out == 1 else n_out)
    if y.ndim == 1:
        y = y[:, None]
    n, b = x.shape[0], int(batch_size)
    steps = -(-n // b)
    x_t = tf.constant(x)  # uint8: one copy, gathered batch by batch inside the loop
    y_t = tf.constant(y)
    model_vars = model.trainable_variables
    optimizer = model.optimizer
    optimizer.build(model_vars)

    def batch_loss(yb, p):
        if n_out == 1:
            p = tf.clip_by_value(p, 1e-7, 1.0 - 1e-7)
            ce = -(yb * tf.math.log(p) + (1.0 - yb) * tf.math.log(1.0 - p))
            correct = tf.cast(tf.equal(tf.cast(p > 0.5, tf.float32), yb), tf.float32)
        else:
            p = tf.clip_by_value(p, 1e-7, 1.0)
            ce = -tf.reduce_sum(yb * tf.math.log(p), axis=-1)
            correct = tf.cast(tf.equal(tf.argmax(p, -1), tf.argmax(yb, -1)), tf.float32)
        return tf.reduce_mean(ce), tf.reduce_sum(correct)

    def epoch(order):
        total = tf.constant(0.0)
        hits = tf.constant(0.0)
        for i in tf.range(steps):
            idx = order[i * b:tf.minimum((i + 1) * b, n)]
            xb = tf.cast(tf.gather(x_t, idx), tf.float32) / 255.0
            yb = tf.gather(y_t, idx)
            with tf.GradientTape() as tape:
                p = tf.cast(model(xb, training=True), tf.float32)
                loss, correct = batch_loss(yb, p)
                reg = tf.add_n(model.losses) if model.losses else 0.0
                objective = loss + reg
            grads = tape.gradient(objective, model_vars)
            optimizer.apply(grads, model_vars)
            total += (loss + reg) * tf.cast(tf.shape(idx)[0], tf.float32)
            hits += correct
        return total / n, hits / n

    run = tf.function(epoch, jit_compile=bool(jit_compile))
    history = {"loss": [], "accuracy": [], "epoch": [], "epoch_time_s": []}
    for e in range(int(epochs)):
        order = np.random.default_rng([int(seed), e]).permutation(n).astype(np.int32)
        t = time.perf_counter()
        loss, acc = run(tf.constant(order))
        loss, acc = float(loss), float(acc)
        dt = time.perf_counter() - t
        for k, v in (("loss", loss), ("accuracy", acc), ("epoch", e + 1),
                     ("epoch_time_s", dt)):
            history[k].append(v)
        if callback is not None:
            callback(e, {"loss": loss, "accuracy": acc, "seconds": dt})
    return history

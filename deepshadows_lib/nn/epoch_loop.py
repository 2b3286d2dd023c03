"""Keras' ``fit``, an epoch per compiled loop: the same weights, without the idle cores.

``keras.Model.fit`` pulls every batch from a ``tf.data`` iterator and returns to Python
after each step.  On a 2-core CPU the input pipeline's threads and the training step's
threads then take turns, and the cores sit idle for part of each epoch, more in some
epochs than in others (``bench/results.json``, entries ``training`` and
``levers_training``).  When the training
set is in memory, as :func:`.data.make_dataset` holds it, :func:`run_epochs` does what
``fit`` does (Keras 3's ``TensorFlowTrainer.fit``) in one compiled loop per epoch: the
batch's rows are gathered from the uint8 cutouts inside the loop, and each step is the
model's own ``train_step`` in a ``tf.function`` of its own, as ``fit`` compiles it.

It is the same training, bit for bit (``tests/test_nn_epoch_loop.py``):

* the rows of each epoch are the seeded ``tf.data`` shuffle's own draw, taken as ``fit``
  takes it (two draws per epoch, :data:`.checkpoint._DRAWS_PER_EPOCH`);
* each batch is scaled by a 256-entry table of ``float32(v) / 255``, exactly the values
  of ``make_dataset``'s division: the same division written inside the loop's graph
  (optimised otherwise than a ``tf.data`` function) gave other last bits, and other
  weights;
* the step, the metrics, the validation (``Model.evaluate``), the callbacks' epoch hooks
  and the final swap to the averaged weights (``use_ema``) are Keras' own.

:func:`.training.fit` takes this path whenever it can (:func:`can_run`): for a dataset of
:func:`.data.make_dataset`, or that dataset given random rotations and flips by
:func:`deepshadows_lib.augment.augment_dataset` (the same views, drawn from the same
stream).  Keras' ``fit`` takes any other dataset, a model compiled with XLA or run
eagerly, and callbacks with per-batch hooks.
"""

import numpy as np

from .. import augment  # its module, not its names: augment imports nn.runtime
from .checkpoint import _DRAWS_PER_EPOCH
from .runtime import tf as _tf

__all__ = ["can_run", "run_epochs"]

#: exact float32 values of ``tf.cast(v, tf.float32) / 255.0`` for every uint8 ``v``
_SCALE = np.arange(256, dtype=np.float32) / np.float32(255.0)

_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin",
                "on_batch_end")


def _has_batch_hooks(callback):
    import keras
    return any(getattr(type(callback), hook, None) is not getattr(keras.callbacks.Callback,
                                                                    hook)
               for hook in _BATCH_HOOKS)


def can_run(model, train_ds, callbacks=()):
    """Whether :func:`run_epochs` trains ``model`` on ``train_ds`` as Keras' ``fit`` would.

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    train_ds : tf.data.Dataset
        The training batches.
    callbacks : sequence of keras.callbacks.Callback, optional
        The callbacks of the training.

    Returns
    -------
    bool
        True for a dataset of :func:`.data.make_dataset` with labels, a model compiled
        without XLA and not run eagerly, one step per execution, and callbacks with
        epoch-level hooks only.
    """
    import keras
    source = getattr(train_ds, "_in_memory", None)
    if source is None or source.labels is None:
        return False
    if model.run_eagerly or model.jit_compile or int(model.steps_per_execution or 1) != 1:
        return False
    if not isinstance(model.optimizer, keras.optimizers.Optimizer):
        return False
    return not any(_has_batch_hooks(cb) for cb in callbacks)


def _epoch_function(model, source):
    """One compiled epoch: ``epoch(order, draws)`` runs every step over the rows of
    ``order``, batch ``i`` with the augmentation's value ``draws[i]`` (if any)."""
    tf = _tf()
    images, labels = source.images, source.labels
    n, b = int(source.n), int(source.batch_size)
    steps = -(-n // b)
    scale = tf.constant(_SCALE)

    @tf.autograph.experimental.do_not_convert
    def one_step_on_data(data):
        return model.train_step(data)

    # a function of its own, compiled as fit compiles it, so that the graph optimiser
    # sees the step as it does in fit
    one_step = tf.function(one_step_on_data, reduce_retracing=True)

    views_seed = None if source.views is None else tf.constant(source.views[1], tf.int64)

    def epoch(order, draws):
        def body(i):
            idx = order[i * b:tf.minimum((i + 1) * b, n)]
            x = tf.gather(scale, tf.cast(tf.gather(images, idx), tf.int32))
            if views_seed is not None:  # as augment_dataset's map does it
                x = augment.random_dihedral(x, tf.stack([draws[i], views_seed]))
            one_step((x, tf.gather(labels, idx)))
            return (i + 1,)

        tf.while_loop(lambda i: i < steps, body, (tf.constant(0, tf.int64),))
        return tf.constant(0)

    return tf.function(epoch, autograph=False)


def _draw(dataset, count=None):
    """The values of the next pass over a seeded dataset, advanced as ``fit`` advances it.

    ``fit`` makes two iterators of the training set each epoch
    (:data:`.checkpoint._DRAWS_PER_EPOCH`), and each one draws the next order of a
    seeded shuffle (or the next sequence of a ``Dataset.random``); the first is read.
    """
    first = dataset if count is None else dataset.take(count)
    # one batch of everything: one iterator, one draw, no Python loop over the rows
    values = np.concatenate([np.asarray(v, dtype=np.int64).ravel()
                             for v in first.batch(1 << 31).as_numpy_iterator()]
                            or [np.zeros(0, np.int64)])
    for _ in range(_DRAWS_PER_EPOCH - 1):  # fit's iterator at the end of the epoch
        for _ in dataset.take(1):
            pass
    return values


def run_epochs(model, train_ds, *, epochs, initial_epoch=0, val_ds=None, callbacks=()):
    """Train as ``model.fit(train_ds, validation_data=val_ds, ...)`` does, faster.

    Parameters
    ----------
    model : keras.Model
        Compiled; :func:`can_run` must hold.
    train_ds : tf.data.Dataset
        From :func:`.data.make_dataset` (with labels).
    epochs : int
        Index of the last epoch, as ``fit``'s ``epochs``.
    initial_epoch : int, optional
        As ``fit``'s (a resumed training); the dataset's shuffle must have been advanced
        by as many epochs (:func:`.checkpoint.skip_epochs`).
    val_ds : tf.data.Dataset, optional
        Evaluated after each epoch (``val_`` logs).
    callbacks : sequence of keras.callbacks.Callback, optional
        Their epoch and train hooks are called as ``fit`` calls them.

    Returns
    -------
    dict
        The last epoch's logs (empty when no epoch ran).
    """
    import keras
    tf = _tf()
    source = train_ds._in_memory
    cbs = keras.callbacks.CallbackList(list(callbacks), model=model)
    run = _epoch_function(model, source)
    model.stop_training = False
    cbs.on_train_begin()
    logs = {}
    for epoch in range(int(initial_epoch), int(epochs)):
        order = tf.constant(_draw(source.indices))
        steps = -(-int(source.n) // int(source.batch_size))
        draws = tf.constant(_draw(source.views[0], steps) if source.views is not None
                            else np.zeros(0, np.int64))
        model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        run(order, draws)
        logs = {k: float(v) for k, v in model.get_metrics_result().items()}
        if val_ds is not None:
            val = model.evaluate(val_ds, verbose=0, callbacks=cbs, return_dict=True)
            logs.update({f"val_{k}": float(v) for k, v in val.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    if int(epochs) > 0:
        model.optimizer.finalize_variable_values(model.trainable_weights)
    cbs.on_train_end(logs=logs)
    return logs

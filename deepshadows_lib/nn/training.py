"""Training the DeepShadows CNN: fit, train from a cutout store, fine-tune.

Training is deterministic on the CPU for a given seed and thread counts
(:func:`.runtime.configure_threads`): :func:`.runtime.set_seed` seeds Python, NumPy and
TensorFlow and turns on TensorFlow's op determinism; the shuffling of the input
(:func:`.data.make_dataset`) uses the same seed.  Training survives a kill:
with a checkpoint (:mod:`.checkpoint`) the same call run again resumes from the last
finished epoch and ends with the weights of an uninterrupted run.

Keras and TensorFlow are imported inside the functions (through :func:`.runtime.tf`):
see :mod:`.runtime`.

Examples
--------
>>> from deepshadows_lib import store, nn, catalogs                 # doctest: +SKIP
>>> images, catalog = store.open_store("build/default/des.store")  # doctest: +SKIP
>>> split = catalogs.random_split(len(catalog), seed=42)           # doctest: +SKIP
>>> model, history = nn.train_cnn(images, catalog["label"].to_numpy(),
...     train_idx=split["train"], val_idx=split["validation"], epochs=10)  # doctest: +SKIP
>>> p = nn.predict(model, images, indices=split["test"])           # doctest: +SKIP
>>> nn.save_model(model, "model.keras")                            # doctest: +SKIP
"""

import os
import sys
import time

from tqdm.auto import tqdm

from .. import paper
from ..errors import InputError
from . import epoch_loop
from .checkpoint import _DRAWS_PER_EPOCH, resolve_checkpoint, skip_epochs
from .cnn import build_deepshadows, compile_deepshadows
from .data import make_dataset
from .runtime import configure_threads, set_seed
from .runtime import tf as _tf
from .saving import copy_model

__all__ = ["fit", "train_cnn", "fine_tune"]


def _progress_callback(epochs, desc, initial=0):
    import keras

    class _Bar(keras.callbacks.Callback):
        # one line per run instead of Keras' per-batch bars, which flood notebooks
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, initial=initial, desc=desc, unit="epoch")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()
                                  if k in ("loss", "accuracy", "val_loss", "val_accuracy")})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return _Bar()


def _restore_callback(checkpoint, state):
    import keras

    class _Restore(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            checkpoint.restore(self.model, state)

    return _Restore()


def _recorder_callback(record, checkpoint=None):
    """Time each epoch, append its logs to ``record`` and save a checkpoint after it."""
    import keras

    class _Recorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            record.setdefault("epoch_time_s", []).append(time.perf_counter() - self.t0)
            for k, v in (logs or {}).items():
                record.setdefault(k, []).append(float(v))
            if checkpoint is not None:
                checkpoint.save(self.model, epochs_done=epoch + 1, history=record)

    return _Recorder()


def _not_resumable(checkpoint):
    """A checkpoint is there but cannot be resumed: refuse (strict) or say so and restart.

    Never silent: a checkpoint of a different run (other seed, data, settings, fewer
    epochs) or a damaged one is neither resumed nor replaced without a word.
    """
    if checkpoint.strict:
        raise InputError(f"{checkpoint.problem}: {checkpoint.problem_advice}")
    print(f"deepshadows: cannot resume: {checkpoint.problem}; training from the first "
          f"epoch (the checkpoint will be replaced)", file=sys.stderr, flush=True)


def fit(model, train_ds, *, val_ds=None, epochs, progress=True, desc="training",
        callbacks=None, checkpoint=None):
    """Fit a compiled model on datasets of :func:`make_dataset`; return the history dict.

    No early stopping: the model of the last epoch is kept, as in the paper.

    A training set held in memory by :func:`make_dataset` is trained by
    :func:`.epoch_loop.run_epochs`: Keras' ``fit`` bit for bit, one compiled loop per
    epoch, the cores kept busy.  Other datasets (an augmented one), a model compiled
    with XLA, and callbacks with per-batch hooks go through ``keras.Model.fit``.

    Parameters
    ----------
    model : keras.Model
        Compiled.
    train_ds, val_ds : tf.data.Dataset
        From :func:`make_dataset` (``val_ds`` optional).
    epochs : int
        Epochs in all (a resumed run trains only the missing ones).
    progress : bool, optional
        A progress bar over epochs.
    desc : str, optional
        Its label.
    callbacks : list of keras.callbacks.Callback, optional
        More callbacks.
    checkpoint : deepshadows_lib.nn.checkpoint.TrainingCheckpoint, optional
        Save the whole training state after every epoch and, when the checkpoint holds
        the state of this training, resume from its last finished epoch (saying so on
        standard error): the result equals that of an uninterrupted run.

    Returns
    -------
    dict
        ``loss``, ``accuracy`` (and ``val_loss``, ``val_accuracy`` with validation data)
        as lists of floats, one per epoch, plus ``epoch`` and ``epoch_time_s``.
    """
    epochs = int(epochs)
    record, start = {}, 0
    if checkpoint is not None:
        state = checkpoint.load()
        if state is not None and state["epochs_done"] > epochs:
            checkpoint.problem = (
                f"the checkpoint in {checkpoint.directory} holds {state['epochs_done']} "
                f"finished epochs, more than the {epochs} asked")
            checkpoint.problem_advice = (
                f"ask for {state['epochs_done']} epochs or more to resume it, or add "
                "--restart to discard it and train from the first epoch")
            state = None
        if state is None and checkpoint.problem is not None:
            _not_resumable(checkpoint)
        if state is not None and 0 < state["epochs_done"] <= epochs:
            start = int(state["epochs_done"])
            record = {k: list(v) for k, v in state["history"].items()}
            skip_epochs(train_ds, state.get("shuffle_draws", start * _DRAWS_PER_EPOCH))
            what = (f"resuming training from epoch {start + 1} of {epochs}" if start < epochs
                    else f"training already finished ({epochs} epochs)")
            print(f"deepshadows: {what}: {start} epoch{'s' if start != 1 else ''} restored "
                  f"from the checkpoint in {checkpoint.directory}", file=sys.stderr,
                  flush=True)
    cbs = [_recorder_callback(record, checkpoint)] + list(callbacks or [])
    if start:
        # restored once Keras has built the optimizer at the start of fit, so that the
        # model is built exactly as in an uninterrupted run before the state goes in
        cbs.insert(0, _restore_callback(checkpoint, state))
        if start == epochs:
            checkpoint.restore(model, state)
            # the checkpoint holds the last step's weights; fit would have ended by
            # replacing them with the optimizer's average (use_ema)
            model.optimizer.finalize_variable_values(model.trainable_variables)
    if progress:
        cbs.append(_progress_callback(epochs, desc, initial=start))
    if start < epochs and epoch_loop.can_run(model, train_ds, cbs):
        # Keras' fit, bit for bit, without its idle cores (see .epoch_loop)
        epoch_loop.run_epochs(model, train_ds, epochs=epochs, initial_epoch=start,
                              val_ds=val_ds, callbacks=cbs)
    elif start < epochs:
        # the datasets shuffle themselves (seeded); Keras' own shuffle does not apply
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=start,
                  verbose=0, shuffle=False, callbacks=cbs)
    times = record.pop("epoch_time_s", [])
    history = {k: [float(v) for v in vals] for k, vals in record.items()}
    history["epoch"] = list(range(1, len(times) + 1))
    history["epoch_time_s"] = [float(t) for t in times]
    if checkpoint is not None:
        checkpoint.resumed_from = start
    return history


#: overrides ``mixed_precision="auto"`` of :func:`train_cnn` when set to 0 or 1 (the
#: notebooks run in kernels of their own: an environment variable reaches them all)
MIXED_PRECISION_ENV = "DEEPSHADOWS_MIXED_PRECISION"


def _auto_mixed_precision():
    """``mixed_precision="auto"``: :data:`MIXED_PRECISION_ENV` when set, else a GPU."""
    value = os.environ.get(MIXED_PRECISION_ENV, "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return False
    if value in ("1", "on", "true", "yes"):
        return True
    return bool(_tf().config.list_physical_devices("GPU"))


def train_cnn(images, labels, *, train_idx=None, val_idx=None, epochs,
              batch_size=paper.BATCH_SIZE, learning_rate=paper.LEARNING_RATE, seed=0, n_classes=1, progress=True, deterministic=True,
              jit_compile=False, model=None, mixed_precision="auto", checkpoint="auto",
              ema_momentum=None):
    """Train the DeepShadows CNN as in the paper.

    Adadelta (learning rate 0.1), cross-entropy, batch 64, a fixed number of epochs, no
    early stopping, the model of the last epoch.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8 cutouts (a store's ``images``; lazy is fine).
    labels : array_like
        (N,) binary labels (1 = LSBG), or ``class_index`` when ``n_classes`` is 3.
    train_idx, val_idx : array_like of int, optional
        Training rows (default: all) and validation rows (default: none).
    epochs : int
        Epochs (the paper: 100).
    batch_size : int, optional
        The paper: 64.
    learning_rate : float, optional
        Adadelta learning rate (the paper: 0.1).
    seed : int, optional
        Seeds the initial weights, dropout and shuffling.
    n_classes : int, optional
        1 (binary) or 3 (three-class, Appendix A).
    progress : bool, optional
        A progress bar over epochs.
    deterministic : bool, optional
        Turn on TensorFlow op determinism (see :func:`.runtime.set_seed`).
    jit_compile : bool or "auto", optional
        Compile the training step with XLA.  Keras turns XLA off whenever op
        determinism is on, so this matters only with ``deterministic=False``.
    model : keras.Model, optional
        Train this (compiled) model instead of a new DeepShadows network.
    mixed_precision : bool or "auto", optional
        Build the new network with Keras' ``mixed_bfloat16`` policy (bfloat16 compute,
        float32 weights).  "auto": only when TensorFlow sees a GPU; on this CPU it
        gained nothing (and TensorFlow's bfloat16 CPU kernels round more than the
        1e-3 tolerance of the predictions).  The environment variable
        ``DEEPSHADOWS_MIXED_PRECISION`` (``0`` / ``1``) overrides "auto" in every
        process (``make paper-gpu`` turns it off for the notebooks when its precision
        check against float32 fails).
    checkpoint : str, path-like, TrainingCheckpoint, "auto" or None, optional
        Save the training state after every epoch
        (:class:`.checkpoint.TrainingCheckpoint`) and resume a killed run of the same
        training from its last finished epoch, with the weights an uninterrupted run
        ends with.  A directory: checkpoint there.  "auto" (default): in a
        subdirectory of :func:`.checkpoint.checkpoint_root` named by the
        training's fingerprint when a root is set (the notebooks set one), else none.
        None: no checkpoint.
    ema_momentum : float, optional
        End with an exponential moving average of the weights instead of the last
        step's (:func:`.cnn.compile_deepshadows`); a deviation from the paper.  The
        profiles' ``ema_momentum``.

    Returns
    -------
    model : keras.Model
        The model after the last epoch (its averaged weights with ``ema_momentum``).
    history : dict
        Per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``epoch``,
        ``epoch_time_s`` (for the training-curve figure).
    """
    configure_threads()
    set_seed(seed, deterministic=deterministic)
    if model is None:
        if mixed_precision == "auto":
            mixed_precision = _auto_mixed_precision()
        import keras
        previous = keras.mixed_precision.global_policy().name
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed_precision
                                                else previous)
        try:
            model = build_deepshadows(n_classes, learning_rate=learning_rate, compile=False)
        finally:
            keras.mixed_precision.set_global_policy(previous)
    compile_deepshadows(model, learning_rate=learning_rate, jit_compile=jit_compile,
                        ema_momentum=ema_momentum)
    n_out = int(model.output_shape[-1])
    n_classes = 1 if n_out == 1 else n_out
    train_ds = make_dataset(images, labels, indices=train_idx, batch_size=batch_size,
                            shuffle=True, seed=seed, n_classes=n_classes, progress=progress)
    val_ds = None
    if val_idx is not None and len(val_idx):
        val_ds = make_dataset(images, labels, indices=val_idx, batch_size=max(256, batch_size),
                              n_classes=n_classes)
    ckpt = resolve_checkpoint(
        checkpoint, model, images, labels, train_idx, val_idx, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, n_classes=n_classes,
        deterministic=deterministic, jit_compile=jit_compile,
        # only when set, so that the paper's trainings keep their fingerprints
        **({} if ema_momentum is None else {"ema_momentum": float(ema_momentum)}))
    history = fit(model, train_ds, val_ds=val_ds, epochs=epochs, progress=progress,
                  checkpoint=ckpt)
    return model, history



def fine_tune(model, images, labels, *, indices=None, val_idx=None,
              epochs=paper.FINETUNE_EPOCHS, batch_size=paper.FINETUNE_BATCH_SIZE,
              learning_rate=paper.FINETUNE_LEARNING_RATE, seed=0, copy=True, progress=True, deterministic=True,
              checkpoint="auto"):
    """Fine-tune a trained model on new data (the HSC transfer of Section 6).

    The model is recompiled with Adadelta at the new learning rate, architecture
    unchanged, and **every layer is trained**, as the paper retrains the whole network
    (batch-normalisation statistics included: they adapt to the new survey).

    Parameters
    ----------
    model : keras.Model
        A trained DeepShadows model.
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like
        (N,) labels.
    indices : array_like of int, optional
        Rows to fine-tune on (the paper: 320 HSC objects); default: all.
    val_idx : array_like of int, optional
        Rows to monitor while fine-tuning.
    epochs, batch_size, learning_rate : optional
        The paper: 30, 16, 0.005.
    seed : int, optional
        Seeds dropout and shuffling.
    copy : bool, optional
        Fine-tune a copy and leave ``model`` untouched (default), or ``model`` itself.
    progress, deterministic : bool, optional
        As in :func:`train_cnn`.
    checkpoint : str, path-like, TrainingCheckpoint, "auto" or None, optional
        As in :func:`train_cnn`.

    Returns
    -------
    model : keras.Model
        The fine-tuned model.
    history : dict
        As in :func:`train_cnn`.
    """
    set_seed(seed, deterministic=deterministic)
    tuned = copy_model(model) if copy else model
    for layer in tuned.layers:
        layer.trainable = True
    compile_deepshadows(tuned, learning_rate=learning_rate, jit_compile=False)
    n_out = int(tuned.output_shape[-1])
    n_classes = 1 if n_out == 1 else n_out
    train_ds = make_dataset(images, labels, indices=indices, batch_size=batch_size,
                            shuffle=True, seed=seed, n_classes=n_classes)
    val_ds = None
    if val_idx is not None and len(val_idx):
        val_ds = make_dataset(images, labels, indices=val_idx, batch_size=256,
                              n_classes=n_classes)
    ckpt = resolve_checkpoint(
        checkpoint, tuned, images, labels, indices, val_idx, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, deterministic=deterministic,
        kind="fine-tune")
    history = fit(tuned, train_ds, val_ds=val_ds, epochs=epochs, progress=progress,
                  desc="fine-tuning", checkpoint=ckpt)
    return tuned, history


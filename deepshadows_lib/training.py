"""Training the DeepShadows CNN from a cutout store: tf.data input, fit, predict, fine-tune.

Images stay uint8 until they reach the network: a batch of indices is drawn (shuffled
with the seed), the uint8 cutouts of those indices are gathered and cast to float32 in
[0, 1] inside the tf.data map.  The original notebooks instead divided the whole data
set by 255 in float64 (30,000 cutouts: 2.9 GB); here the largest array is the uint8
set itself (30,000 cutouts: 370 MB).  A store opened with ``lazy=True`` is read chunk
by chunk into that uint8 array; :func:`predict` never holds more than one block.

Training is deterministic on the CPU for a given seed: :func:`set_seed` seeds Python,
NumPy and TensorFlow and turns on TensorFlow's op determinism; the shuffling of the
input uses the same seed.

Training survives a kill: with a checkpoint (``train_cnn(..., checkpoint=DIR)``, always
for ``deepshadows train``, and for every training of the notebooks, which set
:func:`set_checkpoint_root`) the whole state is saved after each epoch
(:class:`TrainingCheckpoint`: weights, Adadelta's accumulators, the dropout layers'
random state, the position of the shuffle, the history).  The same call run again
resumes from the last finished epoch, says so on standard error, and ends with the
weights of an uninterrupted run.

TensorFlow is imported inside the functions.

Examples
--------
>>> from deepshadows_lib import store, training, catalogs        # doctest: +SKIP
>>> images, catalog = store.open_store("build/default/des.store")  # doctest: +SKIP
>>> split = catalogs.random_split(len(catalog), seed=42)           # doctest: +SKIP
>>> model, history = training.train_cnn(images, catalog["label"].to_numpy(),
...     train_idx=split["train"], val_idx=split["validation"], epochs=10)  # doctest: +SKIP
>>> p = training.predict(model, images, indices=split["test"])    # doctest: +SKIP
>>> training.save_model(model, "model.keras")                      # doctest: +SKIP
"""

import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_path
from . import schema
from .errors import InputError

__all__ = ["configure_threads", "set_seed", "read_images", "encode_labels", "make_dataset",
           "train_cnn", "fit", "TrainingCheckpoint", "set_checkpoint_root", "checkpoint_root",
           "training_fingerprint", "predict", "fine_tune", "copy_model", "save_model",
           "load_model", "train_store", "evaluate_store", "inference_function"]

_READ_BLOCK = 4096  # images read from a lazy store at a time when predicting
CHECKPOINT_DIR = "checkpoint"  # per-epoch state of `deepshadows train` inside OUT


def _tf():
    # keep TensorFlow's C++ start-up chatter out of notebooks and the command line
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    return tf


def available_cpus():
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def configure_threads(*, intra_op=None, inter_op=None):
    """Set TensorFlow's CPU thread pools, if TensorFlow has not started yet.

    One pool runs the parallel inner loops of an op (intra-op), the other runs
    independent ops side by side (inter-op).  This small network is a chain of ops,
    so the cores are best spent inside each op.  Thread counts do not affect the
    results: op determinism makes every op deterministic whatever the threads.

    Parameters
    ----------
    intra_op : int, optional
        Threads inside an op; default: the usable cores.
    inter_op : int, optional
        Ops run side by side; default: 2.

    Returns
    -------
    bool
        True if the setting took effect, False if TensorFlow was already running (the
        pools cannot change after start-up; the earlier setting stays).
    """
    tf = _tf()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(
            int(intra_op or available_cpus()))
        tf.config.threading.set_inter_op_parallelism_threads(int(inter_op or 2))
    except RuntimeError:
        return False
    return True


def set_seed(seed, *, deterministic=True):
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic.

    Parameters
    ----------
    seed : int
        The seed.
    deterministic : bool, optional
        Turn on ``tf.config.experimental.enable_op_determinism()`` (process-wide and
        permanent: TensorFlow offers no switch back).  On the CPU it costs little.
    """
    tf = _tf()
    import keras
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _is_lazy(images):
    return not isinstance(images, np.ndarray) and hasattr(images, "chunks")


def read_images(images, indices=None, *, progress=False):
    """Return the uint8 cutouts ``images[indices]`` as one in-memory numpy array.

    A lazy (zarr) array is read one on-disk chunk at a time, and only the chunks that
    hold a requested index are read.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8 (a store's ``images``, lazy or not).
    indices : array_like of int, optional
        Rows to read, in the order wanted; default: all.
    progress : bool, optional
        Show a progress bar over chunks (lazy arrays only).

    Returns
    -------
    numpy.ndarray
        (len(indices), 64, 64, 3) uint8.

    Raises
    ------
    ValueError
        If the images are not uint8 of rank 4, or an index is out of range.
    """
    if images.dtype != np.uint8 or len(images.shape) != 4:
        raise ValueError(f"images must be (N, H, W, C) uint8, got {images.shape} "
                         f"{images.dtype}")
    n = images.shape[0]
    if indices is None:
        if not _is_lazy(images):
            return images
        indices = np.arange(n)
    indices = np.asarray(indices, dtype=np.int64).ravel()
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"indices out of range for {n} images")
    if not _is_lazy(images):
        return images[indices]
    from tqdm.auto import tqdm

    out = np.empty((indices.size, *images.shape[1:]), dtype=np.uint8)
    step = int(images.chunks[0])
    chunk_of = indices // step
    order = np.argsort(chunk_of, kind="stable")
    bounds = np.searchsorted(chunk_of[order], np.arange(-(-n // step) + 1))
    for k in tqdm(range(len(bounds) - 1), desc="reading cutouts", unit="chunk",
                  disable=not progress, leave=False):
        sel = order[bounds[k]:bounds[k + 1]]
        if sel.size:
            block = np.asarray(images[k * step:(k + 1) * step])
            out[sel] = block[indices[sel] - k * step]
    return out


def encode_labels(labels, *, n_classes=1):
    """Training targets: float32 (N,) for the binary model, one-hot (N, K) otherwise.

    Parameters
    ----------
    labels : array_like of int
        Binary labels (1 = LSBG) or class indices (``class_index``).
    n_classes : int, optional
        1 for the binary model, K >= 2 for a softmax head.

    Raises
    ------
    ValueError
        If a label is outside the classes.
    """
    labels = np.asarray(labels).ravel()
    k = 2 if n_classes == 1 else int(n_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= k
                        or not np.all(labels == np.round(labels))):
        raise ValueError(f"labels must be integers in [0, {k - 1}], got values "
                         f"{np.unique(labels)[:10]}")
    if n_classes == 1:
        return labels.astype(np.float32)
    return np.eye(k, dtype=np.float32)[labels.astype(np.int64)]


def make_dataset(images, labels=None, *, indices=None, batch_size=64, shuffle=False, seed=0,
                 n_classes=1, progress=False):
    """A ``tf.data.Dataset`` of batches scaled to [0, 1] from uint8 cutouts.

    The uint8 cutouts of ``indices`` are held in memory once (read chunk by chunk from a
    lazy store); each epoch draws batches of indices (reshuffled every epoch with the
    seed when ``shuffle``), gathers their uint8 images and casts them to float32 / 255
    in the map function, and prefetches the next batch while the network trains.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like, optional
        (N,) labels of all N images (binary or ``class_index``); None for images only.
    indices : array_like of int, optional
        Rows used (a split); default: all.
    batch_size : int, optional
        Batch size (the paper: 64).
    shuffle : bool, optional
        Reshuffle the rows every epoch (training).
    seed : int, optional
        Seed of the shuffling.
    n_classes : int, optional
        1: float targets for the sigmoid model; K: one-hot targets for a softmax head.
    progress : bool, optional
        Progress bar while reading a lazy store.

    Returns
    -------
    tf.data.Dataset
        Yields ``(x, y)`` (or ``x`` without labels); x float32 (B, 64, 64, 3) in [0, 1].
    """
    tf = _tf()
    x = read_images(images, indices, progress=progress)
    n = x.shape[0]
    x_t = tf.convert_to_tensor(x)  # stays uint8: one copy, 12 kB per cutout
    if labels is not None:
        labels = np.asarray(labels)
        if indices is not None:
            labels = labels[np.asarray(indices, dtype=np.int64).ravel()]
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} images")
        y_t = tf.convert_to_tensor(encode_labels(labels, n_classes=n_classes))

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=int(seed), reshuffle_each_iteration=True)
    indices_ds = ds
    ds = ds.batch(int(batch_size))

    def scale(idx):
        return tf.cast(tf.gather(x_t, idx), tf.float32) / 255.0

    if labels is None:
        ds = ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda idx: (scale(idx), tf.gather(y_t, idx)),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if shuffle:
        # the same shuffle (one seed generator): iterating it advances the epochs of ds
        ds._shuffled_indices = indices_ds
    return ds


def _progress_callback(epochs, desc, initial=0):
    import keras
    from tqdm.auto import tqdm

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


def fit(model, train_ds, *, val_ds=None, epochs, progress=True, desc="training",
        callbacks=None, checkpoint=None):
    """Fit a compiled model on datasets of :func:`make_dataset`; return the history dict.

    No early stopping: the model of the last epoch is kept, as in the paper.

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
    checkpoint : TrainingCheckpoint, optional
        Save the whole training state after every epoch and, when the checkpoint holds
        the state of this training, resume from its last finished epoch (saying so on
        standard error): the result equals that of an uninterrupted run.

    Returns
    -------
    dict
        ``loss``, ``accuracy`` (and ``val_loss``, ``val_accuracy`` with validation data)
        as lists of floats, one per epoch, plus ``epoch`` and ``epoch_time_s``; and
    """
    import sys

    epochs = int(epochs)
    record, start = {}, 0
    if checkpoint is not None:
        state = checkpoint.load()
        if state is not None and 0 < state["epochs_done"] <= epochs:
            start = int(state["epochs_done"])
            record = {k: list(v) for k, v in state["history"].items()}
            _skip_epochs(train_ds, state.get("shuffle_draws", start * _DRAWS_PER_EPOCH))
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
    if progress:
        cbs.append(_progress_callback(epochs, desc, initial=start))
    if start < epochs:
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


# --------------------------------------------------------------------------- checkpoints
_CHECKPOINT_FILE = "checkpoint.npz"
_checkpoint_root = None  # see set_checkpoint_root


def set_checkpoint_root(path):
    """Make every :func:`train_cnn` with ``checkpoint="auto"`` checkpoint under ``path``.

    The notebooks' set-up (:func:`deepshadows_lib.pipeline.configure`) points it at
    ``build/PROFILE/checkpoints``, so that a notebook killed while training resumes
    when run again.  Each training gets its own subdirectory, named by the fingerprint
    of its data and settings.  ``None`` turns automatic checkpoints off; the
    environment variable ``DEEPSHADOWS_CHECKPOINTS`` sets the root too.

    Parameters
    ----------
    path : str, path-like or None
    """
    global _checkpoint_root
    _checkpoint_root = None if path is None else Path(path)


def checkpoint_root():
    """The directory of automatic checkpoints (:func:`set_checkpoint_root`), or None."""
    if _checkpoint_root is not None:
        return _checkpoint_root
    env = os.environ.get("DEEPSHADOWS_CHECKPOINTS")
    return Path(env) if env else None


def training_fingerprint(*arrays, **settings):
    """SHA-256 of the data and settings of a training: a checkpoint resumes only its own.

    The number of epochs is deliberately not part of it: without a learning-rate
    schedule the first k epochs of a longer run are those of a shorter one, so a run
    with more epochs continues from a finished shorter one.
    """
    import hashlib
    import json

    import keras
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    settings = {**settings, "keras": keras.__version__, "tensorflow": _tf().__version__}
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


class TrainingCheckpoint:
    """Per-epoch training state in one file, written atomically: resume after a kill.

    Keras' ``BackupAndRestore`` keeps the weights, optimizer and epoch, but not the
    position of a seeded ``tf.data`` shuffle nor the history; this keeps everything a
    continued run needs to end with the same weights as an uninterrupted one:

    * every model variable, including the batch-normalisation statistics and the
      dropout layers' random-seed state (``model.variables``);
    * every optimizer variable (Adadelta's accumulators and its iteration count);
    * the number of finished epochs (the input's shuffle is advanced by as many
      epochs on resume) and the history so far;
    * Python's and NumPy's global random states;
    * the fingerprint of the training (:func:`training_fingerprint`).

    ``DIR/checkpoint.npz`` is replaced atomically after each epoch, so a ``kill -9`` at
    any moment leaves the previous epoch's state intact.

    Parameters
    ----------
    directory : str or path-like
        Where the checkpoint lives.
    fingerprint : str, optional
        The training's fingerprint; a checkpoint of another training is not resumed.
    """

    def __init__(self, directory, *, fingerprint=""):
        self.directory = Path(directory)
        self.path = self.directory / _CHECKPOINT_FILE
        self.fingerprint = str(fingerprint)
        #: finished epochs restored by the last :func:`fit` (0: started afresh)
        self.resumed_from = 0

    # -- writing
    def save(self, model, *, epochs_done, history):
        """Write the state after ``epochs_done`` finished epochs (atomically)."""
        import json
        import random

        state = {f"model/{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
        opt = model.optimizer.variables if model.optimizer is not None else []
        state.update({f"optimizer/{i}": np.asarray(v.numpy()) for i, v in enumerate(opt)})
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state.update({"numpy/keys": keys, "numpy/other": np.array([pos, has_gauss]),
                      "numpy/gauss": np.array(gauss),
                      "python/state": np.array(random.getstate()[1], dtype=np.int64)})
        meta = {"fingerprint": self.fingerprint, "epochs_done": int(epochs_done),
                "shuffle_draws": int(epochs_done) * _DRAWS_PER_EPOCH,
                "history": history, "n_model": len(model.variables), "n_optimizer": len(opt),
                "model_paths": [v.path for v in model.variables]}
        state["meta"] = np.array(json.dumps(meta))
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **state)
                fh.flush()
                os.fsync(fh.fileno())

    # -- reading
    def load(self):
        """The saved state, or None when there is none (or it belongs to another run).

        Returns
        -------
        dict or None
            ``epochs_done``, ``history``, ``arrays`` (the npz contents).
        """
        import json
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("meta")))
        except Exception:  # a foreign or damaged file: start afresh rather than fail
            return None
        if self.fingerprint and meta.get("fingerprint") != self.fingerprint:
            return None
        return {**meta, "arrays": arrays}

    def restore(self, model, state):
        """Put a loaded state into a compiled model and the global random generators."""
        import random

        arrays = state["arrays"]
        if len(model.variables) != state["n_model"]:
            raise ValueError("checkpoint does not match the model's variables")
        for i, v in enumerate(model.variables):
            v.assign(arrays[f"model/{i}"])
        if state["n_optimizer"]:
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            opt = model.optimizer.variables
            if len(opt) != state["n_optimizer"]:
                raise ValueError("checkpoint does not match the optimizer's variables")
            for i, v in enumerate(opt):
                v.assign(arrays[f"optimizer/{i}"])
        pos, has_gauss = (int(x) for x in arrays["numpy/other"])
        np.random.set_state(("MT19937", arrays["numpy/keys"], pos, has_gauss,
                             float(arrays["numpy/gauss"])))
        random.setstate((3, tuple(int(x) for x in arrays["python/state"]), None))

    def remove(self):
        """Delete the checkpoint (after the run's results are safely written)."""
        import shutil
        if self.directory.exists():
            shutil.rmtree(self.directory, ignore_errors=True)



# A seeded ``shuffle(..., reshuffle_each_iteration=True)`` draws a new order each time an
# iterator is created.  Keras' epoch iterator (keras/src/trainers/epoch_iterator.py)
# creates one at the start of each epoch and, for a dataset of known length, one more at
# its end that is never read: two draws per epoch.  The resume test checks this against
# an uninterrupted run, so a Keras that behaves otherwise fails it.
_DRAWS_PER_EPOCH = 2


def _skip_epochs(dataset, n):
    """Advance a dataset's seeded reshuffling by ``n`` draws without training.

    A resumed run must see the orders that the uninterrupted run saw in its later
    epochs.  Only the index dataset is iterated (no images are read).
    """
    source = getattr(dataset, "_shuffled_indices", None)
    target = source if source is not None else dataset
    for _ in range(int(n)):
        for _ in target:
            pass


def train_cnn(images, labels, *, train_idx=None, val_idx=None, epochs, batch_size=64,
              learning_rate=0.1, seed=0, n_classes=1, progress=True, deterministic=True,
              jit_compile=False, model=None, mixed_precision="auto", checkpoint="auto"):
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
        Turn on TensorFlow op determinism (see :func:`set_seed`).
    jit_compile : bool or "auto", optional
        Compile the training step with XLA.  Keras turns XLA off whenever op
        determinism is on, so this matters only with ``deterministic=False``.
    model : keras.Model, optional
        Train this (compiled) model instead of a new DeepShadows network.
    mixed_precision : bool or "auto", optional
        Build the new network with Keras' ``mixed_bfloat16`` policy (bfloat16 compute,
        float32 weights).  "auto": only when TensorFlow sees a GPU; on this CPU it
        gained nothing (and TensorFlow's bfloat16 CPU kernels round more than the
        1e-3 tolerance of the predictions).
    checkpoint : str, path-like, TrainingCheckpoint, "auto" or None, optional
        Save the training state after every epoch (:class:`TrainingCheckpoint`) and
        resume a killed run of the same training from its last finished epoch, with
        the weights an uninterrupted run ends with.  A directory: checkpoint there.
        "auto" (default): in a subdirectory of :func:`checkpoint_root` named by the
        training's fingerprint when a root is set (the notebooks set one), else none.
        None: no checkpoint.

    Returns
    -------
    model : keras.Model
        The model after the last epoch.
    history : dict
        Per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``epoch``,
        ``epoch_time_s`` (for the training-curve figure).
    """
    from .models import build_deepshadows, compile_deepshadows

    configure_threads()
    set_seed(seed, deterministic=deterministic)
    if model is None:
        if mixed_precision == "auto":
            mixed_precision = bool(_tf().config.list_physical_devices("GPU"))
        import keras
        previous = keras.mixed_precision.global_policy().name
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed_precision
                                                else previous)
        try:
            model = build_deepshadows(n_classes, learning_rate=learning_rate, compile=False)
        finally:
            keras.mixed_precision.set_global_policy(previous)
    compile_deepshadows(model, learning_rate=learning_rate, jit_compile=jit_compile)
    n_out = int(model.output_shape[-1])
    n_classes = 1 if n_out == 1 else n_out
    train_ds = make_dataset(images, labels, indices=train_idx, batch_size=batch_size,
                            shuffle=True, seed=seed, n_classes=n_classes, progress=progress)
    val_ds = None
    if val_idx is not None and len(val_idx):
        val_ds = make_dataset(images, labels, indices=val_idx, batch_size=max(256, batch_size),
                              n_classes=n_classes)
    ckpt = _resolve_checkpoint(
        checkpoint, model, images, labels, train_idx, val_idx, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, n_classes=n_classes,
        deterministic=deterministic, jit_compile=jit_compile)
    history = fit(model, train_ds, val_ds=val_ds, epochs=epochs, progress=progress,
                  checkpoint=ckpt)
    return model, history


def _hash_rows(h, images, indices):
    n = images.shape[0]
    rows = np.arange(n) if indices is None else np.asarray(indices, np.int64).ravel()
    h.update(rows.tobytes())
    for start in range(0, rows.size, _READ_BLOCK):
        h.update(np.ascontiguousarray(read_images(images, rows[start:start + _READ_BLOCK])))


def _resolve_checkpoint(checkpoint, model, images, labels, train_idx, val_idx, **settings):
    """The TrainingCheckpoint of a :func:`train_cnn` call (None for no checkpoint)."""
    import hashlib
    import json

    if checkpoint is None or isinstance(checkpoint, TrainingCheckpoint):
        return checkpoint
    if isinstance(checkpoint, str) and checkpoint == "auto":
        root = checkpoint_root()
        if root is None:
            return None
    h = hashlib.sha256()
    _hash_rows(h, images, train_idx)
    if val_idx is not None:
        _hash_rows(h, images, val_idx)
    h.update(np.ascontiguousarray(np.asarray(labels)).tobytes())
    for w in model.get_weights():  # the starting point (a pre-trained model's weights)
        h.update(np.ascontiguousarray(w))
    # the architecture without Keras' per-process automatic names
    arch = json.dumps([(type(layer).__name__, [list(w.shape) for w in layer.weights],
                        getattr(layer, "rate", None),
                        str(layer.get_config().get("activation")))
                       for layer in model.layers])
    fingerprint = training_fingerprint(np.frombuffer(h.digest(), np.uint8), arch=arch,
                                       **settings)
    if isinstance(checkpoint, str) and checkpoint == "auto":
        return TrainingCheckpoint(root / fingerprint[:16], fingerprint=fingerprint)
    return TrainingCheckpoint(checkpoint, fingerprint=fingerprint)


def predict(model, images, *, indices=None, batch_size=256, progress=False, fast=True,
            jit_compile="auto"):
    """Class probabilities of a model for uint8 cutouts.

    A lazy store is read one block at a time, so memory stays bounded whatever its size.

    Parameters
    ----------
    model : keras.Model
        A DeepShadows model (or any model taking float images in [0, 1]).
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    indices : array_like of int, optional
        Rows to predict, in this order; default: all.
    batch_size : int, optional
        Images per forward pass.
    progress : bool, optional
        A progress bar.
    fast, jit_compile : optional
        Passed to :func:`inference_function` (batch normalisation folded; XLA on a GPU).

    Returns
    -------
    numpy.ndarray
        float64, (n,) LSBG probabilities for a binary model, (n, K) for a softmax head.
    """
    _tf()
    from tqdm.auto import tqdm

    n_total = images.shape[0]
    rows = np.arange(n_total) if indices is None else np.asarray(indices, np.int64).ravel()
    n_out = int(model.output_shape[-1])

    forward = inference_function(model, fast=fast, jit_compile=jit_compile,
                                 input_shape=tuple(images.shape[1:]))

    out = np.empty((rows.size, n_out), dtype=np.float64)
    block = max(int(batch_size), _READ_BLOCK // int(batch_size) * int(batch_size))
    with tqdm(total=rows.size, desc="predicting", unit="img", disable=not progress,
              leave=False) as bar:
        for start in range(0, rows.size, block):
            sel = rows[start:start + block]
            if _is_lazy(images) and np.all(np.diff(sel) == 1) and sel.size:
                x = np.asarray(images[int(sel[0]):int(sel[-1]) + 1])
            else:
                x = read_images(images, sel)
            for b in range(0, len(x), int(batch_size)):
                out[start + b:start + b + int(batch_size)] = \
                    forward(x[b:b + int(batch_size)]).numpy()
            bar.update(len(sel))
    return out[:, 0] if n_out == 1 else out


def _folded_deepshadows(model):
    """The inference arithmetic of a DeepShadows model with batch norm folded, or None.

    At inference a batch normalisation is a per-channel affine map ``a * x + c``.  In
    each block it follows the ReLU and precedes the 2x2 max-pooling; with ``a > 0`` the
    map is monotonic, so it commutes with the max and is applied to the pooled tensor,
    a quarter of the size (exactly: float rounding is monotonic too).  The third one is
    folded into dense1's weights (exact algebra, float32 rounding), the 1/255 scaling
    into conv1's, and dropout is the identity.  Returns None for any other model, or
    when a scale is not positive, and the caller then uses the Keras model itself.
    """
    import keras
    tf = _tf()

    names = ("conv1", "bn1", "pool1", "drop1", "conv2", "bn2", "pool2", "drop2", "conv3",
             "bn3", "pool3", "drop3", "flatten", "dense1", "output")
    try:
        got = [model.get_layer(n) for n in names]
    except ValueError:
        return None
    if [layer.name for layer in model.layers[1:]] != list(names):
        return None
    kinds = ((keras.layers.Conv2D, keras.layers.BatchNormalization,
              keras.layers.MaxPooling2D, keras.layers.Dropout) * 3
             + (keras.layers.Flatten, keras.layers.Dense, keras.layers.Dense))
    if not all(isinstance(layer, kind) for layer, kind in zip(got, kinds)):
        return None
    if len(model.inputs[0].shape) != 4 or model.inputs[0].shape[-1] is None:
        return None
    blocks = []
    for k in (1, 2, 3):
        conv, bn, pool = (model.get_layer(f"{n}{k}") for n in ("conv", "bn", "pool"))
        ok = (conv.get_config()["activation"] == "relu" and conv.use_bias
              and tuple(conv.strides) == (1, 1) and tuple(conv.dilation_rate) == (1, 1)
              and conv.data_format == "channels_last" and conv.groups == 1
              and bn.axis in (-1, 3) and bn.center and bn.scale
              and tuple(pool.pool_size) == (2, 2) and tuple(pool.strides) == (2, 2)
              and pool.padding == "valid")
        if not ok:
            return None
        w, b = (np.asarray(v, np.float64) for v in conv.get_weights())
        gamma, beta, mean, var = (np.asarray(v, np.float64) for v in bn.get_weights())
        a = gamma / np.sqrt(var + bn.epsilon)
        if not np.all(a > 0):
            return None
        if k == 1:
            w = w / 255.0
        blocks.append((w, b, a, beta - mean * a, conv.padding.upper()))
    dense, out = model.get_layer("dense1"), model.get_layer("output")
    if (dense.get_config()["activation"] != "relu"
            or out.get_config()["activation"] not in ("sigmoid", "softmax")):
        return None
    w1, b1 = (np.asarray(v, np.float64) for v in dense.get_weights())
    a3, c3 = blocks[2][2], blocks[2][3]
    reps = w1.shape[0] // a3.size
    if reps * a3.size != w1.shape[0]:
        return None
    # channels-last flatten: the channel index runs fastest
    w1, b1 = w1 * np.tile(a3, reps)[:, None], b1 + np.tile(c3, reps) @ w1
    w2, b2 = out.get_weights()
    f32 = lambda v: tf.constant(np.asarray(v, np.float32))  # noqa: E731
    convs = [(f32(w), f32(b), f32(a), f32(c), pad) for w, b, a, c, pad in blocks]
    w1, b1, w2, b2 = f32(w1), f32(b1), f32(w2), f32(b2)
    softmax = out.get_config()["activation"] == "softmax"

    def forward(x):
        h = tf.cast(x, tf.float32)
        for k, (w, b, a, c, pad) in enumerate(convs):
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w, 1, pad), b))
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            if k < 2:
                h = h * a + c
        h = tf.reshape(h, (tf.shape(h)[0], -1))
        h = tf.nn.relu(tf.matmul(h, w1) + b1)
        z = tf.matmul(h, w2) + b2
        return tf.nn.softmax(z) if softmax else tf.sigmoid(z)

    return forward


def inference_function(model, *, fast=True, jit_compile="auto", input_shape=(64, 64, 3)):
    """A compiled function from a uint8 batch to the model's probabilities.

    The cutouts are cast and scaled inside the graph, so the caller never makes a float
    copy.  With ``fast`` a DeepShadows model runs a folded inference graph (batch
    normalisation folded away or applied after pooling, 1/255 folded into conv1; see
    :func:`_folded_deepshadows`): about 1.3x faster than calling the Keras model and
    2x faster than ``model.predict``, equal to float32 rounding (< 1e-6).  Any other
    model runs as itself.

    Parameters
    ----------
    model : keras.Model
    fast : bool, optional
        Fold batch normalisation when the model is a DeepShadows network.
    jit_compile : bool or "auto", optional
        Compile with XLA.  "auto": only on a GPU; on a CPU XLA's convolutions are
        slower than oneDNN's (measured: about half the throughput).
    input_shape : tuple of int, optional
        Shape of one cutout.

    Returns
    -------
    callable
        ``f(uint8 array (B, H, W, C)) -> tf.Tensor (B, n_outputs)``.
    """
    tf = _tf()
    if jit_compile == "auto":
        jit_compile = bool(tf.config.list_physical_devices("GPU"))
    folded = _folded_deepshadows(model) if fast else None
    if folded is None:
        def folded(x):
            return model(tf.cast(x, tf.float32) / 255.0, training=False)
    return tf.function(folded, jit_compile=bool(jit_compile), reduce_retracing=True,
                       input_signature=[tf.TensorSpec((None, *input_shape), tf.uint8)])


def copy_model(model):
    """A new model with the same architecture and weights (uncompiled)."""
    import keras
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def fine_tune(model, images, labels, *, indices=None, val_idx=None, epochs=30, batch_size=16,
              learning_rate=0.005, seed=0, copy=True, progress=True, deterministic=True,
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
    from .models import compile_deepshadows

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
    ckpt = _resolve_checkpoint(
        checkpoint, tuned, images, labels, indices, val_idx, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, deterministic=deterministic,
        kind="fine-tune")
    history = fit(tuned, train_ds, val_ds=val_ds, epochs=epochs, progress=progress,
                  desc="fine-tuning", checkpoint=ckpt)
    return tuned, history


def save_model(model, path, *, provenance=None):
    """Save a model to a ``.keras`` file atomically, with its provenance sidecar.

    Beside ``NAME.keras`` goes ``NAME.json`` (:mod:`deepshadows_lib.provenance`): the
    SHA-256 of the model file, which :func:`load_model` verifies, and ``provenance``
    (recipe, profile, data hash, split, metrics, temperature, library versions).

    Parameters
    ----------
    model : keras.Model
    path : str or path-like
        Must end in ``.keras``.
    provenance : dict, optional
        Fields of the sidecar (see :func:`deepshadows_lib.provenance.make_provenance`);
        default: the paper's recipe without further details.

    Returns
    -------
    pathlib.Path
    """
    from .provenance import write_sidecar
    path = Path(path)
    if path.suffix != ".keras":
        raise InputError("model files end in .keras", path=path)
    with atomic_path(path) as tmp:
        model.save(tmp)
    write_sidecar(path, provenance)
    return path


def load_model(path, *, compile=True, verify=True):
    """Load a ``.keras`` model with Keras' safe mode on (no arbitrary code runs).

    When the model has a sidecar (``NAME.json``, written by :func:`save_model`), the
    file's SHA-256 must match it.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    compile : bool, optional
        Restore the optimizer and loss too.
    verify : bool, optional
        Check the SHA-256 recorded in the sidecar.

    Returns
    -------
    keras.Model

    Raises
    ------
    InputError
        If the file is missing, is not a Keras model, or does not match its sidecar.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("model file not found", path=path)
    if not zipfile.is_zipfile(path):
        raise InputError("not a Keras model file (.keras archive expected)", path=path)
    if verify:
        from .provenance import verify_model_file
        verify_model_file(path)
    _tf()
    import keras
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a loadable Keras model: {first}", path=path) from None


# --------------------------------------------------------------------------- stores
_CLASS_COLUMNS = schema.CLASS_COLUMNS


def _store_targets(store, n_classes):
    """The targets of a store's catalog, or a one-line InputError naming what is missing."""
    col = "label" if n_classes == 1 else "class_index"
    cat = store.catalog
    if col not in cat.columns:
        raise InputError(f"store has no labels (catalog column '{col}'); train and evaluate "
                         "need a labelled store (deepshadows simulate, or a catalog with "
                         "labels)", path=store.path, column=col)
    values = cat[col]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputError(f"store has objects without a label ({int(values.isna().sum())} "
                         f"missing)", path=store.path, row=row + 1, column=col)
    y = values.to_numpy()
    k = 2 if n_classes == 1 else n_classes
    if not np.isin(y, np.arange(k)).all():
        raise InputError(f"labels must be integers 0..{k - 1}", path=store.path, column=col)
    return y.astype(np.int64)


def _predictions_frame(catalog, p):
    out = pd.DataFrame({"ra": catalog["ra"].to_numpy(), "dec": catalog["dec"].to_numpy()})
    for col in ("label", "class_name", "class_index"):
        if col in catalog.columns:
            out[col] = catalog[col].to_numpy()
    if p.ndim == 1:
        out["p_lsbg"] = p
    else:
        names = _CLASS_COLUMNS if p.shape[1] == 3 else [f"p_class{k}" for k in range(p.shape[1])]
        for k, name in enumerate(names):
            out[name] = p[:, k]
        if p.shape[1] == 3:
            out = out[[c for c in out.columns if c != "p_lsbg"] + ["p_lsbg"]]
    return out


def _metrics_of(y_binary, p, *, y_class=None, n_bootstrap=0, seed=0):
    """JSON-ready metrics of one set of predictions (binary view, plus three-class)."""
    from . import evaluate

    p_lsbg = p if p.ndim == 1 else p[:, 1]
    out = {"n": int(len(p_lsbg))}
    if len(p_lsbg) == 0:
        return out
    out.update(evaluate.binary_metrics(y_binary, p_lsbg))
    if n_bootstrap and len(np.unique(y_binary)) == 2:
        boot = evaluate.bootstrap(y_binary, p_lsbg, n_resamples=n_bootstrap, seed=seed)
        out["bootstrap"] = {"n_resamples": int(n_bootstrap), "ci": boot.ci,
                            "intervals": {k: list(v) for k, v in boot.intervals.items()}}
    if p.ndim == 2 and y_class is not None:
        m = evaluate.multiclass_metrics(y_class, p)
        out["multiclass"] = {k: (np.asarray(v).tolist() if np.ndim(v) else float(v))
                             for k, v in m.items()}
    for k, v in list(out.items()):
        if isinstance(v, float) and not np.isfinite(v):
            out[k] = None
    return out


def _run_info(store):
    import keras
    tf = _tf()
    return {"cutouts": str(store.path), "store_sha256": store.attrs.get("content_sha256"),
            "simulated": store.simulated, "survey": store.attrs.get("survey"),
            "tensorflow": tf.__version__, "keras": keras.__version__}


def train_store(cutouts, out, *, profile="default", epochs=None, seed=0, split="auto",
                n_classes=1, progress=True, restart=False):
    """Train the CNN on a labelled store and write model, history, metrics, predictions.

    The command ``deepshadows train``.  Writes, each file atomically::

        OUT/model.keras          the model of the last epoch
        OUT/model.json           its sidecar: recipe, profile, data hash, split, test
                                 metrics, library versions, SHA-256 (provenance)
        OUT/history.json         loss and accuracy per epoch (training and validation)
        OUT/metrics.json         metrics on each split (bootstrap intervals on the test set)
        OUT/predictions.parquet  ra, dec, label, p_lsbg (and class probabilities), split

    While training, ``OUT/checkpoint/`` holds the state of the last finished epoch
    (:class:`TrainingCheckpoint`): the same command run again after a kill resumes from
    there, says so, and ends with the weights of an uninterrupted run.  It is removed
    once every file above is written.

    Parameters
    ----------
    cutouts : str or path-like
        A cutout store with ``label`` (binary) or ``class_index`` (three classes).
    out : str or path-like
        Output directory.
    profile : str, optional
        Run profile (epochs, batch size, learning rate, bootstrap resamples).
    epochs : int, optional
        Override the profile's epochs.
    seed : int, optional
        Seeds the random split and the training.
    split : {"auto", "random", "baseline"}, optional
        ``random``: the paper's 75 / 12.5 / 12.5 random split with ``seed``;
        ``baseline``: the paper's baseline split matched by position (the paper's own
        objects only); ``auto``: baseline when every baseline position matches, else
        random (:func:`deepshadows_lib.catalogs.paper_split`).
    n_classes : int, optional
        1 (binary) or 3 (three-class, Appendix A).
    progress : bool, optional
        Progress bars.
    restart : bool, optional
        Discard a checkpoint in ``OUT`` and train from the first epoch.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.

    Raises
    ------
    InputError
        A missing or incomplete store, a store without labels, an unknown split.
    """
    from . import catalogs
    from ._io import atomic_write_json
    from .profiles import get_profile
    from .store import open_store

    prof = get_profile(profile)
    epochs = int(epochs or prof.epochs)
    st = open_store(cutouts, lazy=True)
    y = _store_targets(st, n_classes)
    y_bin = (y if n_classes == 1 else (y == 1)).astype(np.int64)
    if split == "random":
        parts = catalogs.random_split(len(y), seed=seed)
        parts["kind"] = "random"
    elif split == "baseline":
        parts = catalogs.baseline_split(st.catalog)
        parts["kind"] = "baseline"
    elif split == "auto":
        parts = catalogs.paper_split(st.catalog, seed=seed)
    else:
        raise InputError(f"unknown split {split!r}: choose auto, random or baseline")
    if len(parts["train"]) == 0:
        raise InputError("the split leaves no training objects", path=st.path)
    out = Path(out)
    checkpoint = out / CHECKPOINT_DIR
    if restart:
        TrainingCheckpoint(checkpoint).remove()
    t0 = time.perf_counter()
    model, history = train_cnn(st.images, y, train_idx=parts["train"],
                               val_idx=parts["validation"], epochs=epochs,
                               batch_size=prof.batch_size, learning_rate=prof.learning_rate,
                               seed=seed, n_classes=n_classes, progress=progress,
                               checkpoint=checkpoint)
    train_s = time.perf_counter() - t0
    p = predict(model, st.images, progress=progress)

    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / "model.keras")
    atomic_write_json(out / "history.json", history)
    frame = _predictions_frame(st.catalog, p)
    which = np.full(len(y), "unused", dtype=object)
    for name in ("train", "validation", "test"):
        which[np.asarray(parts[name], dtype=np.int64)] = name
    frame["split"] = which.astype(str)
    with atomic_path(out / "predictions.parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    metrics = {"splits": {}}
    for name in ("train", "validation", "test"):
        idx = np.asarray(parts[name], dtype=np.int64)
        metrics["splits"][name] = _metrics_of(
            y_bin[idx], p[idx], y_class=y[idx] if n_classes > 1 else None,
            n_bootstrap=prof.n_bootstrap if name == "test" else 0, seed=seed)
    metrics.update({"split": parts.get("kind", split), "seed": int(seed), "epochs": epochs,
                    "batch_size": prof.batch_size, "learning_rate": prof.learning_rate,
                    "profile": prof.name, "n_classes": 3 if n_classes > 1 else 2,
                    "n_params": int(model.count_params()), "train_seconds": train_s,
                    **_run_info(st)})
    atomic_write_json(out / "metrics.json", metrics)
    # the model's sidecar, now that its metrics are known (the file itself is unchanged)
    from .provenance import make_provenance, write_sidecar
    write_sidecar(out / "model.keras", make_provenance(
        recipe="paper", profile=prof.name, data=st, split={**parts, "kind": metrics["split"]},
        metrics={"test": {k: v for k, v in metrics["splits"]["test"].items()
                          if k in ("accuracy", "precision", "recall", "auc", "n")}},
        seed=seed, epochs=epochs, n_classes=metrics["n_classes"]))
    # every result is written: the per-epoch state is no longer needed
    TrainingCheckpoint(checkpoint).remove()
    return metrics


def evaluate_store(model, cutouts, out, *, batch_size=256, n_bootstrap=1000, seed=0,
                   progress=True):
    """Evaluate a trained model on every object of a labelled store.

    The command ``deepshadows evaluate``.  Writes ``OUT/metrics.json`` (accuracy,
    precision, recall, AUC, confusion counts, bootstrap intervals; the three-class
    matrices for a three-class model) and ``OUT/predictions.parquet`` (ra, dec, label,
    p_lsbg and, for a three-class model, the class probabilities).

    Parameters
    ----------
    model : str, path-like or keras.Model
        A ``.keras`` file (loaded in safe mode) or a model.
    cutouts : str or path-like
        A labelled cutout store.
    out : str or path-like
        Output directory.
    batch_size : int, optional
        Images per forward pass.
    n_bootstrap : int, optional
        Bootstrap resamples for the intervals (0: none).
    seed : int, optional
        Seed of the bootstrap.
    progress : bool, optional
        Progress bar.

    Returns
    -------
    dict
        The metrics written.
    """
    from ._io import atomic_write_json
    from .store import open_store

    model_path = None
    if isinstance(model, (str, os.PathLike)):
        model_path = str(model)
        model = load_model(model)
    st = open_store(cutouts, lazy=True)
    n_out = int(model.output_shape[-1])
    n_classes = 1 if n_out == 1 else n_out
    y = _store_targets(st, n_classes)
    y_bin = (y if n_classes == 1 else (y == 1)).astype(np.int64)
    p = predict(model, st.images, batch_size=batch_size, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "predictions.parquet") as tmp:
        _predictions_frame(st.catalog, p).to_parquet(tmp, index=False)
    metrics = _metrics_of(y_bin, p, y_class=y if n_classes > 1 else None,
                          n_bootstrap=n_bootstrap, seed=seed)
    metrics.update({"model": model_path, "n_classes": 3 if n_classes > 1 else 2,
                    **_run_info(st)})
    atomic_write_json(out / "metrics.json", metrics)
    return metrics

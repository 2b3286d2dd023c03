"""Per-epoch training state on disk: a killed training resumes with the same weights.

With a checkpoint (``train_cnn(..., checkpoint=DIR)``, always for ``deepshadows train``,
and for every training of the notebooks, which set :func:`set_checkpoint_root`) the whole
state is saved after each epoch (:class:`TrainingCheckpoint`: weights, Adadelta's
accumulators, the dropout layers' random state, the position of the shuffle, the
history).  The same call run again resumes from the last finished epoch, says so on
standard error, and ends with the weights of an uninterrupted run.

Keras is imported inside :func:`training_fingerprint` (through :func:`.runtime.tf`): the
rest of this module is numpy and files.
"""

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .data import READ_BLOCK, read_images
from .runtime import tf as _tf

__all__ = ["CHECKPOINT_DIR", "TrainingCheckpoint", "set_checkpoint_root", "checkpoint_root",
           "training_fingerprint", "resolve_checkpoint", "skip_epochs"]

CHECKPOINT_DIR = "checkpoint"  # per-epoch state of `deepshadows train` inside OUT
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
        Empty: :func:`resolve_checkpoint` fills it in for the training it is given to.
    settings : dict, optional
        The settings behind the fingerprint (seed, batch size, ...), saved beside it so
        that a checkpoint of another training can say which of them differ.
    strict : bool, optional
        A checkpoint that cannot be resumed (another training's, a damaged one, or one
        with more finished epochs than asked) is an
        :class:`~deepshadows_lib.errors.InputError` rather than replaced by a fresh
        training with a note on standard error: ``deepshadows train`` keeps the hours
        a checkpoint may hold unless ``--restart`` is given.
    """

    def __init__(self, directory, *, fingerprint="", settings=None, strict=False):
        self.directory = Path(directory)
        self.path = self.directory / _CHECKPOINT_FILE
        self.fingerprint = str(fingerprint)
        self.settings = dict(settings or {})
        self.strict = bool(strict)
        #: finished epochs restored by the last :func:`fit` (0: started afresh)
        self.resumed_from = 0
        #: why the last :meth:`load` found a checkpoint it could not resume (one line)
        self.problem = None
        #: what a ``deepshadows train`` user can do about :attr:`problem`
        self.problem_advice = None

    # -- writing
    def save(self, model, *, epochs_done, history):
        """Write the state after ``epochs_done`` finished epochs (atomically)."""
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
                "model_paths": [v.path for v in model.variables],
                "settings": self.settings}
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

        When a checkpoint file is there but cannot be resumed (damaged, or another
        training's), :attr:`problem` says why in one line; else it is None.

        Returns
        -------
        dict or None
            ``epochs_done``, ``history``, ``arrays`` (the npz contents).
        """
        self.problem = self.problem_advice = None
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("meta")))
            int(meta["epochs_done"]), dict(meta["history"])
        except Exception as exc:  # noqa: BLE001 (a foreign or damaged file, any way)
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            self.problem = f"the checkpoint {self.path} is damaged ({detail})"
            self.problem_advice = "add --restart to discard it and train from the first epoch"
            return None
        if self.fingerprint and meta.get("fingerprint") != self.fingerprint:
            self.problem = (f"the checkpoint in {self.directory} is that of another "
                            f"training ({self._differences(meta.get('settings'))})")
            self.problem_advice = ("rerun with that training's arguments to resume it, or "
                                   "add --restart to discard it and train from the first "
                                   "epoch")
            return None
        return {**meta, "arrays": arrays}

    def _differences(self, saved):
        """Which settings differ from those of a saved checkpoint, in words."""
        if not isinstance(saved, dict) or not saved:
            return "other data or settings"
        keys = sorted(set(saved) | set(self.settings))
        diff = [f"{k} {saved.get(k, 'unset')} there, {self.settings.get(k, 'unset')} here"
                for k in keys
                if json.dumps(saved.get(k), default=str)
                != json.dumps(self.settings.get(k), default=str)]
        return "; ".join(diff) if diff else "other training data, labels or starting weights"

    def restore(self, model, state):
        """Put a loaded state into a compiled model and the global random generators."""
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
        if self.directory.exists():
            shutil.rmtree(self.directory, ignore_errors=True)



# A seeded ``shuffle(..., reshuffle_each_iteration=True)`` draws a new order each time an
# iterator is created.  Keras' epoch iterator (keras/src/trainers/epoch_iterator.py)
# creates one at the start of each epoch and, for a dataset of known length, one more at
# its end that is never read: two draws per epoch.  The resume test checks this against
# an uninterrupted run, so a Keras that behaves otherwise fails it.
_DRAWS_PER_EPOCH = 2


def skip_epochs(dataset, n):
    """Advance a dataset's seeded reshuffling by ``n`` draws without training.

    A resumed run must see the orders that the uninterrupted run saw in its later
    epochs.  Only the index dataset is iterated (no images are read).
    """
    source = getattr(dataset, "_shuffled_indices", None)
    target = source if source is not None else dataset
    for _ in range(int(n)):
        for _ in target:
            pass



def _hash_rows(h, images, indices):
    n = images.shape[0]
    rows = np.arange(n) if indices is None else np.asarray(indices, np.int64).ravel()
    h.update(rows.tobytes())
    for start in range(0, rows.size, READ_BLOCK):
        h.update(np.ascontiguousarray(read_images(images, rows[start:start + READ_BLOCK])))


def resolve_checkpoint(checkpoint, model, images, labels, train_idx, val_idx, **settings):
    """The TrainingCheckpoint of a training call (None for no checkpoint).

    ``checkpoint`` as in :func:`deepshadows_lib.nn.training.train_cnn`; the fingerprint
    covers the training rows, the labels, the starting weights, the architecture and
    ``settings``.  A :class:`TrainingCheckpoint` without a fingerprint gets this
    training's (its directory and ``strict`` are kept).
    """
    if checkpoint is None or (isinstance(checkpoint, TrainingCheckpoint)
                              and checkpoint.fingerprint):
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
    import keras
    recorded = {**settings, "keras": keras.__version__, "tensorflow": _tf().__version__}
    if isinstance(checkpoint, TrainingCheckpoint):  # a directory and options, to fill in
        checkpoint.fingerprint, checkpoint.settings = fingerprint, recorded
        return checkpoint
    if isinstance(checkpoint, str) and checkpoint == "auto":
        return TrainingCheckpoint(root / fingerprint[:16], fingerprint=fingerprint,
                                  settings=recorded)
    return TrainingCheckpoint(checkpoint, fingerprint=fingerprint, settings=recorded)

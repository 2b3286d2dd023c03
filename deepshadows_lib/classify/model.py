"""The model side of classification: load once per process, check, run in fixed batches.

A binary model (one sigmoid output, or a ``plus`` ensemble) runs as a
:class:`~deepshadows_lib.predict.Predictor` (the sidecar's temperature and test-time
augmentation, and the uncertainty); a three-class model runs its folded inference graph.
TensorFlow is imported only by the functions that run a model.
"""

import os
import weakref
from pathlib import Path

import numpy as np

from .. import schema
from ..nn import inference, runtime, saving
from ..errors import InputError
from ..predict import Predictor
from ..provenance import read_sidecar

IMAGE_SHAPE = schema.CUTOUT_SHAPE

# Per-process cache of loaded models: a Dask worker loads each model once.
_MODEL_CACHE = {}
_FORWARD = weakref.WeakKeyDictionary()  # model -> {precision: its compiled inference function}
_TF_THREADS_SET = [False]


def _configure_tf_threads(threads):
    """Limit TensorFlow's thread pools of this process (once, before TF starts up).

    Several Dask workers on one machine would otherwise each start one thread per core
    and oversubscribe it.
    """
    if threads is None or _TF_THREADS_SET[0]:
        return
    # False when the runtime is already initialised in this process: it keeps its pools
    runtime.configure_threads(intra_op=int(threads), inter_op=1)
    _TF_THREADS_SET[0] = True


def _load_keras_model(path):
    """Load a saved model (``.keras``) with Keras' safe mode, without its optimizer.

    A binary model -- one sigmoid output, or a ``plus`` ensemble whose sidecar says it
    has one output per member -- comes back as a
    :class:`~deepshadows_lib.predict.Predictor`, which applies the sidecar's calibration
    and test-time augmentation and gives the uncertainty; a three-class model as itself.
    """
    model = saving.load_model(path, compile=False)
    info = read_sidecar(path) or {}
    n_out = int(model.output_shape[-1])
    if n_out == 1 or (int(info.get("n_members", 1)) == n_out and info.get("recipe") == "plus"):
        return Predictor.from_sidecar(model, info)
    return model


def _model_key(path):
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def _cached_model(path, *, tf_threads=None):
    """The model at ``path``, loaded once per process (and reloaded if the file changes)."""
    _configure_tf_threads(tf_threads)
    key = _model_key(path)
    model = _MODEL_CACHE.get(key)
    if model is None:
        _MODEL_CACHE.clear()  # one model at a time: a worker does not hoard old ones
        model = _load_keras_model(path)
        _MODEL_CACHE[key] = model
    return model


def _check_model(model, path):
    """Return the number of outputs of ``model``; refuse models that do not fit a store."""
    if isinstance(model, Predictor):
        if model.input_shape != IMAGE_SHAPE:
            raise InputError(f"model input shape {model.input_shape} does not match the "
                             f"store's cutouts {IMAGE_SHAPE}", path=path)
        return 1
    in_shape = tuple(model.input_shape[1:]) if model.input_shape else None
    if in_shape != IMAGE_SHAPE:
        raise InputError(f"model input shape {in_shape} does not match the store's cutouts "
                         f"{IMAGE_SHAPE}", path=path)
    n_out = model.output_shape[-1]
    if n_out not in (1, 3):
        raise InputError(f"model has {n_out} outputs; expected 1 (binary LSBG vs artifact) "
                         "or 3 (artifact2, lsbg, artifact1)", path=path)
    return int(n_out)


def _probe_model(model_path, tf_threads=None):
    """Load the model into this process's cache and return its number of outputs."""
    try:
        model = _cached_model(model_path, tf_threads=tf_threads)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any loader error means a bad model file
        raise InputError(f"cannot load the model: {type(exc).__name__}: {exc}",
                         path=model_path) from None
    return _check_model(model, model_path)


def predict_images(model, images, *, batch_size=256, precision="float32"):
    """Class probabilities of uint8 cutouts, computed in fixed batches.

    The network runs its folded inference graph
    (:func:`deepshadows_lib.nn.inference.inference_function`: batch normalisation folded, the
    division by 255 folded into conv1), which takes the uint8 batch itself, so NumPy
    never holds a float copy.  Batches always start at the first image of ``images``;
    calling this on the same block gives the same batches, hence bit-identical results,
    in every process.

    Parameters
    ----------
    model : keras.Model
        A model with input (64, 64, 3).
    images : array_like
        (n, 64, 64, 3) uint8.
    batch_size : int, optional
        Images per forward pass.
    precision : {"float32", "bfloat16"}, optional
        The network's arithmetic (:func:`deepshadows_lib.nn.inference.inference_function`):
        float32 by default; ``"bfloat16"`` is a faster opt-in whose probabilities differ
        by up to a few 1e-3.

    Returns
    -------
    numpy.ndarray
        (n, n_outputs) float32; for a :class:`~deepshadows_lib.predict.Predictor`,
        (n, 2): the calibrated ``p_lsbg`` and its ``uncertainty``.
    """
    images = np.asarray(images)
    if isinstance(model, Predictor):
        if len(images) == 0:
            return np.empty((0, 2), np.float32)
        p, unc = model.predict(images, batch_size=batch_size, precision=precision)
        return np.stack([p, unc], axis=1).astype(np.float32)
    n_out = int(model.output_shape[-1])
    forward = _inference_function(model, precision=precision)
    out = np.empty((len(images), n_out), dtype=np.float32)
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        out[start:start + len(x)] = forward(x).numpy().reshape(len(x), n_out)
    return out


def _inference_function(model, *, precision="float32"):
    """The compiled ``uint8 batch -> probabilities`` function of ``model``, built once.

    The one place where classification asks for the network's inference graph: the
    folded one of :func:`deepshadows_lib.nn.inference.inference_function` (``fast=True``),
    the same numbers as :func:`deepshadows_lib.nn.inference.predict`.
    """
    forwards = _FORWARD.setdefault(model, {})
    forward = forwards.get(precision)
    if forward is None:
        forward = forwards[precision] = inference.inference_function(
            model, fast=True, input_shape=IMAGE_SHAPE, precision=precision)
    return forward


def _predict_block(block, *, model_path, batch_size, tf_threads=None, precision="float32"):
    """Probabilities of one store chunk; the function every path (and worker) runs."""
    model = _cached_model(model_path, tf_threads=tf_threads)
    return predict_images(model, block, batch_size=batch_size, precision=precision)


def _dask_block(block, model_path, batch_size, tf_threads, precision="float32"):
    # map_blocks hands over (chunk, 64, 64, 3) blocks; a module-level function pickles
    # by reference, so workers use their own copy of the model cache.
    return _predict_block(block, model_path=model_path, batch_size=batch_size,
                          tf_threads=tf_threads, precision=precision)

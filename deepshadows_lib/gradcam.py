"""Grad-CAM maps of the last convolutional layer (Fig. 6 of the paper), via tf-keras-vis.

Grad-CAM (Selvaraju et al. 2017) weights the feature maps of a convolutional layer by the
spatial mean of the gradient of a class score with respect to them, sums over channels,
keeps the positive part and upsamples to the input size: bright regions are those whose
increase would most raise the score.  The paper used keras-vis on TensorFlow 1; here the
maintained successor tf-keras-vis does the work (:class:`tf_keras_vis.gradcam.Gradcam` with
:class:`~tf_keras_vis.utils.model_modifiers.ReplaceToLinear`, so that the score is the
pre-sigmoid/pre-softmax logit and saturated outputs still have gradients).

* :func:`gradcam_maps` -- maps for a batch of images, batched, on the last convolutional
  layer found automatically;
* :func:`select_examples` -- high-confidence TP, TN, FP and FN (``p > 0.8`` or ``p < 0.2``);
* :func:`gradcam_examples` -- both together: what the Grad-CAM figure plots.

TensorFlow and tf-keras-vis are imported inside the functions.
"""

import numpy as np

from .errors import InputError

__all__ = ["gradcam_maps", "last_conv_layer", "select_examples", "gradcam_examples",
           "CATEGORIES"]

#: the four panels of the Grad-CAM figure
CATEGORIES = ("TP", "TN", "FP", "FN")


def last_conv_layer(model):
    """Name of the last convolutional layer of ``model`` (the Grad-CAM layer).

    A convolutional layer is one whose class name contains ``Conv`` and whose output is
    a 4-D (batch, height, width, channels) tensor; nested models are searched too.

    Raises
    ------
    InputError
        If the model has no convolutional layer.
    """
    for layer in reversed(model.layers):
        if hasattr(layer, "layers"):  # a nested model: search inside
            try:
                return last_conv_layer(layer)
            except InputError:
                continue
        try:
            rank = len(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        if "conv" in type(layer).__name__.lower() and rank == 4:
            return layer.name
    raise InputError(f"model {model.name!r} has no convolutional layer for Grad-CAM")


def _n_outputs(model):
    shape = model.outputs[0].shape
    return int(shape[-1]) if len(shape) > 1 else 1


def _prepare_batch(images):
    x = np.asarray(images)
    if np.issubdtype(x.dtype, np.integer):
        if x.min(initial=0) < 0 or x.max(initial=0) > 255:
            raise InputError("integer images must be uint8-like values in 0..255")
        return x.astype(np.float32) / np.float32(255.0)  # as the training does
    x = x.astype(np.float32)
    if not np.isfinite(x).all() or x.min(initial=0) < 0 or x.max(initial=0) > 1:
        raise InputError("float images must be finite and scaled to [0, 1] "
                         "(uint8 images are divided by 255 automatically)")
    return x


def _targets(class_index, n, start, stop):
    """Per-image target class for images start..stop, or None for the predicted class."""
    if class_index is None:
        return None
    ci = np.asarray(class_index)
    if ci.ndim == 0:
        return np.full(stop - start, int(ci))
    if ci.shape != (n,):
        raise InputError(f"class_index must be an int or one per image ({n}), "
                         f"got shape {ci.shape}")
    return ci[start:stop].astype(int)


def _minmax(maps):
    """Scale each map to [0, 1].

    tf-keras-vis adds 1e-7 to the range, which visibly shrinks maps of small magnitude;
    here the range is exact and a constant map (no positive evidence) becomes all zero.
    """
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)


def gradcam_maps(model, images, *, layer_name=None, class_index=None, batch_size=32,
                 normalize=True, expand=True, progress=False):
    """Grad-CAM maps of ``images`` for a trained Keras classifier.

    Parameters
    ----------
    model : keras.Model
        A classifier with one output: ``(N, 1)`` sigmoid (binary, 1 = LSBG) or ``(N, K)``
        softmax.  It is not modified: tf-keras-vis works on a clone whose output
        activation is made linear.
    images : array-like, shape (N, H, W, C)
        uint8 (divided by 255, as in training) or float in [0, 1].  Anything that slices
        into numpy arrays works (a lazy store), one batch is read at a time.  A single
        image (H, W, C) is treated as a batch of one.
    layer_name : str, optional
        The convolutional layer; by default the last one (:func:`last_conv_layer`).
    class_index : int or array-like of int, optional
        The class whose score is explained.  ``None`` (default): each image's predicted
        class.  For a sigmoid output, 1 is the LSBG logit and 0 the artifact score
        (the negated logit, tf-keras-vis' ``BinaryScore(False)``); for softmax, the index
        of the logit (``CategoricalScore``).  One value per image is accepted too.
    batch_size : int, optional
        Images per gradient computation.
    normalize : bool, optional
        Scale each map to [0, 1] (min-max; an all-zero map stays zero).  Otherwise the
        raw ReLU'd weighted sums are returned.
    expand : bool, optional
        Upsample the maps to the input size (bilinear, tf-keras-vis); otherwise they have
        the layer's resolution.
    progress : bool, optional
        Show a progress bar over batches.

    Returns
    -------
    numpy.ndarray of float32, shape (N, H, W)
        (or the layer's height and width with ``expand=False``).
    """
    import warnings

    import tensorflow as tf
    with warnings.catch_warnings():
        # tf-keras-vis 0.8.7 imports zoom from a deprecated scipy namespace
        warnings.simplefilter("ignore", DeprecationWarning)
        from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    if not hasattr(images, "shape"):  # lists; arrays and lazy stores are sliced as they are
        images = np.asarray(images)
    single = len(images.shape) == 3
    if single:
        images = np.asarray(images)[None]
    if len(getattr(images, "shape", ())) != 4:
        raise InputError("images must have shape (N, height, width, channels), got "
                         f"{getattr(images, 'shape', None)}")
    expected = tuple(model.inputs[0].shape[1:])
    if tuple(images.shape[1:]) != expected:
        raise InputError(f"images have shape {tuple(images.shape[1:])} per image but the "
                         f"model expects {expected}")
    if len(model.outputs) != 1:
        raise InputError("gradcam_maps needs a model with a single output")
    layer = layer_name or last_conv_layer(model)
    try:
        model.get_layer(layer)
    except ValueError:
        raise InputError(f"model {model.name!r} has no layer named {layer!r}") from None
    n_out = _n_outputs(model)
    n = int(images.shape[0])

    # One clone for all batches: Gradcam clones the model when given a modifier.
    cam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    starts = range(0, n, int(batch_size))
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="Grad-CAM", unit="batch")
    maps = []
    for start in starts:
        stop = min(start + int(batch_size), n)
        x = tf.constant(_prepare_batch(images[start:stop]))
        target = _targets(class_index, n, start, stop)
        if target is None:
            out = model(x, training=False).numpy()
            target = (out[:, 0] > 0.5).astype(int) if n_out == 1 else out.argmax(axis=1)
        if n_out == 1:
            if not np.isin(target, (0, 1)).all():
                raise InputError("class_index must be 0 or 1 for a sigmoid output")
            score = BinaryScore([bool(t) for t in target])
        else:
            if target.min() < 0 or target.max() >= n_out:
                raise InputError(f"class_index must be in 0..{n_out - 1}")
            score = CategoricalScore([int(t) for t in target])
        m = cam(score, x, penultimate_layer=layer, seek_penultimate_conv_layer=False,
                expand_cam=expand, normalize_cam=False)
        m = np.asarray(m, dtype=np.float32).reshape(stop - start, *np.shape(m)[-2:])
        maps.append(_minmax(m) if normalize else m)
    out = np.concatenate(maps) if maps else np.zeros((0,) + expected[:2], np.float32)
    return out[0] if single else out


def select_examples(y_true, p, *, n=4, high=0.8, low=0.2, seed=0):
    """Indices of high-confidence correct and wrong classifications.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True labels (1 = LSBG).
    p : array-like of float, shape (N,) or (N, 1)
        Predicted LSBG probabilities.
    n : int, optional
        Examples per category; fewer where fewer qualify.
    high, low : float, optional
        Confidence cuts: TP ``y = 1, p > high``; TN ``y = 0, p < low``; FP ``y = 0,
        p > high``; FN ``y = 1, p < low`` (the paper: 0.8 and 0.2).
    seed : int or numpy.random.Generator, optional
        The examples are drawn at random (without replacement) among those that qualify.

    Returns
    -------
    dict
        ``{"TP": idx, "TN": idx, "FP": idx, "FN": idx}``, sorted int arrays.
    """
    y = np.asarray(y_true).ravel()
    q = np.asarray(p, dtype=float).ravel()  # (N,) or Keras' (N, 1)
    if len(q) != len(y):
        raise InputError(f"p has {len(q)} values but y_true has {len(y)}")
    if not np.isin(y, (0, 1)).all():
        raise InputError("y_true must contain only 0 and 1")
    if not low <= high:
        raise InputError(f"need low <= high, got low={low}, high={high}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    masks = {"TP": (y == 1) & (q > high), "TN": (y == 0) & (q < low),
             "FP": (y == 0) & (q > high), "FN": (y == 1) & (q < low)}
    out = {}
    for name in CATEGORIES:
        idx = np.flatnonzero(masks[name])
        if len(idx) > n:
            idx = np.sort(rng.choice(idx, size=int(n), replace=False))
        out[name] = idx
    return out


def gradcam_examples(model, images, y_true, p, *, n=4, high=0.8, low=0.2, seed=0,
                     layer_name=None, batch_size=32):
    """Grad-CAM maps of high-confidence TP, TN, FP and FN examples (Fig. 6).

    Each map explains the model's predicted class for that image.

    Parameters
    ----------
    model, images
        As in :func:`gradcam_maps`.
    y_true, p, n, high, low, seed
        As in :func:`select_examples`.

    Returns
    -------
    dict
        ``category -> {"index": (k,), "image": (k, H, W, C) uint8/float as given,
        "map": (k, H, W), "p": (k,)}`` for each of TP, TN, FP, FN.
    """
    sel = select_examples(y_true, p, n=n, high=high, low=low, seed=seed)
    q = np.asarray(p, dtype=float).ravel()
    out = {}
    for name in CATEGORIES:
        idx = sel[name]
        imgs = np.stack([np.asarray(images[int(i)]) for i in idx]) if len(idx) else \
            np.zeros((0,) + tuple(images.shape[1:]), dtype=np.asarray(images[:0]).dtype)
        maps = (gradcam_maps(model, imgs, layer_name=layer_name, batch_size=batch_size)
                if len(idx) else np.zeros(imgs.shape[:3], np.float32))
        out[name] = {"index": idx, "image": imgs, "map": maps, "p": q[idx]}
    return out


def count_examples(examples):
    """Number of examples per category of :func:`gradcam_examples`' result."""
    return {name: int(len(v["index"])) for name, v in examples.items()}

"""Grad-CAM and HiResCAM maps of a convolutional layer, via tf-keras-vis.

See :mod:`deepshadows_lib.gradcam` for the methods and why there are two.
"""

import warnings

import numpy as np
from tqdm.auto import tqdm

from ..errors import InputError
from ..nn.inference import inference_function

# TensorFlow, Keras and tf-keras-vis are imported inside the functions: importing them
# starts TensorFlow (seconds), which the numpy-only callers of this package never need.

__all__ = ["gradcam_maps", "last_conv_layer", "METHODS"]


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


#: map methods of :func:`gradcam_maps`
METHODS = ("gradcam", "hirescam")


class _HiResCam:
    """HiResCAM (Draelos & Carin 2020): the element-wise product of the score's gradient
    and the feature maps, summed over channels, positive part.

    Grad-CAM first averages each channel's gradient over the image, which assumes that a
    channel means the same thing wherever it fires (true for a global-average-pooling
    head).  DeepShadows flattens its last feature maps into a dense layer, so a channel
    may count for an LSBG at the centre and against it around (a neighbour); the average
    is then dominated by the surroundings, which are most of the image.  Keeping the
    gradient at each position avoids that, and for a flatten-then-dense head the map
    sums exactly to the score's first-order dependence on the layer.
    """

    def __init__(self, model):
        import keras
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        self.model = ReplaceToLinear()(clone) or clone

    def __call__(self, x, target, layer, n_out, expand, out_shape):
        import keras
        import tensorflow as tf
        sub = keras.Model(self.model.inputs[0],
                          [self.model.get_layer(layer).output, self.model.outputs[0]])
        t = tf.constant(np.asarray(target), dtype=tf.int32)
        with tf.GradientTape() as tape:
            feats, z = sub(x, training=False)
            if n_out == 1:  # the LSBG logit for class 1, its negative for class 0
                score = tf.where(t == 1, z[:, 0], -z[:, 0])
            else:
                score = tf.gather(z, t, batch_dims=1)
        grads = tape.gradient(score, feats)  # per image: the images are independent
        cam = tf.nn.relu(tf.reduce_sum(grads * feats, axis=-1))
        if expand:
            cam = tf.image.resize(cam[..., None], out_shape, method="bilinear")[..., 0]
        return cam.numpy()


def gradcam_maps(model, images, *, layer_name=None, class_index=None, batch_size=32,
                 normalize=True, expand=True, progress=False, method="gradcam"):
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
    method : {"gradcam", "hirescam"}, optional
        ``gradcam``: the paper's Grad-CAM (channel weights = the gradient averaged over
        the image; tf-keras-vis).  ``hirescam``: the gradient kept at each position
        (:class:`_HiResCam`), faithful for a network that flattens its feature maps into
        a dense layer, as DeepShadows does.

    Returns
    -------
    numpy.ndarray of float32, shape (N, H, W)
        (or the layer's height and width with ``expand=False``).
    """
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

    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    # One clone for all batches: Gradcam clones the model when given a modifier.
    cam = (Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
           if method == "gradcam" else _HiResCam(model))
    starts = range(0, n, int(batch_size))
    if progress:
        starts = tqdm(starts, desc="Grad-CAM", unit="batch")
    # the predicted class of uint8 cutouts comes from the library's one inference path,
    # so that the class explained is the class the predictions tables report
    forward = None
    if class_index is None and np.issubdtype(np.asarray(images[:0]).dtype, np.integer):
        forward = inference_function(model, input_shape=expected)
    maps = []
    for start in starts:
        stop = min(start + int(batch_size), n)
        batch = np.asarray(images[start:stop])
        x = tf.constant(_prepare_batch(batch))
        target = _targets(class_index, n, start, stop)
        if target is None:
            out = (forward(batch.astype(np.uint8)).numpy() if forward is not None
                   else model(x, training=False).numpy())
            target = (out[:, 0] > 0.5).astype(int) if n_out == 1 else out.argmax(axis=1)
        if n_out == 1:
            if not np.isin(target, (0, 1)).all():
                raise InputError("class_index must be 0 or 1 for a sigmoid output")
            score = BinaryScore([bool(t) for t in target])
        else:
            if target.min() < 0 or target.max() >= n_out:
                raise InputError(f"class_index must be in 0..{n_out - 1}")
            score = CategoricalScore([int(t) for t in target])
        if method == "gradcam":
            m = cam(score, x, penultimate_layer=layer, seek_penultimate_conv_layer=False,
                    expand_cam=expand, normalize_cam=False)
        else:
            m = cam(x, target, layer, n_out, expand, expected[:2])
        m = np.asarray(m, dtype=np.float32).reshape(stop - start, *np.shape(m)[-2:])
        maps.append(_minmax(m) if normalize else m)
    out = np.concatenate(maps) if maps else np.zeros((0,) + expected[:2], np.float32)
    return out[0] if single else out


"""The one inference path of the DeepShadows CNN: uint8 cutouts in, probabilities out.

:func:`inference_function` compiles a function from a uint8 batch to the model's
probabilities; for a DeepShadows network it runs a folded graph
(:func:`_folded_deepshadows`: batch normalisation folded away or applied after pooling,
1/255 folded into conv1, dropout removed), equal to Keras' ``model.predict`` to float32
rounding; the function's ``folded`` attribute says which graph it runs.
:func:`predict` streams a store (lazy or not) through it block by block.  Training's
evaluation, the command line's ``evaluate``, ``plus``, Grad-CAM and occlusion all predict
through here.

TensorFlow is imported inside the functions (through :func:`.runtime.tf`): see
:mod:`.runtime`.
"""

import numpy as np
from tqdm.auto import tqdm

from ..schema import CUTOUT_SHAPE
from .cnn import LAYER_NAMES
from .data import READ_BLOCK, _is_lazy, read_images
from .runtime import per_model_function
from .runtime import tf as _tf

__all__ = ["predict", "inference_function", "PRECISIONS"]


def predict(model, images, *, indices=None, batch_size=256, progress=False, fast=True,
            jit_compile="auto", precision="float32"):
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
    fast, jit_compile, precision : optional
        Passed to :func:`inference_function` (batch normalisation folded; XLA on a GPU;
        the opt-in bfloat16 arithmetic).

    Returns
    -------
    numpy.ndarray
        float64, (n,) LSBG probabilities for a binary model, (n, K) for a softmax head.
    """
    _tf()
    n_total = images.shape[0]
    rows = np.arange(n_total) if indices is None else np.asarray(indices, np.int64).ravel()
    n_out = int(model.output_shape[-1])

    forward = inference_function(model, fast=fast, jit_compile=jit_compile,
                                 input_shape=tuple(images.shape[1:]), precision=precision)

    out = np.empty((rows.size, n_out), dtype=np.float64)
    block = max(int(batch_size), READ_BLOCK // int(batch_size) * int(batch_size))
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


#: the arithmetic :func:`inference_function` can run: ``"float32"`` (the default, equal
#: to Keras' ``predict`` to float32 rounding) or ``"bfloat16"`` (opt-in: conv2, conv3 and
#: dense1 run in bfloat16, faster on CPUs with AVX-512 BF16 or AMX, but differing
#: from float32 by up to a few 1e-3 in the probability; bench/bench_classify.py measures
#: both)
PRECISIONS = ("float32", "bfloat16")


def _check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def _folded_deepshadows(model, *, precision="float32"):
    """The inference arithmetic of a DeepShadows model with batch norm folded, or None.

    At inference a batch normalisation is a per-channel affine map ``a * x + c``.  In
    each block it follows the ReLU and precedes the 2x2 max-pooling; with ``a > 0`` the
    map is monotonic, so it commutes with the max and is applied to the pooled tensor,
    a quarter of the size (exactly: float rounding is monotonic too).  The third one is
    folded into dense1's weights (exact algebra, float32 rounding), the 1/255 scaling
    into conv1's, and dropout is the identity.  Returns None for any other model, or
    when a scale is not positive, and the caller then uses the Keras model itself.
    (Folding the first two into conv2's and conv3's weights as well, with a
    per-position bias for the zero padding, was measured no faster on a CPU.)

    ``precision="bfloat16"`` runs conv2 and conv3 (with their biases, ReLU and pooling)
    and dense1's product (nine tenths of the multiplications) in bfloat16, with
    everything else in float32: the opt-in of :func:`inference_function`.  (conv1 stays
    float32: in bfloat16 it moved a trained model's probabilities by a few 1e-2.)
    """
    import keras
    tf = _tf()
    _check_precision(precision)

    names = LAYER_NAMES[1:]
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
    low = tf.bfloat16 if precision == "bfloat16" else tf.float32
    f32 = lambda v: tf.constant(np.asarray(v, np.float32))  # noqa: E731
    # weights of the layers that run in ``low`` precision are rounded to it once, here
    typed = lambda v, k: tf.cast(f32(v), low) if k else f32(v)  # noqa: E731
    convs = [(typed(w, k), typed(b, k), f32(a), f32(c), pad)
             for k, (w, b, a, c, pad) in enumerate(blocks)]
    w1, b1, w2, b2 = typed(w1, True), f32(b1), f32(w2), f32(b2)
    softmax = out.get_config()["activation"] == "softmax"

    def like(x, w):  # the input of a product, in its weights' precision
        return x if w.dtype == x.dtype else tf.cast(x, w.dtype)

    def forward(x):
        h = tf.cast(x, tf.float32)
        for k, (w, b, a, c, pad) in enumerate(convs):
            # a low-precision block keeps its precision up to the pooling: oneDNN then
            # fuses the bias and ReLU into the convolution, and the pooling reads half
            # the bytes (the cast to float32 is on a quarter of the tensor)
            h = tf.nn.conv2d(like(h, w), w, 1, pad)
            h = tf.nn.relu(tf.nn.bias_add(h, b))
            h = tf.cast(tf.nn.max_pool2d(h, 2, 2, "VALID"), tf.float32)
            if k < 2:
                h = h * a + c
        h = tf.reshape(h, (tf.shape(h)[0], -1))
        h = tf.nn.relu(tf.cast(tf.matmul(like(h, w1), w1), tf.float32) + b1)
        z = tf.matmul(h, w2) + b2
        return tf.nn.softmax(z) if softmax else tf.sigmoid(z)

    return forward


def inference_function(model, *, fast=True, jit_compile="auto", input_shape=CUTOUT_SHAPE,
                       precision="float32"):
    """A compiled function from a uint8 batch to the model's probabilities.

    The cutouts are cast and scaled inside the graph, so the caller never makes a float
    copy.  With ``fast`` a DeepShadows model runs a folded inference graph (batch
    normalisation folded away or applied after pooling, 1/255 folded into conv1; see
    :func:`_folded_deepshadows`), faster than calling the Keras model (bench/ measures
    it) and equal to it to float32 rounding (tests/test_nn_inference.py: within 1e-5).
    Any other model runs as itself.

    Parameters
    ----------
    model : keras.Model
    fast : bool, optional
        Fold batch normalisation when the model is a DeepShadows network.
    jit_compile : bool or "auto", optional
        Compile with XLA.  "auto": only on a GPU; on a CPU XLA's convolutions are
        slower than oneDNN's.
    input_shape : tuple of int, optional
        Shape of one cutout.
    precision : {"float32", "bfloat16"}, optional
        ``"float32"`` (default): equal to Keras' ``predict`` to float32 rounding.
        ``"bfloat16"``, an opt-in for speed on CPUs with bfloat16 instructions: conv2
        and conv3 (with their bias, ReLU and pooling) and dense1's product run in
        bfloat16 (conv1, the batch-norm maps, dense1's bias and the output layer stay
        float32); the probabilities then differ from float32's by up to a few 1e-3
        (bench/ records the measured difference).  Needs the folded graph (``fast`` and
        a DeepShadows network).

    Raises
    ------
    ValueError
        An unknown ``precision``, or ``"bfloat16"`` for a model that does not fold.

    Returns
    -------
    callable
        ``f(uint8 array (B, H, W, C)) -> tf.Tensor (B, n_outputs)``; its attribute
        ``folded`` is True when it runs the folded graph, False when the Keras model.
    """
    tf = _tf()
    if jit_compile == "auto":
        jit_compile = bool(tf.config.list_physical_devices("GPU"))
    _check_precision(precision)
    forward = _folded_deepshadows(model, precision=precision) if fast else None
    folded = forward is not None
    if forward is None and precision != "float32":
        raise ValueError(f"precision={precision!r} needs the folded graph of a DeepShadows "
                         "network (fast=True)")
    if forward is None:
        def forward(x):
            return model(tf.cast(x, tf.float32) / 255.0, training=False)
    function = tf.function(per_model_function(forward), jit_compile=bool(jit_compile),
                           reduce_retracing=True,
                           input_signature=[tf.TensorSpec((None, *input_shape), tf.uint8)])
    function.folded = folded
    function.precision = precision
    return function

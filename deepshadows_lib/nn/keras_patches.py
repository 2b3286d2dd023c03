"""Every change this library makes to Keras objects, in one place, behind a probe.

Two patches make training on a CPU faster with Keras' own arithmetic (to float32
rounding), by running TensorFlow's fused kernels (:mod:`.fused`):

``fused_adadelta``
    :func:`fuse_adadelta` replaces one ``keras.optimizers.Adadelta`` instance's
    ``update_step``; it reads Keras' private ``_get_variable_index``,
    ``_accumulated_grads`` and ``_accumulated_delta_vars``.
``fused_batch_norm``
    :func:`fuse_batch_norm` replaces the ``call`` of a model's
    ``keras.layers.BatchNormalization`` instances in training mode; it reads the layers'
    attributes (``gamma``, ``moving_mean``, ``momentum``, ``renorm``, ...).

Only instances change, never Keras' classes: the model still holds plain Keras layers
and optimizer, and saves, loads and clones as such (a loaded or cloned model is patched
again when compiled with :func:`deepshadows_lib.nn.cnn.compile_deepshadows`).  Each
patched object carries ``_deepshadows_patched`` (``"fused_adadelta"`` or
``"fused_batch_norm"``), read by :func:`is_patched`.

Before the first patch, :func:`probe` checks on tiny throw-away objects that the
internals are there and that the fused path gives Keras' own numbers.  On a Keras whose
internals differ, nothing is patched, training runs Keras' own ops (slower, same
results), and one :class:`KerasPatchWarning` says so.  Backends other than TensorFlow,
and batch normalisation on a GPU with op determinism on (the fused gradient is not
guaranteed deterministic there), keep Keras' ops without a warning: nothing is wrong.

Keras and TensorFlow are imported inside the functions: see :mod:`.runtime`.
"""

import types
import warnings

import numpy as np

from . import fused
from .runtime import tf as _tf

__all__ = ["FUSED_ADADELTA", "FUSED_BATCH_NORM", "PATCH_ATTRIBUTE", "KerasPatchWarning",
           "probe", "fuse_adadelta", "fuse_batch_norm", "is_patched"]

FUSED_ADADELTA = "fused_adadelta"
FUSED_BATCH_NORM = "fused_batch_norm"
#: the attribute a patched object carries: the name of its patch
PATCH_ATTRIBUTE = "_deepshadows_patched"


class KerasPatchWarning(UserWarning):
    """Keras' internals differ from those the fused training path was written for."""


_probe_result = None  # {patch name: None (usable) or the reason it is not}
_warned = False


def _probe_adadelta():
    """None if :func:`fuse_adadelta` works on this Keras, else why not."""
    import keras
    w0 = np.array([0.5, -1.0, 2.0], np.float32)
    grads = [np.array([0.1, -0.2, 0.3], np.float32), np.array([1e-3, 0.5, -0.7], np.float32)]
    got = []
    for patch in (False, True):
        v = keras.Variable(w0)
        opt = keras.optimizers.Adadelta(learning_rate=0.1)
        if patch:
            _patch_adadelta(opt)
        for g in grads:
            opt.apply_gradients([(g, v)])
        got.append(np.asarray(v.numpy()))
    if not np.allclose(got[0], got[1], rtol=1e-5, atol=1e-7) or np.array_equal(got[0], w0):
        return "the fused Adadelta step differs from Keras' own"
    return None


def _probe_batch_norm():
    """None if :func:`fuse_batch_norm` works on this Keras, else why not."""
    import keras
    x = np.random.default_rng(0).normal(size=(4, 3, 3, 2)).astype(np.float32)
    got = []
    for patch in (False, True):
        layer = keras.layers.BatchNormalization()
        layer.build(x.shape)
        if patch:
            _patch_batch_norm_layer(layer)
        y = np.asarray(layer(x, training=True))
        got.append((y, np.asarray(layer.moving_mean.numpy()),
                    np.asarray(layer.moving_variance.numpy())))
    for a, b in zip(*got):
        if not np.allclose(a, b, rtol=1e-4, atol=1e-5):
            return "the fused batch normalisation differs from Keras' own"
    return None


def _reason(exc):
    """One line naming what failed; Keras wraps errors raised inside a layer's call."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def probe():
    """Check, once per process, that this Keras has the internals the patches use.

    Returns
    -------
    dict
        ``{"fused_adadelta": reason, "fused_batch_norm": reason}``: None where the patch
        applies, otherwise a short reason (a missing attribute, a mismatch).
    """
    global _probe_result
    if _probe_result is None:
        result = {}
        for name, check in ((FUSED_ADADELTA, _probe_adadelta),
                            (FUSED_BATCH_NORM, _probe_batch_norm)):
            try:
                result[name] = check()
            except Exception as exc:  # any missing or changed internal: don't patch
                result[name] = _reason(exc)
        _probe_result = result
    return dict(_probe_result)


def _usable(name):
    """Whether patch ``name`` applies here; warn once per process when Keras differs."""
    global _warned
    import keras
    if keras.backend.backend() != "tensorflow":
        return False
    reasons = probe()
    if reasons.get(name) is None:
        return True
    if not _warned:
        _warned = True
        failed = "; ".join(f"{k}: {v}" for k, v in reasons.items() if v is not None)
        warnings.warn(f"deepshadows: Keras {keras.__version__} differs from what the fused "
                      f"training kernels expect ({failed}); training with Keras' own ops "
                      "instead (same results, slower)", KerasPatchWarning, stacklevel=3)
    return False


def is_patched(obj):
    """The patch applied to ``obj`` (``"fused_adadelta"``, ``"fused_batch_norm"``) or None.

    Parameters
    ----------
    obj : keras.optimizers.Optimizer or keras.layers.Layer

    Returns
    -------
    str or None
    """
    return getattr(obj, PATCH_ATTRIBUTE, None)


def _patch_adadelta(optimizer):
    tf = _tf()

    def update_step(self, grad, variable, learning_rate):
        if isinstance(grad, tf.IndexedSlices):  # sparse gradients: Keras' own update
            return type(self).update_step(self, grad, variable, learning_rate)
        index = self._get_variable_index(variable)
        fused.adadelta_apply(var=variable, accum=self._accumulated_grads[index],
                             accum_update=self._accumulated_delta_vars[index],
                             learning_rate=learning_rate, rho=self.rho,
                             epsilon=self.epsilon, grad=grad)

    optimizer.update_step = types.MethodType(update_step, optimizer)
    setattr(optimizer, PATCH_ATTRIBUTE, FUSED_ADADELTA)
    return optimizer


def fuse_adadelta(optimizer):
    """Make a Keras Adadelta optimizer update each variable with one fused kernel.

    For the 4.2 million weights of dense1, Keras' fifteen element-wise ops are fifteen
    passes over 17 MB per step; ``ResourceApplyAdadelta`` (:func:`.fused.adadelta_apply`)
    makes one.  Only the instance's ``update_step`` is replaced: the optimizer is still
    a ``keras.optimizers.Adadelta`` and saves and loads as one.  Sparse gradients keep
    Keras' update.  Where :func:`probe` finds Keras' internals changed, or the backend
    is not TensorFlow, the optimizer is returned unchanged.

    Parameters
    ----------
    optimizer : keras.optimizers.Adadelta

    Returns
    -------
    keras.optimizers.Adadelta
        The same optimizer, marked ``"fused_adadelta"`` (:func:`is_patched`) if patched.
    """
    if _usable(FUSED_ADADELTA):
        _patch_adadelta(optimizer)
    return optimizer


def _patch_batch_norm_layer(layer):
    import keras
    tf = _tf()
    keras_call = keras.layers.BatchNormalization.call

    def call(self, inputs, training=None, mask=None):
        if (not (training and self.trainable) or mask is not None or self.renorm
                or self.synchronized or not (self.center and self.scale)
                or len(inputs.shape) != 4 or self.axis not in (-1, 3)):
            return keras_call(self, inputs, training=training, mask=mask)
        y, mean, variance = fused.batch_norm_train(inputs, gamma=self.gamma, beta=self.beta,
                                                   epsilon=self.epsilon)
        fused.moving_average(self.moving_mean, mean, momentum=self.momentum)
        fused.moving_average(self.moving_variance, variance, momentum=self.momentum)
        return tf.cast(y, self.compute_dtype)

    layer.call = types.MethodType(call, layer)
    setattr(layer, PATCH_ATTRIBUTE, FUSED_BATCH_NORM)
    return layer


def fuse_batch_norm(model):
    """Make the batch-normalisation layers of ``model`` train with TensorFlow's fused op.

    ``FusedBatchNormV3`` (oneDNN on x86) does the forward pass in one op and the
    backward pass in one more (:func:`.fused.batch_norm_train`).  The arithmetic is
    Keras': the batch mean and the biased batch variance normalise the batch, and the
    moving statistics follow Keras' momentum formula with the biased variance.  Results
    agree to float32 rounding and stay deterministic on a CPU.  Inference
    (``training=False``), frozen layers, masks, renorm, synchronised layers and layouts
    other than channels-last rank 4 take Keras' own path.  On a GPU with op determinism
    on, nothing is changed (the fused gradient is not guaranteed deterministic there);
    nor where :func:`probe` finds Keras' internals changed.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    keras.Model
        The same model; each patched layer is marked ``"fused_batch_norm"``.
    """
    import keras
    tf = _tf()
    if (keras.backend.backend() == "tensorflow" and tf.config.list_physical_devices("GPU")
            and tf.config.experimental.is_op_determinism_enabled()):
        return model
    if not _usable(FUSED_BATCH_NORM):
        return model
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            _patch_batch_norm_layer(layer)
    return model

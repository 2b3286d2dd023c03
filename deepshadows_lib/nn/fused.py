"""TensorFlow's fused training kernels, in Keras' arithmetic: Adadelta and batch norm.

Keras 3 writes an Adadelta update as about fifteen element-wise ops per variable and a
training-mode batch normalisation (with its gradient) as some twenty more; on a CPU
these memory-bound passes cost more than the convolutions.  TensorFlow has one kernel
for each (``ResourceApplyAdadelta``, ``FusedBatchNormV3``).  The functions here run
those kernels with Keras' formulas (see each); :mod:`.keras_patches` installs them on
Keras objects.  They touch no Keras internals: they take variables and tensors.

TensorFlow is imported inside the functions (through :func:`.runtime.tf`): see
:mod:`.runtime`.
"""

from .runtime import tf as _tf

__all__ = ["adadelta_apply", "batch_norm_train", "moving_average"]


def adadelta_apply(*, var, accum, accum_update, learning_rate, rho, epsilon, grad):
    """One Adadelta step on ``var`` in one pass over memory (``ResourceApplyAdadelta``).

    The kernel computes, term by term as Keras' ``Adadelta.update_step``::

        accum        = rho * accum + (1 - rho) * grad**2
        update       = sqrt(accum_update + eps) / sqrt(accum + eps) * grad
        var         -= lr * update
        accum_update = rho * accum_update + (1 - rho) * update**2

    Results agree with Keras' to float32 rounding, and the kernel is deterministic.

    Parameters
    ----------
    var, accum, accum_update : tf.Variable or keras.Variable
        The variable and its two accumulators (anything with a resource ``handle``).
    learning_rate, rho, epsilon : float or tensor
        The optimizer's hyper-parameters.
    grad : tensor
        The dense gradient of ``var``.
    """
    tf = _tf()
    dtype = var.dtype
    tf.raw_ops.ResourceApplyAdadelta(
        var=var.handle, accum=accum.handle, accum_update=accum_update.handle,
        lr=tf.cast(learning_rate, dtype), rho=tf.cast(rho, dtype),
        epsilon=tf.cast(epsilon, dtype), grad=tf.cast(grad, dtype), use_locking=False)


def batch_norm_train(x, *, gamma, beta, epsilon):
    """Training-mode batch normalisation of a channels-last rank-4 batch, in one op.

    The batch mean and the biased batch variance normalise the batch, as in Keras.
    ``FusedBatchNormV3`` returns the unbiased variance; it is rescaled by (n - 1) / n.

    Parameters
    ----------
    x : tensor
        (B, H, W, C).
    gamma, beta : tensor
        (C,) scale and offset.
    epsilon : float

    Returns
    -------
    y : tf.Tensor
        The normalised batch, float32.
    mean, variance : tf.Tensor
        (C,) batch mean and biased batch variance, float32.
    """
    tf = _tf()
    x = tf.cast(x, tf.float32)
    empty = tf.constant([], tf.float32)
    y, mean, var_unbiased, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=tf.cast(gamma, tf.float32), offset=tf.cast(beta, tf.float32),
        mean=empty, variance=empty, epsilon=float(epsilon),
        exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
    n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
    variance = var_unbiased * ((n - 1.0) / tf.maximum(n, 1.0))
    return y, mean, variance


def moving_average(moving, value, *, momentum):
    """Keras' moving-statistic update: ``moving = moving * m + value * (1 - m)``.

    ``value`` is a batch statistic; no gradient flows through it.
    """
    tf = _tf()
    m = float(momentum)
    moving.assign(moving * m + tf.stop_gradient(value) * (1.0 - m))

"""Batch-normalisation statistics re-estimated after training ("precise BN").

During training a Keras ``BatchNormalization`` layer normalises each batch by that
batch's mean and variance and keeps, for inference, exponential moving averages of them
(momentum 0.99: an average over the last ~100 steps).  With the paper's strong L2 (0.13 on
the convolution kernels, 0.12 on the dense layer) the kernels shrink a little at every
step, so the statistics of a layer's input drift while the moving averages trail behind;
and the second and third blocks see their input through dropout in training (a variance
shift) but without it at inference.  After a short training (a thousand steps instead of
the paper's ~47,000) the stored averages no longer describe what the layers receive at
inference, and the network's output is biased.

:func:`reestimate_batch_norm` replaces the moving mean and variance of every
batch-normalisation layer by the exact mean and variance of that layer's input over a set
of images, computed in inference mode (no dropout), layer by layer in the order of the
network, so that each layer's statistics are those of the input it receives once the
layers before it have been re-estimated.  One pass over the images per layer.  The
weights are untouched.  This departs from the paper's procedure (which keeps the moving
averages); the run profiles switch it on or off (``Profile.bn_reestimate``) and the
notebooks report the model both ways.
"""

import numpy as np
import pandas as pd

from . import evaluate
from .errors import InputError
from .nn.data import read_images
from .nn.inference import predict
from .nn.runtime import per_model_function
from .nn.runtime import tf as _tf
from .nn.saving import copy_model

# Keras is imported inside the functions: importing it starts TensorFlow (seconds),
# which the table functions here (effect_table, study_table) never need.

__all__ = ["batch_norm_layers", "reestimate_batch_norm", "batch_norm_statistics", "compare",
           "effect_table", "study_table"]


def batch_norm_layers(model):
    """The ``BatchNormalization`` layers of ``model``, input to output."""
    import keras
    return [layer for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)]


def _batch_moments_function(model, bn):
    """A compiled function from a batch of images to ``(count, mean, m2)`` of the input
    of the batch-norm layer ``bn``, per channel, in float64.

    The prefix of the network and the reduction run in one TensorFlow graph: the
    activations never become a numpy float64 copy (most of the time of a re-estimation
    went there), and the float64 sums run on every core.
    uint8 cutouts are scaled by 1/255 in float32, as the training input is.
    """
    import keras
    tf = _tf()

    prefix = keras.Model(model.inputs[0], bn.input)

    @tf.function(reduce_retracing=True)
    @per_model_function
    def moments(x):
        x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
        h = prefix(x, training=False)
        h = tf.cast(tf.reshape(h, (-1, tf.shape(h)[-1])), tf.float64)
        mean = tf.reduce_mean(h, axis=0)
        return tf.shape(h, out_type=tf.int64)[0], mean, tf.reduce_sum(tf.square(h - mean),
                                                                          axis=0)

    return moments


def batch_norm_statistics(model, images, *, layer, indices=None, batch_size=256):
    """Mean and (biased) variance per channel of the input of one batch-norm layer.

    The network up to the layer runs in inference mode over ``images`` (uint8 cutouts
    are scaled by 1/255, as in training); the statistics pool every image and every
    pixel, as a ``BatchNormalization`` layer pools a batch.

    Parameters
    ----------
    model : keras.Model
        A Functional model.
    images : numpy.ndarray or zarr.Array
        (N, H, W, C) uint8 (or float already scaled).
    layer : str or keras.layers.Layer
        The batch-normalisation layer.
    indices : array_like of int, optional
        Rows of ``images`` to use; default: all.
    batch_size : int, optional
        Images per forward pass.

    Returns
    -------
    mean, variance : numpy.ndarray
        float64, one value per channel.
    """
    bn = model.get_layer(layer) if isinstance(layer, str) else layer
    batch_moments = _batch_moments_function(model, bn)
    x_all = (read_images(images, indices) if np.asarray(images[:0]).dtype == np.uint8
             else np.asarray(images if indices is None else np.asarray(images)[indices]))
    n = int(x_all.shape[0])
    if n == 0:
        raise InputError("batch-norm statistics need at least one image")
    count, mean, m2 = 0, None, None
    for start in range(0, n, int(batch_size)):
        b_n, b_mean, b_m2 = (np.asarray(v) for v in
                             batch_moments(x_all[start:start + int(batch_size)]))
        b_n = int(b_n)
        if mean is None:
            count, mean, m2 = b_n, b_mean, b_m2
            continue
        # Chan et al.'s pairwise update: exact, and stable for large counts
        delta = b_mean - mean
        total = count + b_n
        mean = mean + delta * (b_n / total)
        m2 = m2 + b_m2 + delta ** 2 * (count * b_n / total)
        count = total
    return mean, m2 / count


def reestimate_batch_norm(model, images, *, indices=None, batch_size=256):
    """Set every batch-norm layer's moving mean and variance to their exact values.

    Layer by layer, input to output: each layer's statistics are computed (by
    :func:`batch_norm_statistics`) with the layers before it already re-estimated.

    Parameters
    ----------
    model : keras.Model
        A trained Functional model (changed in place).
    images : numpy.ndarray or zarr.Array
        (N, H, W, C) uint8 cutouts, normally the training images.
    indices : array_like of int, optional
        Rows of ``images`` to use (e.g. the training split); default: all.
    batch_size : int, optional
        Images per forward pass.

    Returns
    -------
    dict
        ``layer name -> {"moving_mean", "moving_variance", "mean", "variance"}``: the
        statistics before (the moving averages of training) and after, as lists.
    """
    layers = batch_norm_layers(model)
    if not layers:
        return {}
    # read once: the same images go through every prefix
    x = read_images(images, indices) if np.asarray(images[:0]).dtype == np.uint8 else \
        np.asarray(images if indices is None else np.asarray(images)[indices])
    changes = {}
    for bn in layers:
        old_mean = np.asarray(bn.moving_mean).astype(np.float64)
        old_var = np.asarray(bn.moving_variance).astype(np.float64)
        mean, var = batch_norm_statistics(model, x, layer=bn, batch_size=batch_size)
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(var.astype(np.float32))
        changes[bn.name] = {"moving_mean": old_mean.tolist(),
                            "moving_variance": old_var.tolist(),
                            "mean": mean.tolist(), "variance": var.tolist()}
    return changes


def compare(model, images, *, train_idx, test_idx, y_test, apply, batch_size=256):
    """The model's test predictions with the training's moving statistics and with
    re-estimated ones, and which of the two the run keeps.

    Parameters
    ----------
    model : keras.Model
        A trained binary DeepShadows model.  With ``apply`` its statistics are replaced
        (in place); otherwise a copy is re-estimated and ``model`` is left as it is.
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    train_idx, test_idx : array_like of int
        Rows the statistics are estimated on, and rows predicted.
    y_test : array_like
        Binary labels of ``test_idx``.
    apply : bool
        Keep the re-estimated statistics (a profile's ``bn_reestimate``).

    Returns
    -------
    dict
        ``p`` (the predictions of the model kept), ``p_moving``, ``p_reestimated``,
        ``model`` (the model kept: ``model`` itself) and ``table`` (:func:`effect_table`).
    """
    p_moving = predict(model, images, indices=test_idx, batch_size=batch_size)
    target = model if apply else copy_model(model)
    reestimate_batch_norm(target, images, indices=train_idx, batch_size=batch_size)
    p_re = predict(target, images, indices=test_idx, batch_size=batch_size)
    y = np.asarray(y_test)
    table = effect_table({"moving averages of training (the paper)":
                          evaluate.binary_metrics(y, p_moving),
                          "re-estimated after training": evaluate.binary_metrics(y, p_re)},
                         predicted={"moving averages of training (the paper)": p_moving,
                                    "re-estimated after training": p_re},
                         used="re-estimated after training" if apply else
                         "moving averages of training (the paper)")
    return {"p": p_re if apply else p_moving, "p_moving": p_moving, "p_reestimated": p_re,
            "model": model, "table": table}


def effect_table(metrics, *, predicted=None, used=None):
    """A table of test metrics under each choice of batch-norm statistics.

    Parameters
    ----------
    metrics : dict
        ``name -> binary metrics`` (:func:`deepshadows_lib.evaluate.binary_metrics`).
    predicted : dict, optional
        ``name -> predictions``: adds the fraction predicted LSBG (p > 0.5).
    used : str, optional
        The name whose numbers the run's figures use (marked in a column).
    """
    rows = []
    for name, m in metrics.items():
        row = {"statistics": name, "accuracy": m["accuracy"], "auc": m["auc"],
               "recall": m["recall"], "precision": m["precision"]}
        if predicted is not None:
            row["predicted LSBG"] = float((np.asarray(predicted[name]) > 0.5).mean())
        if used is not None:
            row["used in figures"] = "yes" if name == used else "no"
        rows.append(row)
    return pd.DataFrame(rows).set_index("statistics")


def study_table(results):
    """Test accuracy and AUC of a study's trainings with either batch-norm statistics.

    Parameters
    ----------
    results : list of dict
        Results of :func:`deepshadows_lib.studies.run_random_splits` or
        :func:`~deepshadows_lib.studies.run_label_noise` (with ``metrics_moving`` and
        ``metrics_reestimated``).

    Returns
    -------
    pandas.DataFrame
        One row per training: accuracy and AUC with the moving averages and
        re-estimated, and the change.
    """
    rows = []
    for r in results:
        if "seed" in r:
            name = f"seed {r['seed']}"
        else:
            name = f"noise {r['direction']} {100 * r['fraction']:.0f}%"
        mv, re = r.get("metrics_moving"), r.get("metrics_reestimated")
        if not mv or not re:
            continue
        rows.append({"training": name, "accuracy (moving)": mv["accuracy"],
                     "accuracy (re-estimated)": re["accuracy"],
                     "auc (moving)": mv["auc"], "auc (re-estimated)": re["auc"]})
    table = pd.DataFrame(rows).drop_duplicates("training").set_index("training")
    table["accuracy change"] = table["accuracy (re-estimated)"] - table["accuracy (moving)"]
    return table

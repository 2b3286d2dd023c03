"""The DeepShadows CNN and the feature-based baselines of the paper.

The network (Section 5 and Fig. 2 of Tanoglidis et al. 2021) is built with the Keras
Functional API, because tf-keras-vis (Grad-CAM) needs a Functional model on Keras 3.  Its
layers are named so that Grad-CAM and the architecture figure can find them::

    image -> conv1 -> bn1 -> pool1 -> drop1
          -> conv2 -> bn2 -> pool2 -> drop2
          -> conv3 -> bn3 -> pool3 -> drop3
          -> flatten -> dense1 -> output

Each block is Conv2D (3x3, padding "same", ReLU, L2 0.13) -> BatchNormalization ->
MaxPooling 2x2 -> Dropout 0.4, the order of the original notebooks; with it the binary
model has exactly the paper's 4,220,385 parameters.

The baselines (Section 4) are scikit-learn Pipelines on the 16 catalog features of
:data:`deepshadows_lib.features.PAPER_FEATURES`: a standard scaler followed by an RBF
support-vector machine (C = 1e4, gamma = 1e-3) or a random forest (100 trees,
min_samples_split = 10).

TensorFlow and Keras are imported inside the functions that need them.
"""

import numpy as np

from . import paper
from .paper import PAPER_N_PARAMS
from .schema import CLASSES

__all__ = ["PAPER_N_PARAMS", "CLASS_NAMES", "LAYER_NAMES", "LAST_CONV_LAYER",
           "build_deepshadows", "compile_deepshadows", "fuse_adadelta",
           "fuse_batch_norm", "svm_pipeline",
           "random_forest_pipeline", "baseline_pipelines", "baseline_scores"]


#: the three-class target order (``class_index`` of the store): artifact2 = 0, lsbg = 1,
#: artifact1 = 2, so that on the binary problem the label equals the class index
CLASS_NAMES = CLASSES

#: the layer names of :func:`build_deepshadows`, input to output
LAYER_NAMES = ("image", "conv1", "bn1", "pool1", "drop1", "conv2", "bn2", "pool2", "drop2",
               "conv3", "bn3", "pool3", "drop3", "flatten", "dense1", "output")

#: the layer Grad-CAM looks at (the last convolution, Fig. 6)
LAST_CONV_LAYER = "conv3"

_FILTERS = paper.FILTERS
_CONV_L2 = paper.CONV_L2
_DENSE_L2 = paper.DENSE_L2
_DROPOUT = paper.DROPOUT
_DENSE_UNITS = paper.DENSE_UNITS


def build_deepshadows(n_classes=1, *, input_shape=(64, 64, 3), learning_rate=0.1,
                      compile=True, head="flatten"):
    """Build the DeepShadows network.

    Parameters
    ----------
    n_classes : int, optional
        1 for the paper's binary model (one sigmoid unit, the LSBG probability, binary
        cross-entropy); 3 (or any number >= 2) for the multi-class head of Appendix A
        (softmax, categorical cross-entropy on one-hot targets in ``class_index`` order).
    input_shape : tuple of int, optional
        Image shape (height, width, bands); the paper's cutouts are 64x64x3.
    learning_rate : float, optional
        Adadelta learning rate (the paper: 0.1).
    compile : bool, optional
        Compile the model as in the paper (Adadelta, cross-entropy, accuracy).
    head : {"flatten", "gap"}, optional
        ``"flatten"``: the paper's Flatten -> Dense 1024 head (99.4% of the parameters).
        ``"gap"``: a lighter head for the ``plus`` recipe, global average pooling of the
        last block straight into the output (layers ``gap`` and ``output`` replace
        ``flatten``, ``dense1`` and ``output``; 24,097 parameters in all).

    Returns
    -------
    keras.Model
        A Functional model named ``deepshadows`` whose layers are :data:`LAYER_NAMES`.
        The binary model has :data:`PAPER_N_PARAMS` parameters.

    Raises
    ------
    ValueError
        If ``n_classes`` is not a positive integer or ``head`` is unknown.
    """
    import keras
    from keras import layers, regularizers

    n_classes = int(n_classes)
    if n_classes < 1:
        raise ValueError(f"n_classes must be 1 (binary) or >= 2, got {n_classes}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for k, filters in enumerate(_FILTERS, start=1):
        x = layers.Conv2D(filters, (3, 3), padding="same", activation="relu",
                          kernel_regularizer=regularizers.L2(_CONV_L2), name=f"conv{k}")(x)
        x = layers.BatchNormalization(name=f"bn{k}")(x)
        x = layers.MaxPooling2D(pool_size=(2, 2), name=f"pool{k}")(x)
        x = layers.Dropout(_DROPOUT, name=f"drop{k}")(x)
    if head == "flatten":
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(_DENSE_UNITS, activation="relu",
                         kernel_regularizer=regularizers.L2(_DENSE_L2), name="dense1")(x)
    elif head == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}")
    if n_classes == 1:
        outputs = layers.Dense(1, activation="sigmoid", name="output")(x)
    else:
        outputs = layers.Dense(n_classes, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="deepshadows")
    if compile:
        compile_deepshadows(model, learning_rate=learning_rate)
    return model


def compile_deepshadows(model, *, learning_rate=0.1, jit_compile="auto", fused=True):
    """Compile ``model`` as in the paper: Adadelta, cross-entropy, accuracy.

    The loss follows the output: binary cross-entropy for one unit, categorical
    cross-entropy (one-hot targets) for a softmax head.

    Parameters
    ----------
    model : keras.Model
        A DeepShadows model (or any model with a sigmoid or softmax output).
    learning_rate : float, optional
        Adadelta learning rate: 0.1 for training, 0.005 for the HSC fine-tuning.
    jit_compile : bool or "auto", optional
        Passed to :meth:`keras.Model.compile` (XLA).
    fused : bool, optional
        Train with TensorFlow's fused kernels: Adadelta in one pass over memory instead
        of ~15 (:func:`fuse_adadelta`) and batch normalisation in one op instead of ~20
        (:func:`fuse_batch_norm`).  Same arithmetic, to float32 rounding; together
        about 2.5x faster training on a CPU.  Saved models are unaffected (plain Keras
        layers and optimizer).

    Returns
    -------
    keras.Model
        The same model, compiled.
    """
    import keras

    n_out = int(model.output_shape[-1])
    loss = "binary_crossentropy" if n_out == 1 else "categorical_crossentropy"
    optimizer = keras.optimizers.Adadelta(learning_rate=float(learning_rate))
    if fused:
        fuse_adadelta(optimizer)
        fuse_batch_norm(model)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                  jit_compile=jit_compile)
    return model


def fuse_adadelta(optimizer):
    """Make a Keras Adadelta optimizer update each variable with one fused kernel.

    Keras 3 writes the Adadelta update as about fifteen separate element-wise ops per
    variable (square, multiply, add, sqrt, divide, ...), each a full pass over memory;
    for the 4.2 million weights of dense1 that is ~15 passes over 17 MB per step, a
    sixth of the training step on a CPU.  TensorFlow's ``ResourceApplyAdadelta`` kernel
    does the same arithmetic in one pass::

        accum        = rho * accum + (1 - rho) * grad**2
        update       = sqrt(accum_update + eps) / sqrt(accum + eps) * grad
        var         -= lr * update
        accum_update = rho * accum_update + (1 - rho) * update**2

    which is Keras' ``Adadelta.update_step`` term by term (results agree to float32
    rounding, and the kernel is deterministic).  Only the instance's ``update_step`` is
    replaced: the optimizer is still a ``keras.optimizers.Adadelta`` and saves and loads
    as one.  Other backends than TensorFlow keep Keras' update.

    Parameters
    ----------
    optimizer : keras.optimizers.Adadelta

    Returns
    -------
    keras.optimizers.Adadelta
        The same optimizer.
    """
    import types

    import keras

    if keras.backend.backend() != "tensorflow":
        return optimizer
    import tensorflow as tf

    def update_step(self, grad, variable, learning_rate):
        if isinstance(grad, tf.IndexedSlices):  # sparse gradients: Keras' own update
            return type(self).update_step(self, grad, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyAdadelta(
            var=variable.handle,
            accum=self._accumulated_grads[index].handle,
            accum_update=self._accumulated_delta_vars[index].handle,
            lr=tf.cast(learning_rate, dtype), rho=tf.cast(self.rho, dtype),
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(grad, dtype),
            use_locking=False)

    optimizer.update_step = types.MethodType(update_step, optimizer)
    return optimizer


def fuse_batch_norm(model):
    """Make the batch-normalisation layers of ``model`` train with TensorFlow's fused op.

    Keras 3 computes a training-mode batch normalisation from separate ops (moments
    through mean, squared difference and mean, then scale and shift), and its gradient
    from as many more (sums, tiles, multiplies): on a CPU these memory-bound passes
    over the 64x64x16 activations cost more than the convolutions themselves.
    ``FusedBatchNormV3`` (oneDNN on x86) does the forward pass in one op and the
    backward pass in one more; training runs about twice as fast.

    The arithmetic is Keras': the batch mean and the biased batch variance normalise the
    batch, and the moving statistics are updated with Keras' momentum formula and the
    biased variance (the fused op returns the unbiased one; it is rescaled by
    (n - 1) / n).  Results agree to float32 rounding and stay deterministic on a CPU.
    Inference (``training=False``), frozen layers, masks and layouts other than
    channels-last rank 4 take Keras' own path.  On a GPU with op determinism on,
    nothing is changed (the fused gradient is not guaranteed deterministic there).

    Only the layer instances' ``call`` is replaced: the model still holds plain
    ``keras.layers.BatchNormalization`` layers and saves, loads and clones as such
    (a loaded or cloned model is fused again when compiled with
    :func:`compile_deepshadows`).

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    keras.Model
        The same model.
    """
    import types

    import keras

    if keras.backend.backend() != "tensorflow":
        return model
    import tensorflow as tf

    if (tf.config.list_physical_devices("GPU")
            and tf.config.experimental.is_op_determinism_enabled()):
        return model
    keras_call = keras.layers.BatchNormalization.call

    def call(self, inputs, training=None, mask=None):
        if (not (training and self.trainable) or mask is not None or self.renorm
                or self.synchronized or not (self.center and self.scale)
                or len(inputs.shape) != 4 or self.axis not in (-1, 3)):
            return keras_call(self, inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        empty = tf.constant([], tf.float32)
        y, mean, var_unbiased, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=tf.cast(self.gamma, tf.float32), offset=tf.cast(self.beta, tf.float32),
            mean=empty, variance=empty, epsilon=float(self.epsilon),
            exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
        variance = var_unbiased * ((n - 1.0) / tf.maximum(n, 1.0))
        m = float(self.momentum)
        self.moving_mean.assign(self.moving_mean * m + tf.stop_gradient(mean) * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m
                                    + tf.stop_gradient(variance) * (1.0 - m))
        return tf.cast(y, self.compute_dtype)

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.call = types.MethodType(call, layer)
    return model


# --------------------------------------------------------------------------- baselines
def svm_pipeline(*, C=1e4, gamma=1e-3, seed=0):
    """The paper's support-vector machine: standard scaler + RBF SVC(C=1e4, gamma=1e-3).

    ``probability`` is off: Platt scaling would run an internal five-fold
    cross-validation (five more fits), and its probabilities can disagree with the
    decision rule.  :func:`baseline_scores` turns the decision function into a score
    in (0, 1) whose 0.5 threshold is exactly the SVM's own decision.

    Parameters
    ----------
    C, gamma : float, optional
        Regularisation and kernel width (the paper's values by default).
    seed : int, optional
        Random state (used by the solver's shuffling only).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return Pipeline([("scale", StandardScaler()),
                     ("svm", SVC(kernel="rbf", C=C, gamma=gamma, random_state=seed))])


def random_forest_pipeline(*, n_estimators=100, min_samples_split=10, seed=0, n_jobs=None):
    """The paper's random forest: standard scaler + RandomForestClassifier(100, 10).

    The scaler changes nothing for a forest; it is there so that both baselines see the
    same standardised features, as in the paper.

    Parameters
    ----------
    n_estimators, min_samples_split : int, optional
        The paper's values by default.
    seed : int, optional
        Random state of the forest.
    n_jobs : int, optional
        Parallel jobs of the forest (scikit-learn's meaning).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()),
                     ("rf", RandomForestClassifier(n_estimators=n_estimators,
                                                   min_samples_split=min_samples_split,
                                                   random_state=seed, n_jobs=n_jobs))])


def baseline_pipelines(*, seed=0):
    """Both baselines, unfitted: ``{"SVM": ..., "Random forest": ...}`` (Table 2's names)."""
    return {"SVM": svm_pipeline(seed=seed), "Random forest": random_forest_pipeline(seed=seed)}


def baseline_scores(pipeline, features):
    """LSBG scores in [0, 1] of a fitted baseline, for ROC curves and a 0.5 threshold.

    For a classifier with ``predict_proba`` (the forest) this is the probability of
    class 1.  For the SVM it is the logistic function of the decision function: a
    monotonic map, so ROC and AUC are those of the decision function, and score > 0.5
    exactly when the SVM predicts 1.

    Parameters
    ----------
    pipeline : sklearn estimator
        A fitted binary classifier (labels 0 and 1).
    features : array_like or pandas.DataFrame
        (N, n_features).

    Returns
    -------
    numpy.ndarray
        (N,) float64.
    """
    from scipy.special import expit

    classes = list(getattr(pipeline, "classes_", [0, 1]))
    if hasattr(pipeline, "predict_proba"):
        try:
            return np.asarray(pipeline.predict_proba(features))[:, classes.index(1)]
        except AttributeError:  # SVC(probability=False) exposes the method but refuses it
            pass
    d = np.asarray(pipeline.decision_function(features), dtype=float)
    # decision_function is positive for classes_[1]
    return expit(d) if classes[1] == 1 else expit(-d)

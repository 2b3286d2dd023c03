"""The DeepShadows CNN: its architecture and the paper's compilation.

The network (Section 5 and Fig. 2 of Tanoglidis et al. 2021) is built with the Keras
Functional API, because tf-keras-vis (Grad-CAM) needs a Functional model on Keras 3.  Its
layers are named so that Grad-CAM and the architecture figure can find them::

    image -> conv1 -> bn1 -> pool1 -> drop1
          -> conv2 -> bn2 -> pool2 -> drop2
          -> conv3 -> bn3 -> pool3 -> drop3
          -> flatten -> dense1 -> output

Each block is Conv2D (3x3, padding "same", ReLU, L2) -> BatchNormalization ->
MaxPooling 2x2 -> Dropout, the order of the original notebooks; the numbers (filters,
L2 factors, dropout rate, dense units) are :mod:`deepshadows_lib.paper`'s, and with them
the binary model has exactly the paper's 4,220,385 parameters.

Keras is imported inside the functions: importing it starts TensorFlow (seconds), which
the command line's ``--help`` and the numpy-only parts of the library never need.
"""

from .. import paper
from ..paper import PAPER_N_PARAMS
from ..schema import CLASSES, CUTOUT_SHAPE
from .keras_patches import fuse_adadelta, fuse_batch_norm

__all__ = ["PAPER_N_PARAMS", "CLASS_NAMES", "LAYER_NAMES", "LAST_CONV_LAYER",
           "build_deepshadows", "compile_deepshadows"]


#: the three-class target order (``class_index`` of the store): artifact2 = 0, lsbg = 1,
#: artifact1 = 2, so that on the binary problem the label equals the class index
CLASS_NAMES = CLASSES

#: the layer names of :func:`build_deepshadows`, input to output
LAYER_NAMES = ("image", "conv1", "bn1", "pool1", "drop1", "conv2", "bn2", "pool2", "drop2",
               "conv3", "bn3", "pool3", "drop3", "flatten", "dense1", "output")

#: the layer Grad-CAM looks at (the last convolution, Fig. 6)
LAST_CONV_LAYER = "conv3"


def build_deepshadows(n_classes=1, *, input_shape=CUTOUT_SHAPE,
                      learning_rate=paper.LEARNING_RATE, compile=True, head="flatten"):
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
        Adadelta learning rate (the paper: :data:`deepshadows_lib.paper.LEARNING_RATE`).
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
    for k, filters in enumerate(paper.FILTERS, start=1):
        x = layers.Conv2D(filters, (paper.KERNEL_SIZE, paper.KERNEL_SIZE), padding="same",
                          activation="relu", kernel_regularizer=regularizers.L2(paper.CONV_L2),
                          name=f"conv{k}")(x)
        x = layers.BatchNormalization(name=f"bn{k}")(x)
        x = layers.MaxPooling2D(pool_size=(2, 2), name=f"pool{k}")(x)
        x = layers.Dropout(paper.DROPOUT, name=f"drop{k}")(x)
    if head == "flatten":
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(paper.DENSE_UNITS, activation="relu",
                         kernel_regularizer=regularizers.L2(paper.DENSE_L2), name="dense1")(x)
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


def compile_deepshadows(model, *, learning_rate=paper.LEARNING_RATE, jit_compile="auto",
                        fused=True, ema_momentum=None):
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
        of ~15 and batch normalisation in one op instead of ~20
        (:mod:`deepshadows_lib.nn.keras_patches`).  Same arithmetic, to float32
        rounding; bench/ measures the speed-up.  Saved models are unaffected (plain
        Keras layers and optimizer).  Where Keras' internals differ from those the
        patches were written for, Keras' own ops are used, with one warning.
    ema_momentum : float, optional
        Keep an exponential moving average of the weights with this momentum (Keras'
        ``use_ema``; 0.99 averages over the last ~100 steps) and end :meth:`fit` with
        the averaged weights.  A deviation from the paper, which keeps the weights of the
        last step; None (default): the paper.

    Returns
    -------
    keras.Model
        The same model, compiled.
    """
    import keras

    n_out = int(model.output_shape[-1])
    loss = "binary_crossentropy" if n_out == 1 else "categorical_crossentropy"
    averaging = {} if ema_momentum is None else {"use_ema": True,
                                                  "ema_momentum": float(ema_momentum)}
    optimizer = keras.optimizers.Adadelta(learning_rate=float(learning_rate), **averaging)
    if fused:
        fuse_adadelta(optimizer)
        fuse_batch_norm(model)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                  jit_compile=jit_compile)
    return model



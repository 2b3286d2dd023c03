"""The DeepShadows network: architecture, input, training, checkpoints, inference, files.

=================  ==========================================================
``runtime``        TensorFlow's set-up: import, CPU threads, seeds, determinism
``cnn``            the architecture (Section 5, Fig. 2) and its compilation
``fused``          TensorFlow's fused Adadelta and batch-norm kernels
``keras_patches``  every change made to Keras objects, behind a capability probe
``data``           uint8 cutouts, labels, tf.data batches
``training``       fit, train_cnn, fine_tune
``epoch_loop``     fit's epochs in one compiled loop each, bit for bit
``checkpoint``     per-epoch state: a killed training resumes with the same weights
``inference``      the one inference path (folded batch norm), predict
``saving``         save and load ``.keras`` files with their provenance, copy
=================  ==========================================================

The public names of the submodules are re-exported here (``nn.train_cnn``,
``nn.predict``...); :mod:`deepshadows_lib.training` and :mod:`deepshadows_lib.models`
keep the names of earlier versions.  TensorFlow is imported on first use, not here.
"""

from . import (checkpoint, cnn, data, epoch_loop, fused, inference, keras_patches, runtime,
               saving, training)
from .checkpoint import (CHECKPOINT_DIR, TrainingCheckpoint, checkpoint_root,
                         set_checkpoint_root, training_fingerprint)
from .cnn import (CLASS_NAMES, LAST_CONV_LAYER, LAYER_NAMES, PAPER_N_PARAMS,
                  build_deepshadows, compile_deepshadows)
from .data import encode_labels, make_dataset, read_images
from .inference import inference_function, predict
from .keras_patches import fuse_adadelta, fuse_batch_norm, is_patched
from .runtime import available_cpus, configure_threads, set_seed
from .saving import copy_model, load_model, save_model
from .training import fine_tune, fit, train_cnn

__all__ = ["checkpoint", "cnn", "data", "epoch_loop", "fused", "inference", "keras_patches",
           "runtime", "saving", "training",
           "CHECKPOINT_DIR", "TrainingCheckpoint", "checkpoint_root", "set_checkpoint_root",
           "training_fingerprint", "CLASS_NAMES", "LAST_CONV_LAYER", "LAYER_NAMES",
           "PAPER_N_PARAMS", "build_deepshadows", "compile_deepshadows", "encode_labels",
           "make_dataset", "read_images", "inference_function", "predict", "fuse_adadelta",
           "fuse_batch_norm", "is_patched", "available_cpus", "configure_threads",
           "set_seed", "copy_model", "load_model", "save_model", "fine_tune", "fit",
           "train_cnn"]

"""The names of the former ``deepshadows_lib.training``, now in :mod:`deepshadows_lib.nn`.

Training, input, checkpoints, inference and model files moved to the subpackage
:mod:`deepshadows_lib.nn`.  This module re-exports every name that notebooks, tests,
benchmarks and other modules use as ``training.X``, so they keep working; new code
imports from :mod:`deepshadows_lib.nn`.  The command-line jobs ``train_store`` and
``evaluate_store`` moved to :mod:`deepshadows_lib.jobs` and are not re-exported here:
this module sits in the network's layer, below the jobs.
"""

from .nn.checkpoint import (CHECKPOINT_DIR, TrainingCheckpoint, checkpoint_root,
                            set_checkpoint_root, training_fingerprint)
from .nn.data import encode_labels, make_dataset, read_images
from .nn.inference import inference_function, predict
from .nn.runtime import available_cpus, configure_threads, set_seed
from .nn.saving import copy_model, load_model, save_model
from .nn.training import fine_tune, fit, train_cnn

__all__ = ["configure_threads", "set_seed", "read_images", "encode_labels", "make_dataset",
           "train_cnn", "fit", "TrainingCheckpoint", "set_checkpoint_root", "checkpoint_root",
           "training_fingerprint", "predict", "fine_tune", "copy_model", "save_model",
           "load_model", "inference_function", "available_cpus", "CHECKPOINT_DIR"]

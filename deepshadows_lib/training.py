"""The names of the former ``deepshadows_lib.training``, now in :mod:`deepshadows_lib.nn`.

Training, input, checkpoints, inference and model files moved to the subpackage
:mod:`deepshadows_lib.nn`; the command-line jobs ``train_store`` and ``evaluate_store`` to
:mod:`deepshadows_lib.jobs`.  This module re-exports every name that notebooks, tests and
earlier code use as ``training.X``, so they keep working.  New code imports from
:mod:`deepshadows_lib.nn`.
"""

from .jobs import evaluate_store, train_store
from .nn.checkpoint import (CHECKPOINT_DIR, TrainingCheckpoint, checkpoint_root,
                            set_checkpoint_root, training_fingerprint)
from .nn.data import encode_labels, make_dataset, read_images
from .nn.inference import _folded_deepshadows, inference_function, predict  # noqa: F401
from .nn.runtime import available_cpus, configure_threads, set_seed
from .nn.runtime import tf as _tf  # noqa: F401  (predict.py uses both private names)
from .nn.saving import copy_model, load_model, save_model
from .nn.training import fine_tune, fit, train_cnn

__all__ = ["configure_threads", "set_seed", "read_images", "encode_labels", "make_dataset",
           "train_cnn", "fit", "TrainingCheckpoint", "set_checkpoint_root", "checkpoint_root",
           "training_fingerprint", "predict", "fine_tune", "copy_model", "save_model",
           "load_model", "train_store", "evaluate_store", "inference_function",
           "available_cpus", "CHECKPOINT_DIR"]

"""The names of the former ``deepshadows_lib.models``.

The network moved to :mod:`deepshadows_lib.nn` (:mod:`~deepshadows_lib.nn.cnn`, the fused
kernels in :mod:`~deepshadows_lib.nn.keras_patches`), the feature baselines to
:mod:`deepshadows_lib.baselines`.  This module re-exports their names so that
``models.X`` keeps working; new code imports from those modules.
"""

from .baselines import (baseline_pipelines, baseline_scores, random_forest_pipeline,
                        svm_pipeline)
from .nn.cnn import (CLASS_NAMES, LAST_CONV_LAYER, LAYER_NAMES, PAPER_N_PARAMS,
                     build_deepshadows, compile_deepshadows)
from .nn.keras_patches import fuse_adadelta, fuse_batch_norm

__all__ = ["PAPER_N_PARAMS", "CLASS_NAMES", "LAYER_NAMES", "LAST_CONV_LAYER",
           "build_deepshadows", "compile_deepshadows", "fuse_adadelta",
           "fuse_batch_norm", "svm_pipeline",
           "random_forest_pipeline", "baseline_pipelines", "baseline_scores"]

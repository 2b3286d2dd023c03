"""Metrics, ROC curves on a fixed false-positive-rate grid, and bootstrap intervals.

Everything here works on plain arrays of true labels and predicted scores (numpy and
scikit-learn only, no TensorFlow), so the CNN and the feature baselines are evaluated the
same way:

* :func:`binary_metrics` -- accuracy, precision, recall, AUC and the confusion counts at
  a threshold (the paper: 0.5);
* :func:`confusion_matrix`, :func:`reduced_confusion`, :func:`multiclass_metrics` -- the
  three-class problem of Appendix A and its LSBG-vs-artifact reduction (Fig. A11);
* :func:`roc`, :func:`roc_interp` and :data:`FPR_GRID` -- ROC curves interpolated on 200
  evenly spaced false-positive rates so that curves can be overlaid, averaged and banded
  (Figs. 4, 7, 8);
* :func:`bootstrap` -- resampled metrics and ROC curves, vectorised over the resamples
  (Table 3, the bands of Fig. 4);
* :func:`tpr_ratio`, :func:`tpr_ratio_bootstrap` -- the ratio of two models' true-positive
  rates against the false-positive rate (Fig. 9);
* :func:`metrics_table`, :func:`compare_with_paper` and the ``PAPER_*`` constants -- this
  run's numbers in the shape of the paper's tables, beside the paper's.

Conventions: the label 1 is an LSBG (the positive class), 0 an artifact; an object is
predicted positive when its score is strictly above the threshold (``p > 0.5``, which is
also what ``np.round`` and Keras' binary accuracy do away from exact ties).

The package: :mod:`.metrics` (one classifier, one test set), :mod:`.resampling` (bootstrap
and TPR ratios), :mod:`.compare` (tables beside the paper's); layer L1: numpy, pandas and
scikit-learn only, no TensorFlow and nothing above :mod:`deepshadows_lib.paper`.
"""

from ..paper import (PAPER_BOOTSTRAP, PAPER_CONFUSION, PAPER_HSC, PAPER_LABEL_NOISE,
                     PAPER_SEEDS_ACCURACY, PAPER_TABLE2, PAPER_THREE_CLASS_ACCURACY)
from ._counts import FPR_GRID, THRESHOLD_METRICS
from .compare import compare_with_paper, metrics_table
from .metrics import (binary_confusion, binary_metrics, confusion_matrix, multiclass_metrics,
                      reduced_confusion, roc, roc_interp)
from .resampling import (BootstrapResult, bootstrap, bootstrap_indices, tpr_ratio,
                         tpr_ratio_bootstrap)

__all__ = [
    "FPR_GRID", "binary_metrics", "binary_confusion", "confusion_matrix", "reduced_confusion",
    "multiclass_metrics", "roc", "roc_interp", "bootstrap", "bootstrap_indices",
    "BootstrapResult", "tpr_ratio", "tpr_ratio_bootstrap", "metrics_table",
    "compare_with_paper", "PAPER_TABLE2", "PAPER_CONFUSION", "PAPER_BOOTSTRAP",
    "PAPER_SEEDS_ACCURACY", "PAPER_LABEL_NOISE", "PAPER_HSC", "PAPER_THREE_CLASS_ACCURACY",
    "THRESHOLD_METRICS",
]

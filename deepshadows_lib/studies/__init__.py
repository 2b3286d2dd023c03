"""The studies of the paper, as functions that return plain results.

* :func:`baseline_models` -- SVM and random forest on catalog features (Section 4, Table 2);
* :func:`run_random_splits` -- the CNN trained on six random splits (Section 7.1, Table 4);
* :func:`run_label_noise` -- training labels flipped at random or in one direction
  (Section 7.2, Table 5), with :func:`flip_labels` and :func:`scaled_count`;
* :func:`hsc_transfer` -- the DES model on HSC, before and after fine-tuning (Section 6);
* :func:`run_three_class` -- LSBGs vs type-1 vs type-2 artifacts (Appendix A);
* :func:`hsc_feature_cv` -- a check on real data that runs offline: SVM and random forest
  on the HSC catalog measurements, stratified k-fold cross-validation.

The independent trainings of a study (random splits, label-noise conditions) run
concurrently (:func:`map_trainings`): in local processes (``workers``), or on a Dask
cluster when given its scheduler (``scheduler=``, an address such as
``"tcp://10.0.0.5:8786"`` or a ``distributed.Client``), so that the paper profile's
dozen trainings spread over a cluster's nodes or GPUs.  Each training is seeded and
deterministic, so the results equal those of the sequential run on the same machine.

Every result is a dict of numbers and numpy arrays (metrics from
:mod:`deepshadows_lib.evaluate`, ROC curves on :data:`~deepshadows_lib.evaluate.FPR_GRID`,
test labels and predictions, training histories), which :func:`results_frame` turns into
a table and :func:`save_results` into JSON.  Trained Keras models are returned only when
asked (``keep_models=True``) or when they are the point (``hsc_transfer``,
``run_three_class``), under the key ``model``.
"""

from ..paper import PAPER_N_TRAIN
from .cnn import (_noise_conditions, cnn_run, hsc_transfer, run_label_noise,  # noqa: F401
                  run_random_splits, run_three_class)
from .features import baseline_models, hsc_feature_cv
from .labels import DIRECTIONS, evaluate_scores, flip_labels, scaled_count
from .parallel import map_trainings, scheduler_client, train_and_predict, train_many
from .results import load_run, results_frame, save_results

__all__ = ["DIRECTIONS", "PAPER_N_TRAIN", "flip_labels", "scaled_count", "evaluate_scores",
           "train_and_predict", "train_many", "map_trainings", "scheduler_client", "cnn_run",
           "load_run", "baseline_models", "run_random_splits", "run_label_noise",
           "hsc_transfer", "run_three_class", "hsc_feature_cv", "results_frame",
           "save_results"]

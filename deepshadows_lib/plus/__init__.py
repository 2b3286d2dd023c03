"""The ``plus`` recipe: augmented, test-time-augmented, calibrated ensemble of DeepShadows.

On the same data and split as the paper's CNN (whose recipe,
:func:`deepshadows_lib.nn.train_cnn`, stays the default and untouched), ``plus``
adds, one at a time so that the ablation can measure each:

1. **augmentation** -- every training cutout is shown in one of its eight rotations and
   flips, drawn anew each epoch, inside the ``tf.data`` pipeline
   (:func:`deepshadows_lib.augment.augment_dataset`; no interpolation);
2. **test-time augmentation** -- the prediction is the mean over the eight views;
3. **an ensemble** of K networks with independent seeds (``Profile.n_ensemble``, 5 in
   the default profile), their probabilities averaged;
4. **calibration** fitted on the validation set (``Profile.plus_calibration``,
   :func:`fit_calibration`): temperature scaling
   (:func:`deepshadows_lib.calibration.fit_temperature`), Platt scaling -- a temperature
   and a bias (:func:`deepshadows_lib.calibration.fit_platt`) -- or an isotonic map
   (:func:`deepshadows_lib.calibration.fit_isotonic`); the last two also move the
   decisions at 0.5;
5. optionally **a lighter head** (``Profile.plus_head = "gap"``: global average pooling
   instead of Flatten -> Dense 1024), kept only if the ablation says it helps.

The K networks are saved as one Keras model (:func:`combine_members`: input (64, 64, 3),
output (B, K), one probability per member) with a sidecar that records the recipe, the
calibration (temperature and bias) and the test-time augmentation, so that
:class:`deepshadows_lib.predict.Predictor` and ``deepshadows predict`` / ``classify``
reproduce the calibrated probability and its uncertainty from the file alone.

Two modules: :mod:`~deepshadows_lib.plus.ensemble` (the members, their training, the
combined model, the HSC transfer) and :mod:`~deepshadows_lib.plus.analysis` (what each
addition gains, calibration, uncertainty, seeds, Grad-CAM, the targets).  Their names are
re-exported here.
"""

from . import analysis, ensemble
from .analysis import (ablation, ablation_table, calibration_table, gradcam_examples,
                       head_decision, plus_row, reliability_panels, seed_spread, seeds_caption,
                       spread_seeds, targets, uncertainty_table)
from .ensemble import (CALIBRATIONS, PlusModel, combine_members, fit_calibration,
                       hsc_transfer, member_seed, save_plus, train_ensembles, train_member,
                       train_plus)

__all__ = ["member_seed", "train_member", "train_plus", "train_ensembles", "combine_members",
           "PlusModel", "save_plus", "ablation", "ablation_table", "seed_spread", "calibration_table",
           "uncertainty_table", "spread_seeds", "seeds_caption", "head_decision", "hsc_transfer",
           "gradcam_examples", "targets", "reliability_panels", "plus_row", "CALIBRATIONS",
           "fit_calibration",
           "analysis", "ensemble"]

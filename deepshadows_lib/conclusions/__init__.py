"""The paper's conclusions as tests on a run's numbers: the verdict table.

Each claim of the paper becomes a test with a fixed threshold, applied to this run's
numbers; a run that breaks a claim says so (``holds = no``).  The notebooks that hold
the numbers each call a verdict function and :func:`record` the result in the run's
build directory; :func:`verdict_table` puts every claim in one table (claims whose
notebook has not run yet say ``not run``), which the notebooks save as
``figures/conclusions.csv`` and ``.md`` and ``make paper-figures`` checks
(:func:`check_complete`: one verdict per claim; :func:`check_holds`: every claim holds,
or says why not, except in the smoke profile).

The claims (:data:`CLAIMS`), in the paper's order:

=====================  ===============================================================
``cnn_accuracy``       the CNN's accuracy is above the SVM's and the random forest's by
                       at least 5 points (paper: 0.920 vs 0.819 / 0.797)
``cnn_auc``            the CNN's AUC is above both (paper: 0.974 vs 0.894 / 0.872)
``random_splits``      the accuracies of the random splits spread by at most 0.02
                       (paper: 0.912-0.920)
``noise_monotonic``    accuracy and AUC fall monotonically with the fraction of flipped
                       labels (paper: 0.920, 0.918, 0.914, 0.909, 0.883)
``noise_cost``         33 % flipped labels cost at most 0.06 accuracy (paper: 0.037)
``hsc_finetune``       fine-tuning on HSC raises accuracy and AUC (paper: 0.821 -> 0.876,
                       0.902 -> 0.936)
``three_class``        the three-class model, reduced to LSBG vs artifact, is within 0.03
                       of the binary CNN's accuracy (paper: about 0.88 overall)
``gradcam_centre``     Grad-CAM of confident true positives sits on the galaxy: the median
                       share of the map within 12 px of the centre is at least three
                       times that disc's share of the image (paper: Fig. 6)
=====================  ===============================================================

Modules: :mod:`.claims` (the claims and their tests), :mod:`.results` (verdicts from the
studies' results), :mod:`.table` (recording and the table).
"""

from .claims import (CLAIMS, MAP_NAMES, NOT_RUN, Claim, Verdict, cnn_accuracy, cnn_auc,
                     gradcam_centre, gradcam_verdict, hsc_finetune, noise_cost,
                     noise_monotonic, random_splits, three_class)
from .results import (model_verdicts, noise_verdicts, seed_verdict, three_class_verdict,
                      transfer_verdict)
from .table import (MAY_FAIL_PROFILES, check_complete, check_holds, load_records, record,
                    report_verdicts, run_id, verdict_table)

__all__ = ["Claim", "CLAIMS", "Verdict", "cnn_accuracy", "cnn_auc", "random_splits",
           "noise_monotonic", "noise_cost", "hsc_finetune", "three_class", "gradcam_centre",
           "gradcam_verdict", "MAP_NAMES", "model_verdicts", "seed_verdict", "noise_verdicts",
           "transfer_verdict", "three_class_verdict",
           "run_id", "record", "report_verdicts", "load_records", "verdict_table",
           "check_complete", "check_holds", "MAY_FAIL_PROFILES", "NOT_RUN"]

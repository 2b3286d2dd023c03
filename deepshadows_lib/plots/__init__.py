"""One function per figure of the paper (``draw_*``); each returns a matplotlib Figure.

The functions only draw: they take numbers that :mod:`deepshadows_lib.evaluate`,
:mod:`deepshadows_lib.models` and :mod:`deepshadows_lib.gradcam` computed, never train or
resample.  Every function takes ``simulated``: when true (data from the synthetic survey)
the figure carries a visible "SIMULATED DATA" stamp, so that a figure can never be mistaken
for one made from the real survey.

Style follows the paper's figures: serif fonts, inward ticks, dashed grid, the paper's
colours (CNN orange, SVM blue, random forest red).  Modules: :mod:`.curves`,
:mod:`.matrices`, :mod:`.images`; the style in :mod:`._style`.
"""

from ._style import COLORS, LINESTYLES, SIMULATED_TEXT, mark_simulated, style
from .curves import (draw_probability_histogram, draw_reliability_diagram, draw_roc_curves,
                     draw_roc_families, draw_tpr_ratio, draw_training_curves)
from .images import (draw_architecture, draw_cutout_grid, draw_example_cutouts,
                     draw_gradcam_grid, draw_sky_distribution)
from .matrices import draw_confusion_matrices, draw_confusion_matrix, draw_hsc_transfer

__all__ = ["style", "mark_simulated", "draw_cutout_grid", "draw_example_cutouts",
           "draw_architecture", "draw_training_curves", "draw_roc_curves",
           "draw_confusion_matrix", "draw_confusion_matrices", "draw_probability_histogram",
           "draw_gradcam_grid", "draw_roc_families", "draw_tpr_ratio", "draw_sky_distribution",
           "draw_hsc_transfer", "draw_reliability_diagram", "SIMULATED_TEXT"]

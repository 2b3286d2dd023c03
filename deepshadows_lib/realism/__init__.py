"""How real the synthetic survey looks: per-image statistics of cutouts, real vs synthetic.

The only real DES cutouts this project has are the 36 of the paper's Fig. 6
(``Grad_CAM.png``: four blocks of 3x3 cutouts, TN and FP type-2 artifacts, FN and TP
LSBGs).  ``scripts/extract_real_stats.py`` cuts them out of the figure, resamples them
back to 64x64 and writes their statistics (numbers only, no pixels) to
``Datasets/real_cutout_stats.csv``.  This module computes the same statistics on any
(N, 64, 64, 3) uint8 cutouts and compares them with the real ones:

- :func:`image_statistics` -- one row of :data:`STATISTICS` per image;
- :func:`compare` -- the side-by-side table: real median and interquartile range,
  synthetic median and whether it lies inside the real IQR;
- :func:`classifier_auc` -- a cross-validated real-vs-synthetic classifier on the
  statistics (AUC 0.5: indistinguishable on them; 1.0: perfectly separable);
- :func:`realism_report` -- both at once for synthetic cutouts of the figure's classes,
  with the goal (every median inside the real IQR, AUC <= :data:`AUC_GOAL`) and whether
  it is met.

The statistics are chosen to survive the figure's resampling (each 64-pixel cutout is
drawn ~2x larger with nearest-neighbour blocks, which the extraction undoes by sampling
each block at its centre) and are in the 0-255 units of the stored cutouts:

=================  ========================================================================
sky_r/g/b          sky level per channel: median of the pixels more than 20 px from the centre
sky_g_r, sky_b_r   sky colour: sky_g - sky_r, sky_b - sky_r
noise_r/g/b        noise amplitude: robust scatter (1.4826 MAD) of the high-pass image
                   (each pixel minus the mean of its 4 neighbours, scaled to unit gain on
                   white noise)
noise_corr         neighbouring-pixel correlation of the residual sky (image minus a 5x5
                   median), sky pixels only, mean of the channels and both axes
src_density        compact field sources per 1,000 pixel^2 outside the central 10 px:
                   peaks (5x5 maxima, touching equal maxima counted once) of the
                   3x3-smoothed luminance 6 sigma above the sky
src_g_r, src_b_r   colour of those sources at their peak (sky subtracted), median
n_saturated        pixels whose brightest channel is >= 250 (saturated star cores)
bleed_length       longest straight run (row or column) of pixels >= 200 in the brightest
                   channel (bleed trails and spikes of bright stars)
bright_g_r         colour G - R of pixels brighter than 120 (sky subtracted) , median
centre_1/2/3       radial profile of the central object: mean sky-subtracted luminance in
                   r < 3, 3-6 and 6-12 px around the centre
centre_g_r/b_r     colour of the central object: G - R and B - R of the sky-subtracted mean
                   within 6 px
=================  ========================================================================

A statistic that cannot be measured on an image (no compact source, no bright pixel)
is NaN; medians ignore it and the classifier gets a fixed fill value plus the count.
"""

from .classifier import _design, classifier_auc  # noqa: F401  (tests use _design)
from .figure import (FIGURE_LAYOUT, FIGURE_OVERSAMPLE, FIGURE_PANEL_RANGE, FIGURE_PANELS,
                     extract_figure_cutouts, figure_round_trip)
from .report import AUC_GOAL, FIGURE_CLASSES, realism_report
from .statistics import (DECIMALS, REAL_STATS_FILE, SIZE, SOURCE_SIGMA, STATISTICS, compare,
                         image_statistics, load_real_statistics)

__all__ = ["STATISTICS", "DECIMALS", "REAL_STATS_FILE", "image_statistics",
           "load_real_statistics", "compare", "classifier_auc", "realism_report",
           "AUC_GOAL", "FIGURE_CLASSES",
           "extract_figure_cutouts", "FIGURE_LAYOUT", "FIGURE_PANELS", "FIGURE_PANEL_RANGE",
           "FIGURE_OVERSAMPLE", "figure_round_trip", "SIZE", "SOURCE_SIGMA"]

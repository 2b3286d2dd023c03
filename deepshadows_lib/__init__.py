"""DeepShadows: separate low-surface-brightness galaxies from artifacts in survey cutouts.

A runnable companion to Tanoglidis, Ćiprijanović & Drlica-Wagner (2021),
"DeepShadows: Separating Low Surface Brightness Galaxies from Artifacts using Deep
Learning", Astronomy & Computing 35, 100469 (arXiv:2011.12437).

The package is deliberately light to import: TensorFlow is imported only inside the
functions that need it, so ``deepshadows --help``, :mod:`deepshadows_lib.catalogs` and
the simulator start quickly.

Layout
------
The package reads bottom-up like the paper's flow; a module imports only from its own
layer or the layers above it in this list (``tests/test_layers.py`` checks it).

facts        ``errors``, ``_io``, ``schema`` (classes, bands, cutout shape, the predictions
             table), ``paper`` (every number of the paper), ``profiles`` (run sizes)
files        ``catalogs`` (catalogs, labels, the paper's splits), ``store`` (the chunked
             cutout store), ``photometry`` (SourceExtractor-like measurement with sep, the
             selection cuts), ``evaluate/`` (metrics, bootstrap, the paper beside a run),
             ``calibration`` (ECE, Brier score, temperature)
data         ``simulate/`` (the synthetic DES-/HSC-like survey, GalSim), ``cutouts/`` (the
             Legacy Survey viewer client), ``features`` (the paper's 16 features),
             ``baselines`` (SVM, random forest), ``imagefiles``, ``provenance``, ``registry``
network      ``nn/`` (runtime, the CNN, fused kernels and the Keras patches, input, training,
             checkpoints, the one inference path, saving), ``augment``, ``bn_stats``,
             ``gradcam/``, ``occlusion``; ``training`` and ``models`` re-export the names
             of earlier releases
use          ``studies`` (random splits, label noise, HSC, three classes), ``plus/`` (the
             augmented, calibrated ensemble), ``classify/`` (survey-scale classification,
             one process or Dask), ``predict`` (a user's own image files), ``realism``
paper        ``tables`` (the paper's tables beside this run's), ``plots/`` (drawing only),
             ``conclusions/`` (the verdict table), ``manifest`` (provenance of each figure)
runners      ``notebook/`` (papermill runner, the notebooks' session and data),
             ``jobs`` (the command line's train and evaluate jobs), ``cli``
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("deepshadows_lib")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

PAPER = ("Tanoglidis, Ćiprijanović & Drlica-Wagner 2021, Astronomy & Computing 35, "
         "100469, arXiv:2011.12437")

"""DeepShadows: separate low-surface-brightness galaxies from artifacts in survey cutouts.

A runnable companion to Tanoglidis, Ćiprijanović & Drlica-Wagner (2021),
"DeepShadows: Separating Low Surface Brightness Galaxies from Artifacts using Deep
Learning", Astronomy & Computing 35, 100469 (arXiv:2011.12437).

The package is deliberately light to import: TensorFlow is imported only inside the
functions that need it, so ``deepshadows --help``, :mod:`deepshadows_lib.catalogs` and
:mod:`deepshadows_lib.simulate` start quickly.

Modules
-------
catalogs   read and validate the catalogs, labels and the paper's splits
profiles   the run sizes (``smoke``, ``default``, ``paper``)
store      the chunked on-disk cutout store shared by every data source
simulate   the synthetic DES-like / HSC-like survey (GalSim)
features   SourceExtractor-like measurements (sep) with the paper's column names
cutouts    the Legacy Survey viewer client
models     the DeepShadows CNN and the SVM / random-forest baselines
training   tf.data from the store, training, prediction, fine-tuning, saving
studies    the paper's studies: random splits, label noise, HSC transfer, three classes
evaluate   metrics, ROC curves, bootstrap intervals
gradcam    Grad-CAM maps (tf-keras-vis)
classify   survey-scale classification, one process or a Dask cluster
plots      one function per figure of the paper
paper      the paper's tables and figure inputs from the studies' results
manifest   provenance of every figure and table
pipeline   runs the five notebooks with papermill; data preparation for them
cli        the ``deepshadows`` command line
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("deepshadows_lib")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

PAPER = ("Tanoglidis, Ćiprijanović & Drlica-Wagner 2021, Astronomy & Computing 35, "
         "100469, arXiv:2011.12437")

"""Catalogs: read and validate the paper's tables, find the unshippable ones, make splits.

Shipped with the project (``Datasets/``, from the paper's public repository):

* ``Baseline_training.csv``, ``Baseline_validation.csv``, ``Baseline_test.csv`` -- positions
  of the paper's baseline split (30,000 / 5,000 / 5,000; no labels);
* ``hsc_LSBGs.dat`` -- 781 HSC LSBGs of Greco et al. (2018);
* ``hsc_artifacts.csv`` -- 641 HSC artifacts.

Not shippable (never made public): the class catalogs ``random_LSBGs_all.csv``,
``random_negative_all_1.csv`` and ``random_negative_all_2.csv``.  A user who has them puts
them in the data directory (``$DEEPSHADOWS_DATA``, default a per-user cache directory,
see :func:`data_dir`); :func:`load_class_catalog` says exactly where when they are absent.

Every reader validates what it returns: required columns present, numeric and finite,
``0 <= ra < 360`` and ``-90 <= dec <= 90``; duplicated positions are counted in
``df.attrs["duplicates"]`` and reported with a warning.  Bad input raises
:class:`~deepshadows_lib.errors.InputError` with one line naming the file, the line and the
column.

Labels follow the paper: LSBG = 1, artifact = 0.  For the three-class problem
``class_index`` is artifact2 = 0, lsbg = 1, artifact1 = 2, so that on the binary problem
the label equals the class index.

Modules: :mod:`.columns` (what each kind of catalog holds), :mod:`.read` and
:mod:`.validate` (reading with one-line errors), :mod:`.sources` (shipped and user data),
:mod:`.splits` (random and baseline splits).
"""

from .columns import (BANDS, CLASS_COLUMNS, CLASS_FILES, CLASS_INDEX, CLASSES,
                      DATASETS_DIR, DUPLICATE_TOLERANCE_ARCSEC, HSC_ARTIFACT_COLUMNS,
                      HSC_COMMON_FEATURES, HSC_LSBG_COLUMNS, LABELS, MAX_LINE_LENGTH)
from .read import read_catalog
from .sources import (add_labels, data_dir, load_baseline, load_baseline_splits,
                      load_class_catalog, load_class_catalogs, load_hsc_artifacts,
                      load_hsc_features, load_hsc_lsbgs)
from .splits import baseline_split, match_positions, paper_split, random_split, random_splits
from .validate import validate_catalog

__all__ = [
    "DATASETS_DIR", "CLASSES", "CLASS_INDEX", "LABELS", "BANDS", "CLASS_FILES", "CLASS_COLUMNS",
    "MAX_LINE_LENGTH", "DUPLICATE_TOLERANCE_ARCSEC",
    "HSC_LSBG_COLUMNS", "HSC_ARTIFACT_COLUMNS", "HSC_COMMON_FEATURES",
    "read_catalog", "validate_catalog", "data_dir", "load_baseline", "load_baseline_splits",
    "load_hsc_lsbgs", "load_hsc_artifacts", "load_hsc_features", "load_class_catalog",
    "load_class_catalogs", "add_labels", "random_split", "random_splits", "baseline_split",
    "paper_split", "match_positions",
]

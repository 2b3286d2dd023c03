"""Catalog features: the paper's 16 features from SourceExtractor-like columns.

The original DES catalogs (``random_LSBGs_all.csv`` and the two artifact catalogs) carry
SourceExtractor columns; Section 4 of the paper derives 16 features from them.  The same
derivation runs on real class catalogs and on the features that :mod:`.simulate` measures
on its own images (:mod:`.photometry`: sep, SourceExtractor as a library), so the SVM and
random forest code never asks where a catalog came from.

The measurement itself (:func:`measure`, :func:`passes_cuts`, :data:`SELECTION_CUTS`,
:data:`SEXTRACTOR_COLUMNS`) lives in :mod:`.photometry`; the names are re-exported here so
that ``features.measure`` keeps working.
"""

import numpy as np
import pandas as pd

from .errors import InputError
# re-exported: the measurement moved to .photometry (features.measure keeps working)
from .photometry import BANDS, SELECTION_CUTS, SEXTRACTOR_COLUMNS, measure, passes_cuts

__all__ = ["BANDS", "SEXTRACTOR_COLUMNS", "PAPER_FEATURES", "SELECTION_CUTS", "paper_features",
           "measure", "passes_cuts"]

#: the 16 features of the paper, Section 4, in a fixed order
PAPER_FEATURES = (
    ["ellipticity"]
    + [f"mag_auto_{b}" for b in BANDS]
    + ["g_i", "g_r", "r_i"]
    + [f"mu_mean_model_{b}" for b in BANDS]
    + [f"mu_max_model_{b}" for b in BANDS]
    + [f"mu_eff_model_{b}" for b in BANDS]
)

# what each derived feature needs from the raw catalog
_NEEDED = ["A_IMAGE", "B_IMAGE"] + [f"mag_auto_{b}" for b in BANDS] + [
    f"{q}_{b}" for q in ("mu_mean_model", "mu_max_model", "mu_eff_model") for b in BANDS]


def paper_features(catalog, *, path=None):
    """Derive the paper's 16 features from a catalog with SourceExtractor columns.

    Parameters
    ----------
    catalog : pandas.DataFrame
        A catalog with (at least) ``A_IMAGE``, ``B_IMAGE``, ``mag_auto_{g,r,i}`` and
        ``mu_{mean,max,eff}_model_{g,r,i}``: a real class catalog or the catalog of a
        (synthetic or downloaded) store.
    path : str or path-like, optional
        The file the catalog was read from, named in error messages.

    Returns
    -------
    pandas.DataFrame
        Exactly the columns of :data:`PAPER_FEATURES`, in that order, as float64, with
        the index of ``catalog``.  Ellipticity is ``1 - B_IMAGE / A_IMAGE``; colours are
        differences of ``mag_auto``.

    Raises
    ------
    InputError
        If a needed column is missing (the message names it).
    """
    if not isinstance(catalog, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(catalog).__name__}",
                         path=path)
    for col in _NEEDED:
        if col not in catalog.columns:
            raise InputError("catalog lacks a column needed for the paper's features",
                             path=path, column=col)

    def col(name):
        return pd.to_numeric(catalog[name], errors="coerce").astype("float64")

    out = pd.DataFrame(index=catalog.index)
    a, b = col("A_IMAGE"), col("B_IMAGE")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ellipticity"] = 1.0 - b / a
    for band in BANDS:
        out[f"mag_auto_{band}"] = col(f"mag_auto_{band}")
    out["g_i"] = out["mag_auto_g"] - out["mag_auto_i"]
    out["g_r"] = out["mag_auto_g"] - out["mag_auto_r"]
    out["r_i"] = out["mag_auto_r"] - out["mag_auto_i"]
    for q in ("mu_mean_model", "mu_max_model", "mu_eff_model"):
        for band in BANDS:
            out[f"{q}_{band}"] = col(f"{q}_{band}")
    return out[PAPER_FEATURES]

"""The catalogs' columns and kinds, and where the shipped ones live."""

from pathlib import Path

from .. import schema

#: Catalogs shipped with the project (the repository's ``Datasets/``).
DATASETS_DIR = Path(__file__).resolve().parent.parent.parent / "Datasets"

#: Class names, in the order of ``class_index`` for the three-class problem.
CLASSES, CLASS_INDEX, LABELS = schema.CLASSES, schema.CLASS_INDEX, schema.LABELS

#: The original's class catalogs (not public; the user supplies them).
CLASS_FILES = {
    "lsbg": "random_LSBGs_all.csv",
    "artifact1": "random_negative_all_1.csv",
    "artifact2": "random_negative_all_2.csv",
}
BANDS = schema.BANDS
CLASS_COLUMNS = (["coadd_id", "ra", "dec", "A_IMAGE", "B_IMAGE"]
                 + [f"{q}_{b}" for q in ("mag_auto", "flux_radius", "mu_max_model",
                                         "mu_eff_model", "mu_mean_model") for b in BANDS])

#: Columns of ``hsc_LSBGs.dat`` (whitespace separated, no header).  ``m_tot`` is the total
#: g magnitude (m_g in Greco et al. 2018), named as in ``hsc_artifacts.csv``.  The order
#: is read off the data, not the listing in the paper's notes (which puts r_e before the
#: colours): columns 8 and 9 are g-r and g-i (0.05-0.99 and 0.05-1.48, g-i redder as in
#: the artifacts' table), column 10 is r_e in arcsec (2.6"-13.9") with its error after it.
HSC_LSBG_COLUMNS = ["id", "ra", "dec", "mu_0", "mu_0_err", "m_tot", "m_tot_err", "g-r",
                    "g-i", "r_e", "r_e_err", "n", "n_err", "ell", "ell_err", "A_g", "A_r",
                    "A_i"]
HSC_ARTIFACT_COLUMNS = ["ra", "dec", "mu_0", "m_tot", "r_e", "n", "ell", "g-i", "g-r",
                        "A_g", "A_r", "A_i"]
#: Measurements that both HSC tables carry (the real-data feature check).
HSC_COMMON_FEATURES = ["mu_0", "m_tot", "r_e", "n", "ell", "g-i", "g-r"]

# What each kind of catalog must contain, and how it is laid out on disk.
_KINDS = {
    "coordinates": dict(required=["ra", "dec"]),
    "baseline": dict(required=["ra", "dec"], index_col=0),
    "class": dict(required=CLASS_COLUMNS),
    "hsc_lsbgs": dict(required=HSC_LSBG_COLUMNS, whitespace=True, names=HSC_LSBG_COLUMNS),
    "hsc_artifacts": dict(required=HSC_ARTIFACT_COLUMNS),
}

#: Lines longer than this are rejected before parsing (a corrupt or binary file).
MAX_LINE_LENGTH = 100_000
#: Positions closer than this are reported as duplicates (arcsec): repeats of one entry,
#: not close pairs of distinct objects (the paper's files have some 0.1"-0.5" apart).
DUPLICATE_TOLERANCE_ARCSEC = 0.01

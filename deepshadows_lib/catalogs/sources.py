"""The catalogs shipped in ``Datasets/`` and the class catalogs a user supplies."""

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import MissingDataError
from ..schema import CLASS_INDEX, CLASSES, LABELS
from .columns import CLASS_COLUMNS, CLASS_FILES, DATASETS_DIR, HSC_COMMON_FEATURES
from .read import read_catalog

def _shipped(name):
    path = DATASETS_DIR / name
    if not path.exists():
        raise MissingDataError(f"shipped catalog missing from the project's Datasets/ "
                               f"directory (reinstall or re-clone)", path=path)
    return path


def load_baseline(split):
    """Positions of one split of the paper's baseline split.

    Parameters
    ----------
    split : {"training", "validation", "test"}

    Returns
    -------
    pandas.DataFrame
        Columns ra, dec (30,000, 5,000 and 5,000 rows).
    """
    if split not in ("training", "validation", "test"):
        raise ValueError(f"split must be training, validation or test, not {split!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the paper's files repeat some positions
        return read_catalog(_shipped(f"Baseline_{split}.csv"), kind="baseline")


def load_baseline_splits():
    """The three baseline splits as a dict ``{"training": df, "validation": df, "test": df}``."""
    return {s: load_baseline(s) for s in ("training", "validation", "test")}


def load_hsc_lsbgs():
    """The 781 HSC LSBGs of Greco et al. (2018) (columns :data:`HSC_LSBG_COLUMNS`)."""
    return read_catalog(_shipped("hsc_LSBGs.dat"), kind="hsc_lsbgs")


def load_hsc_artifacts():
    """The 641 HSC artifacts (columns :data:`HSC_ARTIFACT_COLUMNS`)."""
    return read_catalog(_shipped("hsc_artifacts.csv"), kind="hsc_artifacts")


def load_hsc_features():
    """The real HSC measurements of both classes, for the feature-based check.

    Returns
    -------
    X : pandas.DataFrame
        The :data:`HSC_COMMON_FEATURES` (mu_0, m_tot, r_e, n, ell, g-i, g-r).
    y : numpy.ndarray
        1 for the 781 LSBGs, 0 for the 641 artifacts.
    """
    lsbg, art = load_hsc_lsbgs(), load_hsc_artifacts()
    X = pd.concat([lsbg[HSC_COMMON_FEATURES], art[HSC_COMMON_FEATURES]], ignore_index=True)
    y = np.concatenate([np.ones(len(lsbg), int), np.zeros(len(art), int)])
    return X, y


# --------------------------------------------------------------------------- user data
def data_dir():
    """Directory where the user's own data live.

    ``$DEEPSHADOWS_DATA`` when set, otherwise the per-user cache directory
    (``~/.cache/deepshadows`` on Linux, ``~/Library/Caches/deepshadows`` on macOS).
    """
    env = os.environ.get("DEEPSHADOWS_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("deepshadows", appauthor=False))


def load_class_catalog(name, *, directory=None):
    """Load one of the original's class catalogs from the data directory.

    Parameters
    ----------
    name : {"lsbg", "artifact1", "artifact2"}
        ``random_LSBGs_all.csv``, ``random_negative_all_1.csv`` or
        ``random_negative_all_2.csv``.
    directory : str or path-like, optional
        Where to look; default :func:`data_dir`.

    Returns
    -------
    pandas.DataFrame
        The validated catalog with ``label``, ``class_name`` and ``class_index`` added.

    Raises
    ------
    MissingDataError
        When the file is absent: the message names the file and the exact path to put it.
    """
    if name not in CLASS_FILES:
        raise ValueError(f"class must be one of {', '.join(CLASS_FILES)}, not {name!r}")
    directory = Path(directory) if directory is not None else data_dir()
    path = directory / CLASS_FILES[name]
    if not path.exists():
        raise MissingDataError(
            f"the original DeepShadows catalog {CLASS_FILES[name]} is not public and cannot "
            f"be shipped: put your copy (columns {', '.join(CLASS_COLUMNS[:5])}, ...) at "
            f"{path}, or set DEEPSHADOWS_DATA to the directory that holds it", path=path)
    return add_labels(read_catalog(path, kind="class"), name)


def load_class_catalogs(classes=("lsbg", "artifact2"), *, directory=None):
    """Concatenate class catalogs in the paper's order (LSBGs first), with labels."""
    parts = [load_class_catalog(c, directory=directory) for c in classes]
    return pd.concat(parts, ignore_index=True)


def add_labels(df, class_name):
    """Return ``df`` with ``label`` (LSBG = 1, artifact = 0), ``class_name`` and ``class_index``."""
    if class_name not in CLASS_INDEX:
        raise ValueError(f"unknown class {class_name!r}; choose one of {', '.join(CLASSES)}")
    out = df.copy()
    out["label"] = LABELS[class_name]
    out["class_name"] = class_name
    out["class_index"] = CLASS_INDEX[class_name]
    return out

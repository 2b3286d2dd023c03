"""Training, validation and test splits: random ones, and the paper's baseline split."""

import numpy as np
import pandas as pd

from ..errors import InputError
from ..paper import SEEDS
from .sources import load_baseline_splits

def _n_of(data):
    if isinstance(data, (int, np.integer)):
        return int(data)
    return len(data)


def random_split(data, *, seed, test_size=0.25, validation_size=0.5):
    """The paper's random split: ``train_test_split(test_size=0.25)``, then the held-out
    part split 50/50 into validation and test, with the same ``random_state``.

    Parameters
    ----------
    data : int or sized
        Number of objects, or anything with a length (a catalog, an array).
    seed : int
        ``random_state`` of both calls (the paper: 1, 3, 18, 33, 42, 96).
    test_size : float, optional
        Fraction held out from training.
    validation_size : float, optional
        Fraction of the held-out part that becomes the validation set.

    Returns
    -------
    dict
        ``{"train": idx, "validation": idx, "test": idx}``, integer index arrays into
        ``data``; for 40,000 objects 30,000 / 5,000 / 5,000.
    """
    from sklearn.model_selection import train_test_split
    n = _n_of(data)
    idx = np.arange(n)
    train, rest = train_test_split(idx, test_size=test_size, random_state=seed)
    val, test = train_test_split(rest, test_size=1 - validation_size, random_state=seed)
    return {"train": train, "validation": val, "test": test}


def random_splits(data, *, seeds=SEEDS, **kwargs):
    """:func:`random_split` for each seed: ``{seed: split}``."""
    return {s: random_split(data, seed=s, **kwargs) for s in seeds}


def match_positions(ra1, dec1, ra2, dec2, *, tolerance_arcsec=1.0):
    """One-to-one positional match of two lists of positions.

    Pairs closer than the tolerance are taken closest first, each position used at most
    once, so that repeated positions (the paper's files have some) pair up one by one.

    Returns
    -------
    i1, i2 : numpy.ndarray
        Indices into the first and second list of the matched pairs.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky
    c1 = SkyCoord(np.asarray(ra1, float) * u.deg, np.asarray(dec1, float) * u.deg)
    c2 = SkyCoord(np.asarray(ra2, float) * u.deg, np.asarray(dec2, float) * u.deg)
    i1, i2, sep, _ = search_around_sky(c1, c2, tolerance_arcsec * u.arcsec)
    order = np.lexsort((i2, i1, sep.arcsec))
    used1 = np.zeros(len(c1), bool)
    used2 = np.zeros(len(c2), bool)
    keep = []
    for k in order:  # greedy, closest first; loops only over candidate pairs
        a, b = i1[k], i2[k]
        if not used1[a] and not used2[b]:
            used1[a] = used2[b] = True
            keep.append(k)
    keep = np.asarray(keep, dtype=int)
    return i1[keep], i2[keep]


def baseline_split(catalog, *, tolerance_arcsec=1.0, baseline=None):
    """The paper's baseline split of a catalog, by position.

    Each row of ``Baseline_{training,validation,test}.csv`` is matched one to one with a
    row of ``catalog`` within the tolerance.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Must have ra and dec (for the paper: the LSBG and type-2 artifact class catalogs
        concatenated).
    tolerance_arcsec : float, optional
        Matching radius.
    baseline : dict, optional
        ``{"training": df, "validation": df, "test": df}``; default the shipped files.

    Returns
    -------
    dict
        ``{"train": idx, "validation": idx, "test": idx}`` index arrays into ``catalog``
        (sorted), and ``"unmatched"``: the number of baseline rows without a partner.

    Raises
    ------
    InputError
        When no position matches (a catalog that is not the paper's, e.g. a synthetic
        survey: use :func:`paper_split`).
    """
    baseline = baseline or load_baseline_splits()
    names = {"training": "train", "validation": "validation", "test": "test"}
    ra_b = np.concatenate([baseline[s]["ra"].to_numpy(float) for s in names])
    dec_b = np.concatenate([baseline[s]["dec"].to_numpy(float) for s in names])
    which = np.concatenate([np.full(len(baseline[s]), k) for k, s in enumerate(names)])
    ib, ic = match_positions(ra_b, dec_b, catalog["ra"], catalog["dec"],
                             tolerance_arcsec=tolerance_arcsec)
    if len(ib) == 0:
        raise InputError("no position matches the paper's baseline split within "
                         f"{tolerance_arcsec}\" (not the paper's objects?)",
                         path=catalog.attrs.get("path", "catalog"))
    out = {key: np.sort(ic[which[ib] == k]) for k, key in enumerate(names.values())}
    out["unmatched"] = int(len(ra_b) - len(ib))
    return out


def paper_split(catalog, *, seed=None, tolerance_arcsec=1.0):
    """The split a notebook should use for ``catalog``.

    The baseline split when the catalog holds the paper's objects (every baseline
    position matched), otherwise -- a synthetic survey, another sample -- the paper's
    random split with ``seed`` (default 42) in the same 75 / 12.5 / 12.5 proportions.

    Returns
    -------
    dict
        As :func:`random_split`, plus ``"kind"``: ``"baseline"`` or ``"random"``.
    """
    if not catalog.get("simulated", pd.Series([False])).astype(bool).any():
        try:
            split = baseline_split(catalog, tolerance_arcsec=tolerance_arcsec)
            if split["unmatched"] == 0:
                split["kind"] = "baseline"
                return split
        except InputError:
            pass
    split = random_split(catalog, seed=42 if seed is None else seed)
    split["kind"] = "random"
    return split

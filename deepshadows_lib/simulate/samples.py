"""The real samples the synthetic objects are resampled from.

The HSC LSBGs of Greco et al. (2018) and the HSC artifacts give the structure and
colours of the diffuse components; the DES baseline splits (or the HSC fields) give the
positions on the sky.
"""

import functools

import pandas as pd

from .. import catalogs


@functools.lru_cache(maxsize=None)
def _hsc_lsbgs():
    """Structure and colours of the HSC LSBGs (Greco et al. 2018)."""
    df = catalogs.load_hsc_lsbgs()
    cols = {"mu_0": "mu_0", "r_e": "r_e", "n": "n", "ell": "ell",
            "g-i": "g_i", "g-r": "g_r", "ra": "ra", "dec": "dec"}
    df = df.rename(columns=cols)[list(cols.values())]
    return df.dropna().reset_index(drop=True)


@functools.lru_cache(maxsize=None)
def _hsc_artifacts():
    """Structure and colours of the HSC artifacts."""
    df = catalogs.load_hsc_artifacts()
    df = df.rename(columns={"g-i": "g_i", "g-r": "g_r"})
    return df[["ra", "dec", "mu_0", "r_e", "n", "ell", "g_i", "g_r"]].dropna().reset_index(
        drop=True)


@functools.lru_cache(maxsize=None)
def _footprint(survey):
    """Positions to resample for ra/dec: the DES baseline splits, or the HSC field."""
    if survey == "des":
        files = sorted(catalogs.DATASETS_DIR.glob("Baseline_*.csv"))
        if files:
            pos = pd.concat([pd.read_csv(f, usecols=["ra", "dec"]) for f in files])
            return pos.to_numpy(dtype=float)
    pos = pd.concat([_hsc_lsbgs()[["ra", "dec"]], _hsc_artifacts()[["ra", "dec"]]])
    return pos.to_numpy(dtype=float)


@functools.lru_cache(maxsize=None)
def _catalog_rows(source):
    """(mu_0, r_e, n, ell, g_i, g_r) of each catalog entry as tuples of floats.

    Plain tuples: indexing a DataFrame row per object costs more than the rest of the
    parameter draw.
    """
    cat = _hsc_lsbgs() if source == "lsbg" else _hsc_artifacts()
    cols = ["mu_0", "r_e", "n", "ell", "g_i", "g_r"]
    return [tuple(float(v) for v in r) for r in cat[cols].to_numpy(dtype=float)]

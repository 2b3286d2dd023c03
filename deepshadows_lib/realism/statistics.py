"""The per-image statistics of a cutout, and the real ones beside synthetic ones."""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import schema
from ..errors import InputError


#: the statistics of :func:`image_statistics`, in table order
STATISTICS = ["sky_r", "sky_g", "sky_b", "sky_g_r", "sky_b_r", "noise_r", "noise_g", "noise_b",
              "noise_corr", "src_density", "src_g_r", "src_b_r", "n_saturated", "bleed_length",
              "bright_g_r", "centre_1", "centre_2", "centre_3", "centre_g_r", "centre_b_r"]

#: the shipped statistics of the 36 real DES cutouts of the paper's Fig. 6
REAL_STATS_FILE = (Path(__file__).resolve().parent.parent.parent / "Datasets"
                   / "real_cutout_stats.csv")

#: Decimals of every statistic, in the shipped file and as measured.
DECIMALS = 4

SIZE = schema.CUTOUT_SIZE
_Y, _X = np.mgrid[0:SIZE, 0:SIZE]
_R = np.hypot(_X - (SIZE - 1) / 2, _Y - (SIZE - 1) / 2)
_OUTER = _R > 20
_CENTRE = [(_R < 3), (_R >= 3) & (_R < 6), (_R >= 6) & (_R < 12)]
_CORE = _R < 6
_FIELD = _R >= 10
#: thresholds in 0-255 units
SATURATED, BLEED, BRIGHT = 250, 200, 120
SOURCE_SIGMA = 6.0


def _high_pass(x):
    """Each pixel minus the mean of its 4 neighbours (edges reflected), unit gain on white noise."""
    p = np.pad(x, 1, mode="reflect")
    nb = 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
    return (x - nb) / math.sqrt(1.25)


def _robust_sigma(v):
    v = v[np.isfinite(v)]
    if not v.size:
        return float("nan")
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def _longest_run(mask):
    """Longest straight run of True along rows or columns."""
    best = 0
    for m in (mask, mask.T):
        if not m.any():
            continue
        for row in m:
            if not row.any():
                continue
            r = np.concatenate([[0], row.astype(int), [0]])
            d = np.diff(r)
            starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
            best = max(best, int((ends - starts).max()))
    return best


def _one(img):
    from scipy import ndimage
    x = img.astype(np.float64)
    out = {}
    sky = np.median(x[_OUTER], axis=0)                      # (3,)
    for j, ch in enumerate("rgb"):
        out[f"sky_{ch}"] = float(sky[j])
    out["sky_g_r"] = float(sky[1] - sky[0])
    out["sky_b_r"] = float(sky[2] - sky[0])
    hp = np.stack([_high_pass(x[..., j]) for j in range(3)], axis=-1)
    noise = np.array([_robust_sigma(hp[..., j]) for j in range(3)])
    for j, ch in enumerate("rgb"):
        out[f"noise_{ch}"] = float(noise[j])
    # sky pixels: no channel far above its sky level
    lum = x.mean(axis=-1)
    lum_sky = float(np.median(lum[_OUTER]))
    lum_sig = max(_robust_sigma(_high_pass(lum)), 0.5)
    skymask = lum < lum_sky + 3.0 * lum_sig
    corrs = []
    for j in range(3):
        res = x[..., j] - ndimage.median_filter(x[..., j], size=5, mode="reflect")
        for a, b, ma, mb in ((res[:, 1:], res[:, :-1], skymask[:, 1:], skymask[:, :-1]),
                             (res[1:], res[:-1], skymask[1:], skymask[:-1])):
            m = ma & mb
            if m.sum() > 50:
                u, v = a[m] - a[m].mean(), b[m] - b[m].mean()
                den = math.sqrt(float((u * u).sum() * (v * v).sum()))
                if den > 0:
                    corrs.append(float((u * v).sum()) / den)
    out["noise_corr"] = float(np.mean(corrs)) if corrs else float("nan")
    # compact sources: peaks of the smoothed luminance well above the sky
    sm = ndimage.uniform_filter(lum, size=3, mode="reflect")
    sm_sig = lum_sig / 3.0 * math.sqrt(1.25)    # 3x3 mean of (nearly) white noise
    peaks = (sm == ndimage.maximum_filter(sm, size=5, mode="reflect")) & (
        sm > lum_sky + SOURCE_SIGMA * max(sm_sig, 1.0)) & _FIELD
    # a flat top (a saturated disc or trail) has many equal maxima: one source each
    lab, nlab = ndimage.label(peaks, structure=np.ones((3, 3)))
    if nlab:
        first = ndimage.minimum_position(np.arange(lab.size).reshape(lab.shape), lab,
                                         np.arange(1, nlab + 1))
        iy, ix = (np.array(v, int) for v in zip(*first))
    else:
        iy = ix = np.zeros(0, int)
    out["src_density"] = 1000.0 * len(iy) / float(_FIELD.sum())
    if len(iy):
        col = x[iy, ix] - sky
        out["src_g_r"] = float(np.median(col[:, 1] - col[:, 0]))
        out["src_b_r"] = float(np.median(col[:, 2] - col[:, 0]))
    else:
        out["src_g_r"] = out["src_b_r"] = float("nan")
    top = x.max(axis=-1)
    out["n_saturated"] = float((top >= SATURATED).sum())
    out["bleed_length"] = float(_longest_run(top >= BLEED))
    bright = (x - sky).mean(axis=-1) > BRIGHT
    if bright.any():
        col = x[bright] - sky
        out["bright_g_r"] = float(np.median(col[:, 1] - col[:, 0]))
    else:
        out["bright_g_r"] = float("nan")
    lum_sub = lum - lum_sky
    for j, m in enumerate(_CENTRE):
        out[f"centre_{j + 1}"] = float(lum_sub[m].mean())
    core = (x[_CORE] - sky).mean(axis=0)
    out["centre_g_r"] = float(core[1] - core[0])
    out["centre_b_r"] = float(core[2] - core[0])
    return out


def image_statistics(images):
    """Per-image statistics (:data:`STATISTICS`) of 64x64 colour cutouts.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 64, 64, 3) uint8 cutouts (RGB = z, r, g as the viewer maps them).

    Returns
    -------
    pandas.DataFrame
        One row per image, columns :data:`STATISTICS`.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (SIZE, SIZE, 3):
        raise InputError(f"expected (N, {SIZE}, {SIZE}, 3) cutouts, got {images.shape}")
    rows = [_one(im) for im in images]
    # at the precision of the shipped real statistics: a classifier must not tell the
    # two sets apart by their number of digits (1.5873 against 1.5873015...)
    return pd.DataFrame(rows, columns=STATISTICS).round(DECIMALS)


def load_real_statistics(path=REAL_STATS_FILE):
    """The shipped statistics of the real cutouts (one row per cutout, with its class).

    Parameters
    ----------
    path : str or path-like
        Written by ``scripts/extract_real_stats.py``.

    Returns
    -------
    pandas.DataFrame
        Columns ``class_name``, ``group`` (TN, FP, FN, TP), ``row``, ``col`` and
        :data:`STATISTICS` (floats; empty cells NaN).

    Raises
    ------
    InputError
        The file is missing, lacks a column, or holds a value that is not a number
        (named by line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("real cutout statistics not found; run scripts/extract_real_stats.py",
                         path=path)
    df = pd.read_csv(path, comment="#")
    missing = [c for c in ["class_name"] + STATISTICS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    # a value that is not a number: named here, not met later inside compare()
    first = _first_data_line(path)
    for s in STATISTICS:
        values = pd.to_numeric(df[s], errors="coerce")
        bad = values.isna() & df[s].notna()
        if bad.any():
            k = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{df[s].iloc[k]!r} is not a number", path=path,
                             row=first + k, column=s)
        df[s] = values.astype(float)
    return df


def _first_data_line(path):
    """1-based line number of the first data row (after the comment lines and header)."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.startswith("#"):
                return n + 1
    return 1


def compare(real, synthetic):
    """Side-by-side table of each statistic: real median and IQR vs synthetic median.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Per-image statistics (:func:`image_statistics`, :func:`load_real_statistics`).

    Returns
    -------
    pandas.DataFrame
        Index :data:`STATISTICS`; columns ``real_q25``, ``real_median``, ``real_q75``,
        ``synthetic_median``, ``synthetic_q25``, ``synthetic_q75``, ``inside_iqr``
        (the synthetic median within the real interquartile range, ends included).
    """
    rows = {}
    for s in STATISTICS:
        r = real[s].dropna().to_numpy(float)
        y = synthetic[s].dropna().to_numpy(float)
        rq = np.percentile(r, [25, 50, 75]) if r.size else [np.nan] * 3
        yq = np.percentile(y, [25, 50, 75]) if y.size else [np.nan] * 3
        rows[s] = {"real_q25": rq[0], "real_median": rq[1], "real_q75": rq[2],
                   "synthetic_median": yq[1], "synthetic_q25": yq[0], "synthetic_q75": yq[2],
                   "inside_iqr": bool(rq[0] <= yq[1] <= rq[2])}
    return pd.DataFrame.from_dict(rows, orient="index")

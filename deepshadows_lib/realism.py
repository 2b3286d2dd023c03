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
- :func:`realism_report` -- both at once for synthetic cutouts of the figure's classes.

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

import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from .errors import InputError

__all__ = ["STATISTICS", "REAL_STATS_FILE", "image_statistics", "load_real_statistics",
           "compare", "classifier_auc", "realism_report", "extract_figure_cutouts",
           "FIGURE_LAYOUT", "figure_round_trip"]

#: the statistics of :func:`image_statistics`, in table order
STATISTICS = ["sky_r", "sky_g", "sky_b", "sky_g_r", "sky_b_r", "noise_r", "noise_g", "noise_b",
              "noise_corr", "src_density", "src_g_r", "src_b_r", "n_saturated", "bleed_length",
              "bright_g_r", "centre_1", "centre_2", "centre_3", "centre_g_r", "centre_b_r"]

#: the shipped statistics of the 36 real DES cutouts of the paper's Fig. 6
REAL_STATS_FILE = Path(__file__).resolve().parent.parent / "Datasets" / "real_cutout_stats.csv"

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
    return pd.DataFrame(rows, columns=STATISTICS)


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
        :data:`STATISTICS`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("real cutout statistics not found; run scripts/extract_real_stats.py",
                         path=path)
    df = pd.read_csv(path, comment="#")
    missing = [c for c in ["class_name"] + STATISTICS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    return df


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


def _design(df):
    """Statistics as a feature matrix: NaN filled with a value outside their range, plus flags."""
    X = df[STATISTICS].to_numpy(float)
    miss = np.isnan(X)
    X = np.where(miss, -999.0, X)
    flags = miss[:, miss.any(axis=0)].astype(float)
    return np.hstack([X, flags]) if flags.size else X


def classifier_auc(real, synthetic, *, folds=5, repeats=8, seed=0):
    """Cross-validated AUC of a random forest telling real from synthetic cutouts.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        Per-image statistics.
    folds, repeats : int
        Stratified k-fold cross-validation, repeated with reshuffled folds, rows and
        forests (one repetition alone scatters by ~0.03 on 36 real images).
    seed : int

    Returns
    -------
    dict
        ``auc`` (mean over repetitions of the out-of-fold AUC), ``auc_std`` (their
        scatter), ``n_real``, ``n_synthetic``, ``repeats``.  With 36 real images the AUC is uncertain
        by ~0.05; it can show that the statistics separate the two sets, not that no
        other statistic would.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    X = _design(pd.concat([real[STATISTICS], synthetic[STATISTICS]], ignore_index=True))
    y = np.r_[np.ones(len(real)), np.zeros(len(synthetic))]
    aucs = []
    for rep in range(repeats):
        # the forest's result depends on the order of the rows: a new order each time
        perm = np.random.default_rng([seed, rep]).permutation(len(y))
        Xp, yp = X[perm], y[perm]
        p = np.zeros(len(y))
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + rep)
        for tr, te in skf.split(Xp, yp):
            clf = RandomForestClassifier(n_estimators=200, min_samples_leaf=3,
                                         class_weight="balanced", random_state=seed + rep,
                                         n_jobs=1)
            p[te] = clf.fit(Xp[tr], yp[tr]).predict_proba(Xp[te])[:, 1]
        aucs.append(roc_auc_score(yp, p))
    return {"auc": float(np.mean(aucs)), "auc_std": float(np.std(aucs)),
            "n_real": int(len(real)), "n_synthetic": int(len(synthetic)),
            "repeats": int(repeats)}


#: the figure's drawing of a cutout: nearest-neighbour blocks at FIGURE_OVERSAMPLE times
#: the panel size, reduced with a Lanczos filter to the panel's pixels in the published
#: PNG (130 to 132 px, taken in turn)
FIGURE_PANELS, FIGURE_OVERSAMPLE = (131, 130, 132), 4
#: sub-pixel positions (in figure pixels) of a panel on the figure's grid, in turn
FIGURE_PHASES = (0.0, 0.2, -0.2)


def figure_round_trip(images, *, panels=FIGURE_PANELS, oversample=FIGURE_OVERSAMPLE):
    """Pass cutouts through the paper's figure and back, as the real ones were.

    The real cutouts are known only as drawn in Fig. 6 (~131 px per 64-px cutout).  Its
    panels are not clean nearest-neighbour blocks: 4.5% of horizontally neighbouring
    pixels are equal (a nearest-neighbour drawing: ~52%), and the neighbouring-pixel
    correlations of a panel are 0.79, 0.48, 0.39, 0.38 at lags 1-4.  A nearest-neighbour
    drawing at ``oversample`` times the panel size reduced with PIL's Lanczos filter
    gives 5.8% and 0.76, 0.46, 0.37, 0.33 on synthetic cutouts, and its slight
    sharpening is what makes the real noise anti-correlated after extraction.  The same
    extraction as :func:`extract_figure_cutouts` (nearest, block centres) follows.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 64, 64, 3) uint8.
    panels : sequence of int
        Panel sizes in the figure, used in turn (image k gets ``panels[k % len]``),
        each at the sub-pixel phases :data:`FIGURE_PHASES` in turn.
    oversample : int

    Returns
    -------
    numpy.ndarray
        (N, 64, 64, 3) uint8.
    """
    from PIL import Image
    out = np.empty_like(np.asarray(images))
    for k, im in enumerate(images):
        panel = panels[k % len(panels)]
        big = panel * oversample
        x = np.asarray(Image.fromarray(np.asarray(im)).resize((big, big), Image.NEAREST))
        # where the panel falls on the figure's pixel grid: a sub-pixel phase, in turn
        pad = oversample
        x = Image.fromarray(np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
        d = pad + FIGURE_PHASES[(k // len(panels)) % len(FIGURE_PHASES)] * oversample
        x = x.resize((panel, panel), Image.LANCZOS, box=(d, d, d + big, d + big))
        out[k] = np.asarray(x.resize((SIZE, SIZE), Image.NEAREST))
    return out


def realism_report(images, catalog=None, *, real=None, seed=0, round_trip=True):
    """The side-by-side table and the classifier AUC for synthetic cutouts.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 64, 64, 3) synthetic cutouts, of the figure's classes (LSBGs and type-2
        artifacts, best in equal numbers).
    catalog : pandas.DataFrame, optional
        Unused except for its length check (kept for symmetry with stores).
    real : pandas.DataFrame, optional
        Real statistics; default: the shipped file.
    seed : int
    round_trip : bool
        Measure the synthetic cutouts after :func:`figure_round_trip`, as the real ones
        were measured (the default; False measures them as stored).

    Returns
    -------
    dict
        ``table`` (:func:`compare`), ``auc`` (:func:`classifier_auc`), ``synthetic``
        (the per-image statistics) and ``real``.
    """
    if catalog is not None and len(catalog) != len(images):
        raise InputError(f"{len(images)} images but {len(catalog)} catalog rows")
    real = load_real_statistics() if real is None else real
    syn = image_statistics(figure_round_trip(images) if round_trip else images)
    return {"table": compare(real, syn), "auc": classifier_auc(real, syn, seed=seed),
            "synthetic": syn, "real": real}


# --------------------------------------------------------------------------- the figure
#: the paper's Fig. 6 (Grad_CAM.png, 1716x950): the four blocks of cutouts (not the
#: Grad-CAM maps beside them), their class and the CNN's verdict
FIGURE_LAYOUT = (("TN", "artifact2", 0, 0), ("FN", "lsbg", 0, 1),
                 ("FP", "artifact2", 1, 0), ("TP", "lsbg", 1, 1))


def _runs(profile, threshold):
    on = profile > threshold
    runs, start = [], None
    for i, v in enumerate(on):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(on)))
    return runs


def extract_figure_cutouts(path):
    """Cut the 36 real cutouts out of the paper's Fig. 6 and resample them to 64x64.

    The panels are found as the non-white boxes of the figure (12 columns, 6 rows);
    columns 1-3 and 7-9 hold the cutouts, the others their Grad-CAM maps.  Each panel
    (~131 px, the 64-px cutout drawn with nearest-neighbour blocks) is resampled by
    taking the pixel at the centre of each block (PIL ``NEAREST``), which gives back the
    stored pixels up to the figure's own rounding.

    Parameters
    ----------
    path : str or path-like
        ``Grad_CAM.png`` of the paper.

    Returns
    -------
    images : numpy.ndarray
        (36, 64, 64, 3) uint8.
    meta : pandas.DataFrame
        ``group``, ``class_name``, ``row``, ``col`` of each cutout.
    """
    from PIL import Image
    path = Path(path)
    try:
        fig = Image.open(path).convert("RGB")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the figure: {exc}", path=path) from None
    a = np.asarray(fig)
    ink = a.min(axis=2) < 235
    cols = [r for r in _runs(ink.mean(axis=0), 0.3) if r[1] - r[0] > 60]
    rows = [r for r in _runs(ink.mean(axis=1), 0.3) if r[1] - r[0] > 60]
    if len(cols) != 12 or len(rows) != 6:
        raise InputError(f"expected 12 columns and 6 rows of panels, found {len(cols)} and "
                         f"{len(rows)}: not the paper's Fig. 6", path=path)
    images, meta = [], []
    for group, cls, brow, bcol in FIGURE_LAYOUT:
        for i in range(3):
            for j in range(3):
                y0, y1 = rows[3 * brow + i]
                x0, x1 = cols[6 * bcol + j]
                panel = fig.crop((x0, y0, x1, y1)).resize((SIZE, SIZE), Image.NEAREST)
                images.append(np.asarray(panel))
                meta.append({"group": group, "class_name": cls, "row": i, "col": j})
    return np.stack(images), pd.DataFrame(meta)

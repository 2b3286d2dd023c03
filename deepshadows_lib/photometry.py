"""SourceExtractor-like photometry of a cutout with sep, and the LSBG candidate selection.

The original DES class catalogs carry SourceExtractor columns (:data:`SEXTRACTOR_COLUMNS`);
:func:`measure` produces the same columns on an image (sep is SourceExtractor as a
library), and :func:`passes_cuts` applies the catalog cuts of the DES LSBG candidate
selection (:data:`SELECTION_CUTS`).  :mod:`.simulate` measures its own images with it;
:mod:`.features` derives the paper's 16 features from these columns.
"""

import math

import numpy as np
# sep imports in ~10 ms: at the top, although only measure() needs it
import sep

from . import schema

__all__ = ["BANDS", "SEXTRACTOR_COLUMNS", "SELECTION_CUTS", "measure", "passes_cuts"]

#: bands of the catalog features (the cutouts are g, r, z; the catalogs g, r, i)
BANDS = schema.BANDS

#: the raw columns of the original class catalogs, in their order
SEXTRACTOR_COLUMNS = (
    ["A_IMAGE", "B_IMAGE"]
    + [f"mag_auto_{b}" for b in BANDS]
    + [f"flux_radius_{b}" for b in BANDS]
    + [f"mu_max_model_{b}" for b in BANDS]
    + [f"mu_eff_model_{b}" for b in BANDS]
    + [f"mu_mean_model_{b}" for b in BANDS]
)

#: the catalog cuts of the DES LSBG candidate selection (Tanoglidis et al. 2021), as
#: applied to measured g, r, i features; mu_eff there is the mean surface brightness
#: within the effective radius, i.e. ``mu_mean_model_g`` here.
SELECTION_CUTS = {
    "flux_radius_g": (2.5, 20.0),          # arcsec
    "mu_mean_model_g": (24.2, 28.8),       # mag/arcsec^2
    "g_i": (-0.1, 1.4),
    "gri_locus": 0.4,                      # |(g - r) - 0.7 (g - i)| <= 0.4
    "ellipticity": 0.7,                    # 1 - B/A < 0.7
}

_NAN_ROW = {c: float("nan") for c in SEXTRACTOR_COLUMNS}


def _mag(flux, zeropoint):
    return zeropoint - 2.5 * np.log10(flux) if flux > 0 else float("nan")


def _half_light_radius(radii, values, total):
    """Radius (pixels) enclosing half of ``total``, from pixels sorted by radius."""
    if not total > 0 or radii.size == 0:
        return float("nan")
    cum = np.cumsum(values)
    k = int(np.searchsorted(cum, 0.5 * total))
    if k >= radii.size:
        return float("nan")
    # interpolate within the pixel that crosses half the flux; each pixel's light is
    # spread over +-0.5 pixel of radius
    prev = cum[k - 1] if k > 0 else 0.0
    frac = (0.5 * total - prev) / values[k] if values[k] > 0 else 0.5
    return float(max(radii[k] - 0.5 + frac, 0.1))


def _box3_max(stack, mask):
    """Per-band maximum of the 3x3 running mean over the pixels of ``mask``.

    The same as ``scipy.ndimage.uniform_filter(stack, (1, 3, 3), mode="nearest")``
    restricted to ``mask`` (to rounding), computed separably on the mask's bounding box.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    ny, nx = mask.shape
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    # one pixel of context around the box; at the image border the edge repeats
    if y0 >= 1 and x0 >= 1 and y1 < ny and x1 < nx:
        crop = stack[:, y0 - 1:y1 + 1, x0 - 1:x1 + 1]
    else:
        # edge rows and columns repeated by clipped indices (np.pad of the whole
        # stack costs several times more)
        rr = np.clip(np.arange(y0 - 1, y1 + 1), 0, ny - 1)
        cc = np.clip(np.arange(x0 - 1, x1 + 1), 0, nx - 1)
        # one axis at a time: the same pixels as stack[:, rr[:, None], cc], ~5x faster
        crop = stack.take(rr, axis=1).take(cc, axis=2)
    rsum = crop[:, :, :-2] + crop[:, :, 1:-1] + crop[:, :, 2:]
    box = rsum[:, :-2] + rsum[:, 1:-1] + rsum[:, 2:]
    # the maximum over the mask without gathering its pixels (a boolean index of the
    # 3-D box costs ~8x more); division by 9 after the maximum: a correctly rounded
    # division preserves order, so the maximum of the quotients is the same number
    return np.where(mask[y0:y1, x0:x1], box, -np.inf).max(axis=(1, 2)) / 9.0


def _argsort_exact(values):
    """``numpy.argsort(values, kind="stable")``, several times faster when there are no ties.

    Without ties every sort gives the same permutation, so the fast (unstable) sort is
    used and checked; with ties (a centroid on a pixel's symmetry axis) the stable one.
    """
    order = np.argsort(values)
    if values.size > 1 and not np.all(np.diff(values[order]) > 0):
        order = np.argsort(values, kind="stable")
    return order


#: relative margin of the squared-distance pre-selection in :func:`_pixels_within`: far
#: above the rounding of ``dx**2 + dy**2`` (a few 1e-16), far below a pixel
_SQ_MARGIN = 1e-9


def _pixels_within(x, y, r_max, keep):
    """Pixels of ``keep`` closer than ``r_max`` to (x, y), and their distances.

    The same pixels, in the same (raster) order and with the same distances
    (``numpy.hypot``), as ``np.flatnonzero(keep & (rr < r_max))`` and ``rr.ravel()[...]``
    with ``rr`` the distance grid of the whole image; ``hypot`` (~7 ns per pixel) is
    evaluated only on the pixels that a squared distance (~1 ns) does not already rule
    out, by a margin far beyond its rounding.

    Returns
    -------
    idx : numpy.ndarray
        Flat indices into the image, ascending.
    r : numpy.ndarray
        Their distances from (x, y), in pixels.
    """
    ny, nx = keep.shape
    dx = np.arange(nx, dtype=np.float64) - x
    dy = np.arange(ny, dtype=np.float64) - y
    sq = dx[None, :] ** 2 + dy[:, None] ** 2
    cand = np.flatnonzero(keep & (sq < r_max * r_max * (1.0 + _SQ_MARGIN)))
    rows, cols = np.divmod(cand, nx)
    r = np.hypot(dx[cols], dy[rows])
    inside = r < r_max
    return cand[inside], r[inside]


def _annulus_mean(img, idx, r, lo, hi):
    """Mean of ``img`` over the pixels ``idx`` with ``lo <= r <= hi``; NaN where none.

    ``idx`` ascending: the values are summed in the image's own (raster) order, so the
    mean is bitwise that of ``img[mask].mean()`` over the same pixels.
    """
    sel = (r >= lo) & (r <= hi)
    if not sel.any():
        return float("nan")
    return float(img.ravel()[idx[sel]].mean())


def _pixstack(npix):
    """Size sep's pixel stack to the image (its default of 300,000 pixels is set up on every call)."""
    # one entry per pixel that can be part of an object: the image itself, and a margin
    need = max(4096, int(npix) + 1024)
    if sep.get_extract_pixstack() != need:
        sep.set_extract_pixstack(need)


def measure(images, *, rms, pixel_scale, zeropoint=22.5, center=None, thresh=1.5,
            minarea=10, detect_bands=None, cuts=None):
    """Measure the central source of a cutout like SourceExtractor, with sep.

    Detection runs on the sum of the band images (dual-image mode: one aperture for
    every band); neighbours found by the detection are masked in the photometry.

    Parameters
    ----------
    images : dict or numpy.ndarray
        ``band -> 2-D float array`` of background-subtracted flux (per pixel), for
        bands g, r, i; or a (3, H, W) array in the order of :data:`BANDS`.
    rms : dict
        ``band -> float`` sky noise per pixel (the background is known, so no
        background map is fitted).
    pixel_scale : float
        Arcsec per pixel of the images.
    zeropoint : float
        Magnitude zero point of the flux unit (22.5 for nanomaggies).
    center : tuple of float, optional
        (x, y) pixel of the target; the image centre by default.
    thresh : float
        Detection threshold in sigma.
    minarea : int
        Minimum detection area in pixels.
    detect_bands : sequence of str, optional
        Bands summed for detection (default: all of ``images``).
    cuts : dict, optional
        Selection cuts (like :data:`SELECTION_CUTS`).  When given, the measurement
        stops as soon as the ellipticity or the g-band size or surface brightness fails
        them, leaving the other columns NaN (so that :func:`passes_cuts` is False): a
        redraw loop only needs to know that an object fails.  Values that are measured
        are the same as without ``cuts``.

    Returns
    -------
    dict
        The :data:`SEXTRACTOR_COLUMNS`: ``A_IMAGE``, ``B_IMAGE`` (pixels),
        ``mag_auto_*`` (AB), ``flux_radius_*`` (arcsec), ``mu_max_model_*`` (peak),
        ``mu_eff_model_*`` (at the half-light radius), ``mu_mean_model_*`` (mean within
        it), all in mag/arcsec^2; NaN where nothing is detected at the centre.
    """
    if isinstance(images, np.ndarray):
        bands = list(BANDS[:images.shape[0]])
        stack = np.ascontiguousarray(images, dtype=np.float64)
        data = dict(zip(bands, stack))
    else:
        bands = list(images)
        data = {b: np.ascontiguousarray(images[b], dtype=np.float64) for b in bands}
        stack = None
    detect_bands = list(detect_bands or bands)
    det = data[detect_bands[0]].copy()
    for b in detect_bands[1:]:
        det += data[b]
    det_rms = float(np.sqrt(sum(float(rms[b]) ** 2 for b in detect_bands)))
    ny, nx = det.shape
    cx, cy = center if center is not None else ((nx - 1) / 2.0, (ny - 1) / 2.0)
    _pixstack(det.size)
    try:
        objs, seg = sep.extract(det, thresh, err=det_rms, minarea=minarea,
                                deblend_nthresh=32, deblend_cont=0.001,
                                segmentation_map=True)
    except Exception:  # sep raises plain Exception on pathological images
        return dict(_NAN_ROW)
    if len(objs) == 0:
        return dict(_NAN_ROW)
    sid = int(seg[int(round(cy)), int(round(cx))])
    if sid > 0:
        i = sid - 1
    else:
        d = np.hypot(objs["x"] - cx, objs["y"] - cy)
        i = int(np.argmin(d))
        if d[i] > 4.0:
            return dict(_NAN_ROW)
    o = objs[i:i + 1]
    x, y, a, b, th = o["x"], o["y"], o["a"], o["b"], o["theta"]
    a = np.maximum(a, 0.5)
    b = np.maximum(b, 0.5)
    row = dict(_NAN_ROW)
    row["A_IMAGE"], row["B_IMAGE"] = float(a[0]), float(b[0])
    if cuts is not None and not 1.0 - row["B_IMAGE"] / row["A_IMAGE"] < cuts["ellipticity"]:
        return row
    seg_id = np.array([i + 1], dtype=np.int32)
    # sep's segmentation map is already int32 and is only read below: no copy
    segmap = seg if seg.dtype == np.int32 else seg.astype(np.int32)
    kr, _ = sep.kron_radius(det, x, y, a, b, th, 6.0, seg_id=seg_id, segmap=segmap)
    kr = float(kr[0])
    if not (math.isfinite(kr) and kr > 0):
        kr = 3.5
    # SourceExtractor's PHOT_AUTOPARAMS 2.5, 3.5: a minimum aperture of 3.5 radii
    r_aper = np.array([max(2.5 * kr, 3.5)])
    pix_area = pixel_scale ** 2
    keep = (segmap == 0) | (segmap == i + 1)
    inseg = segmap == i + 1
    # curve of growth over the unmasked pixels within 6 A (sep's flux_radius, but
    # one sort shared by the three bands); distances from the centroid
    r_grow = 6.0 * a[0]
    near, r_sel = _pixels_within(x[0], y[0], r_grow, keep)
    rr = None            # the whole distance grid, only if an annulus reaches beyond 6 A
    order = _argsort_exact(r_sel)
    radii = r_sel[order]
    idx = near[order]
    have_seg = bool(inseg.any())
    peaks = None
    for j, band in enumerate(bands):
        img = data[band]
        flux, _, _ = sep.sum_ellipse(img, x, y, a, b, th, r_aper, subpix=1,
                                     seg_id=seg_id, segmap=segmap)
        f = float(flux[0])
        mag = _mag(f, zeropoint)
        r_half = _half_light_radius(radii, img.ravel()[idx], f)
        r_arc = r_half * pixel_scale
        mu_mean = mag + 2.5 * np.log10(2.0 * np.pi * r_arc ** 2) if r_arc > 0 else float("nan")
        row[f"mag_auto_{band}"] = float(mag)
        row[f"flux_radius_{band}"] = float(r_arc)
        row[f"mu_mean_model_{band}"] = float(mu_mean)
        if cuts is not None and band == "g":
            lo, hi = cuts["flux_radius_g"]
            mlo, mhi = cuts["mu_mean_model_g"]
            if not (lo < r_arc < hi and mlo < mu_mean < mhi):
                return row
        # surface brightness at the half-light radius: mean in a thin annulus
        if r_half > 0:
            lo, hi = 0.8 * r_half, 1.25 * r_half
            if hi < r_grow:
                # the annulus lies within the pixels of the curve of growth
                sb = _annulus_mean(img, near, r_sel, lo, hi) / pix_area
            else:
                if rr is None:
                    rr = np.hypot(np.arange(nx, dtype=np.float64)[None, :] - x[0],
                                  np.arange(ny, dtype=np.float64)[:, None] - y[0])
                ann = keep & (rr >= lo) & (rr <= hi)
                sb = float(img[ann].mean()) / pix_area if ann.any() else float("nan")
        else:
            sb = float("nan")
        row[f"mu_eff_model_{band}"] = _mag(sb, zeropoint) if sb == sb else float("nan")
        if have_seg:
            if peaks is None:
                if stack is None:
                    stack = np.stack([data[bd] for bd in bands])
                peaks = _box3_max(stack, inseg)
            peak = float(peaks[j]) / pix_area
            row[f"mu_max_model_{band}"] = _mag(peak, zeropoint) if peak == peak else float("nan")
    return row


def passes_cuts(row, cuts=None):
    """Whether a measured catalog row passes the LSBG candidate selection.

    Parameters
    ----------
    row : dict or pandas.Series or pandas.DataFrame
        Measured SourceExtractor-like columns.
    cuts : dict, optional
        Defaults to :data:`SELECTION_CUTS`.

    Returns
    -------
    bool or numpy.ndarray of bool
        False where any measured value is missing (NaN) or the cuts fail.
    """
    cuts = SELECTION_CUTS if cuts is None else cuts
    if isinstance(row, dict) and all(isinstance(row.get(c), (float, int))
                                     for c in SEXTRACTOR_COLUMNS):
        # one measured row in plain floats: the redraw loop calls this for every attempt
        vals = {c: float(row[c]) for c in SEXTRACTOR_COLUMNS}
        if vals["A_IMAGE"] != 0.0:       # (0 would raise here; numpy gives +-inf below)
            return all(math.isfinite(v) for v in vals.values()) and bool(
                _within_cuts(vals, cuts))
    vals = {c: np.asarray(row[c], dtype=float) for c in SEXTRACTOR_COLUMNS}
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = _within_cuts(vals, cuts)
    # A catalog entry with an unmeasured feature is not a usable candidate: the feature
    # models (Section 4) need all 16 features, so such objects are redrawn, not stored.
    for v in vals.values():
        ok = ok & np.isfinite(v)
    return bool(ok) if np.ndim(ok) == 0 else ok


def _within_cuts(vals, cuts):
    """The selection cuts on measured values, floats or arrays alike (NaN fails them)."""
    g_i = vals["mag_auto_g"] - vals["mag_auto_i"]
    g_r = vals["mag_auto_g"] - vals["mag_auto_r"]
    ell = 1.0 - vals["B_IMAGE"] / vals["A_IMAGE"]
    rad, mu = vals["flux_radius_g"], vals["mu_mean_model_g"]
    (r_lo, r_hi), (m_lo, m_hi), (c_lo, c_hi) = (cuts["flux_radius_g"], cuts["mu_mean_model_g"],
                                                cuts["g_i"])
    return ((rad > r_lo) & (rad < r_hi) & (mu > m_lo) & (mu < m_hi) & (g_i > c_lo)
            & (g_i < c_hi) & (abs(g_r - 0.7 * g_i) <= cuts["gri_locus"])
            & (ell < cuts["ellipticity"]))

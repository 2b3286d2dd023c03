"""The synthetic survey: DES-like and HSC-like cutouts of LSBGs and artifacts.

No image of the real survey can be downloaded where this project is built, so the
default data is a survey that the library renders itself, realistic enough that the
paper's questions make sense on it.

How an object is made
---------------------
1. **Parameters.**  Object ``k`` of class ``c`` with seed ``s`` owns a random stream,
   ``numpy.random.default_rng(SeedSequence([s, class_index, k]))``, so it never depends
   on how many objects are generated, on chunking or on the number of workers.  LSBG
   structure (central surface brightness, effective radius, Sersic index, ellipticity,
   colours) is resampled with a small jitter from the 781 HSC LSBGs of Greco et al.
   (2018) (``Datasets/hsc_LSBGs.dat``); artifact parameters from the 641 HSC artifacts
   (``Datasets/hsc_artifacts.csv``).
2. **Scene.**  The light of the central object and its surroundings, in nanomaggies per
   pixel in g, r, i, z (zero point 22.5, as the viewer's coadds): Sersic profiles drawn
   by GalSim (convolved with a Moffat PSF of the survey seeing), field stars with
   extended wings and diffraction spikes, compact field galaxies, cirrus (a Gaussian
   random field).  Each profile is rendered once and scaled per band.
3. **Catalog features.**  Sky noise at survey depth is added and the object is measured
   with sep (:func:`deepshadows_lib.features.measure`) in g, r, i like SourceExtractor.
   The paper's candidate selection (:data:`deepshadows_lib.features.SELECTION_CUTS`) is
   applied to what is measured; an object that fails is redrawn from the continuation
   of its own stream, exactly as the real catalog kept only objects that passed.  A
   cheap pre-screen of the drawn parameters (:func:`_likely_passes`) redraws, before
   rendering, the draws that would almost surely fail (bright stars or host galaxies
   dominating the centre, colours or predicted sizes far outside the cuts), and the
   measurement stops at the first failed cut: about 1.1 renderings per LSBG and 2.1
   per type-2 artifact (2.9 without the pre-screen), with the measured features
   distributed as without it.
4. **Cutout.**  The viewer's colour JPEG: g, r, z mapped to RGB with the Legacy
   Survey viewer's ``sdss_rgb`` asinh mapping and encoded with Pillow, with the
   viewer image's own noise (depth varying from tile to tile, residual sky) and the
   saturated cores and bleed trails of bright stars.

Type-2 artifacts pass the catalog cuts and look like LSBGs in features; they differ by
their surroundings: diffuse light around bright stars (``star_halo``), outskirts of
bright galaxies (``galaxy_outskirts``), knots of spiral arms (``spiral_knot``),
cirrus-like patches (``cirrus``) and blends of faint compact sources (``blend``).
Type-1 artifacts are what a feature selection rejects: compact, high-surface-brightness
or off-colour sources that still pass the first cuts.

Rendering directly at 64x64
---------------------------
The paper downloaded 256x256 JPEGs at 0.262"/pixel and resized them to 64x64 with
``Image.resize((64, 64))`` under Python 2.7 (its ``File_Creation`` notebook), i.e. with
Pillow <= 6.2, whose default filter is ``NEAREST``: each stored pixel is one 0.262"
pixel of the viewer's image, with that pixel's own, uncorrelated noise (the real
cutouts' noise is ~6 times that of a bicubic reduction and not positively correlated;
``deepshadows_lib.realism``).  Here the scene is rendered directly at 64x64 on a
4 x 0.262" = 1.048" grid with the response of a 0.262" pixel, and white noise at the
viewer image's per-pixel level is added.  :func:`render_reference` renders the slow
route (256x256, JPEG, nearest reduction) and ``tests/test_simulate.py`` compares them.

Calibration against real DES cutouts
------------------------------------
Generator 2.0 is calibrated on the per-image statistics of the 36 real cutouts of the
paper's Fig. 6 (``deepshadows_lib.realism``, ``Datasets/real_cutout_stats.csv``): the
nearest-neighbour reduction, the per-pixel noise of the viewer's images
(:attr:`SurveyConfig.pixel_noise`) and its spread between tiles, the residual sky,
saturated star cores and bleed trails, field-source number counts and colours
(:data:`FIELD_COUNTS`), the brightness, size and z-band colour of the central diffuse
light (:data:`CENTRAL_SB_SHIFT`, :data:`DES_SIZE_SCATTER`, :data:`DIFFUSE_I_Z`).
"""

import dataclasses
import functools
import io
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from .errors import InputError
from .features import (BANDS as FEATURE_BANDS, SELECTION_CUTS, SEXTRACTOR_COLUMNS, measure,
                       passes_cuts)

__all__ = ["GENERATOR_VERSION", "CLASSES", "CLASS_INDEX", "SURVEYS", "SurveyConfig",
           "simulate_objects", "simulate_survey", "simulate_one", "draw_params",
           "render_scene", "render_reference", "to_rgb", "object_order"]

#: bump when the output for a given seed changes; recorded in every store
#: (1.0.1: an object with an unmeasured feature is redrawn; 1.1: parameter pre-screen
#: before rendering, z-band noise drawn only once an object is kept; 1.2: cuspy Sersic
#: profiles oversampled around their centre only, star_halo pre-screen; 2.0: calibrated
#: on the real DES cutouts: nearest-neighbour reduction, viewer noise, saturation and
#: bleed trails, field-source number counts and colours, DES-like central objects)
GENERATOR_VERSION = "2.0"

#: class names in the order of their three-class index (artifact2 = 0, lsbg = 1, artifact1 = 2)
CLASSES, CLASS_INDEX = schema.CLASSES, schema.CLASS_INDEX

NATIVE_SCALE = 0.262     # arcsec per pixel of the viewer's cutouts
NATIVE_SIZE = 256        # pixels of the viewer's cutouts
SIZE = schema.CUTOUT_SIZE  # pixels of the stored cutouts
SCALE = NATIVE_SCALE * NATIVE_SIZE / SIZE   # 1.048 arcsec per stored pixel
ZEROPOINT = 22.5         # nanomaggies
RENDER_BANDS = ("g", "r", "i", "z")   # g, r, z make the colour image; g, r, i the catalog
# the catalog bands lead RENDER_BANDS, so that a slice (a view) selects them
_N_CAT = len(FEATURE_BANDS)
assert RENDER_BANDS[:_N_CAT] == tuple(FEATURE_BANDS)
MAX_ATTEMPTS = 40        # redraws before an object is kept despite failing the cuts

_DATA_DIR = Path(__file__).resolve().parent.parent / "Datasets"


@dataclasses.dataclass(frozen=True)
class SurveyConfig:
    """Instrument, depth and colour mapping of a synthetic survey.

    Attributes
    ----------
    name : str
        ``des`` or ``hsc``.
    psf_fwhm : float
        Seeing FWHM in arcsec (one PSF for every band: at 1.048"/pixel the differences
        between bands are below a pixel, so each profile is rendered once).
    moffat_beta : float
        Moffat index of the PSF core.
    sky_sb : dict
        1-sigma sky noise in mag/arcsec^2 (in one square arcsecond) per band.
    rgb_scales : dict
        ``band -> (plane, scale)`` of the viewer's ``sdss_rgb`` mapping.
    rgb_m, rgb_q : float
        Pedestal and softening of the asinh mapping.
    jpeg_quality : int
        JPEG quality of the cutouts.
    pixel_noise : float
        Sky noise of one pixel of the viewer's image relative to white noise at the
        depth ``sky_sb`` (the coadd's resampling correlates neighbouring pixels and the
        viewer's JPEG smooths them: a pixel is quieter than the depth says).
    saturation : dict
        ``band -> (level, fill)``: nanomaggies per 0.262" pixel above which a pixel is
        saturated, and the value the coadd shows there (DES: masked cores filled from
        the unsaturated bands, which the viewer shows as blue-violet discs).
    bleed : float
        Pixels of bleed trail (along columns) per factor e of flux above saturation.
    depth_scatter : float
        Scatter (mag) of the depth of the viewer's image from tile to tile, per band.
    fill_scatter : float
        Log-normal scatter of the saturated fill per band, from image to image.
    sky_residual : tuple
        Mean and scatter of the residual sky level left by the coadd's sky
        subtraction, in units of the pixel noise.
    """

    name: str
    psf_fwhm: float
    moffat_beta: float
    sky_sb: dict
    rgb_scales: dict
    rgb_m: float
    rgb_q: float
    jpeg_quality: int
    pixel_noise: float = 1.0
    saturation: dict = None
    bleed: float = 0.0
    depth_scatter: float = 0.0
    fill_scatter: float = 0.0
    sky_residual: tuple = (0.0, 0.0)

    def sky_sigma(self, band, scale):
        """1-sigma sky noise in nanomaggies per pixel of ``scale`` arcsec."""
        return 10.0 ** (-0.4 * (self.sky_sb[band] - ZEROPOINT)) * scale


#: DES DR1-like (seeing ~1", 1-sigma 27.4 mag/arcsec^2 in g from the 10-sigma depth 24.3; the viewer's des-dr1 colours)
#: and HSC-SSP-Wide-like (deeper by ~0.8 mag, seeing ~0.65", its own colour mapping).
SURVEYS = {
    "des": SurveyConfig(
        name="des", psf_fwhm=1.0, moffat_beta=2.8,
        sky_sb={"g": 27.6, "r": 27.2, "i": 26.55, "z": 25.9},
        rgb_scales={"g": (2, 6.0), "r": (1, 3.4), "z": (0, 2.2)},
        rgb_m=0.03, rgb_q=20.0, jpeg_quality=90, pixel_noise=0.57,
        saturation={"g": (3.0, 0.68), "r": (3.0, 0.40), "z": (3.0, 0.62)}, bleed=2.5,
        depth_scatter=0.3, sky_residual=(0.1, 0.4), fill_scatter=0.4),
    "hsc": SurveyConfig(
        name="hsc", psf_fwhm=0.65, moffat_beta=3.2,
        sky_sb={"g": 28.6, "r": 28.3, "i": 28.0, "z": 27.3},
        rgb_scales={"g": (2, 4.0), "r": (1, 3.0), "z": (0, 2.4)},
        rgb_m=0.02, rgb_q=12.0, jpeg_quality=88, pixel_noise=0.55,
        saturation={"g": (12.0, 0.6), "r": (12.0, 0.6), "z": (12.0, 0.6)}, bleed=1.0,
        depth_scatter=0.15, sky_residual=(0.1, 0.3)),
}


# --------------------------------------------------------------------------- catalogs
@functools.lru_cache(maxsize=None)
def _hsc_lsbgs():
    """Structure and colours of the HSC LSBGs (Greco et al. 2018)."""
    try:
        from . import catalogs
        df = catalogs.load_hsc_lsbgs()
        cols = {"mu_0": "mu_0", "r_e": "r_e", "n": "n", "ell": "ell",
                "g-i": "g_i", "g-r": "g_r", "ra": "ra", "dec": "dec"}
        df = df.rename(columns=cols)[list(cols.values())]
    except (ImportError, AttributeError):
        path = _DATA_DIR / "hsc_LSBGs.dat"
        raw = pd.read_csv(path, sep=r"\s+", header=None)
        if raw.shape[1] != 18:
            raise InputError(f"expected 18 columns, found {raw.shape[1]}", path=path)
        # column order as in the file itself: the colours come before r_e (checked:
        # column 9 reproduces m_g from mu_0 and a Sersic profile, and g-i > g-r)
        df = pd.DataFrame({"ra": raw[1], "dec": raw[2], "mu_0": raw[3], "g_r": raw[7],
                           "g_i": raw[8], "r_e": raw[9], "n": raw[11], "ell": raw[13]})
    return df.dropna().reset_index(drop=True)


@functools.lru_cache(maxsize=None)
def _hsc_artifacts():
    """Structure and colours of the HSC artifacts."""
    try:
        from . import catalogs
        df = catalogs.load_hsc_artifacts()
    except (ImportError, AttributeError):
        df = pd.read_csv(_DATA_DIR / "hsc_artifacts.csv")
    df = df.rename(columns={"g-i": "g_i", "g-r": "g_r"})
    return df[["ra", "dec", "mu_0", "r_e", "n", "ell", "g_i", "g_r"]].dropna().reset_index(
        drop=True)


@functools.lru_cache(maxsize=None)
def _footprint(survey):
    """Positions to resample for ra/dec: the DES baseline splits, or the HSC field."""
    if survey == "des":
        files = sorted(_DATA_DIR.glob("Baseline_*.csv"))
        if files:
            pos = pd.concat([pd.read_csv(f, usecols=["ra", "dec"]) for f in files])
            return pos.to_numpy(dtype=float)
    pos = pd.concat([_hsc_lsbgs()[["ra", "dec"]], _hsc_artifacts()[["ra", "dec"]]])
    return pos.to_numpy(dtype=float)


# --------------------------------------------------------------------------- parameters
def _mags_from_colours(mag_g, g_r, g_i, i_z):
    return {"g": mag_g, "r": mag_g - g_r, "i": mag_g - g_i, "z": mag_g - g_i - i_z}


@functools.lru_cache(maxsize=256)
def _sersic_norm_n(n):
    from scipy.special import gamma, gammaincinv
    b = gammaincinv(2 * n, 0.5)
    return float(b ** (2 * n) / (2 * math.pi * n * gamma(2 * n)))


def _sersic_norm(n, hlr, q):
    """Central surface brightness (per arcsec^2) of a unit-flux Sersic profile."""
    # closed form (same as GalSim's), cheap and exact for the untruncated profile; the
    # index is on a 0.05 grid, so its part is cached
    return _sersic_norm_n(float(n)) / hlr ** 2


def _quantize_n(n):
    # GalSim caches its Sersic tables per index: a 0.05 grid keeps the cache warm
    # round() is numpy's round-half-to-even; plain floats are ~10x cheaper here
    return min(max(round(float(n) / 0.05) * 0.05, 0.3), 5.0)


#: i - z per unit r - i of the diffuse light (z enters the colour image only): the
#: centres of the real cutouts have r - z ~ 0.2 at g - r ~ 0.5, i.e. i - z ~ 0
DIFFUSE_I_Z = -0.3


def _sersic(rng, *, mu_0, r_e, n, ell, g_r, g_i, x=0.0, y=0.0, beta=None):
    """A Sersic component from catalog-like parameters (r_e along the major axis)."""
    n = _quantize_n(n)
    q = min(max(1.0 - float(ell), 0.15), 1.0)
    hlr = float(r_e) * math.sqrt(q)        # GalSim's half_light_radius is circularised
    flux_g = 10.0 ** (-0.4 * (mu_0 - ZEROPOINT)) / _sersic_norm(n, hlr, 1.0)
    mag_g = ZEROPOINT - 2.5 * math.log10(flux_g)
    i_z = DIFFUSE_I_Z * (g_i - g_r) + rng.normal(0.0, 0.03)
    return {"kind": "sersic", "n": n, "hlr": hlr, "q": q,
            "beta": float(rng.uniform(0, math.pi) if beta is None else beta),
            "x": float(x), "y": float(y), "mags": _mags_from_colours(mag_g, g_r, g_i, i_z)}


def _sersic_mag(rng, *, mag_r, hlr, n, q, g_r, g_i, x, y, beta=None):
    i_z = 0.45 * (g_i - g_r) + rng.normal(0.0, 0.03)
    return {"kind": "sersic", "n": _quantize_n(n), "hlr": float(hlr), "q": float(q),
            "beta": float(rng.uniform(0, math.pi) if beta is None else beta),
            "x": float(x), "y": float(y),
            "mags": _mags_from_colours(mag_r + g_r, g_r, g_i, i_z)}


@functools.lru_cache(maxsize=None)
def _catalog_rows(source):
    """(mu_0, r_e, n, ell, g_i, g_r) of each catalog entry as tuples of floats.

    Plain tuples: indexing a DataFrame row per object costs more than the rest of the
    parameter draw.
    """
    cat = _hsc_lsbgs() if source == "lsbg" else _hsc_artifacts()
    cols = ["mu_0", "r_e", "n", "ell", "g_i", "g_r"]
    return [tuple(float(v) for v in r) for r in cat[cols].to_numpy(dtype=float)]


#: mag/arcsec^2 added to the resampled central surface brightness of the diffuse light
#: of LSBGs and type-2 artifacts: the DES candidates that passed the cuts are brighter at
#: their centre than the deeper HSC sample the structure is drawn from (calibrated on
#: the centres of the 36 real cutouts, ``deepshadows_lib.realism``)
#: log-normal widening (one-sided) of the radii of DES's diffuse objects over the HSC
#: sample's (the DES candidates reach 20"; calibrated on the real cutouts' outer profile)
DES_SIZE_SCATTER = 0.5
CENTRAL_SB_SHIFT = {"lsbg": -1.0, "artifact2": -0.75}


def _lsbg_like(rng, *, source="lsbg", faint=0.0):
    """Structure of an LSBG-like diffuse component, resampled with jitter."""
    cat = _catalog_rows(source)
    row = cat[int(rng.integers(len(cat)))]
    mu_0 = row[0] + rng.normal(0.0, 0.35) + faint
    r_e = row[1] * math.exp(rng.normal(0.05, 0.2))
    n = min(max(row[2] * math.exp(rng.normal(0.0, 0.1)), 0.3), 2.5)
    ell = min(max(row[3] + rng.normal(0.0, 0.05), 0.0), 0.68)
    g_i = row[4] + rng.normal(0.0, 0.05)
    g_r = row[5] + rng.normal(0.0, 0.04)
    return dict(mu_0=mu_0, r_e=r_e, n=n, ell=ell, g_r=g_r, g_i=g_i)


def _predicted(p, psf_fwhm=1.0):
    """Rough catalog values of a diffuse component: (flux radius ", mean SB in g)."""
    n = _quantize_n(p["n"])
    q = min(max(1.0 - float(p["ell"]), 0.15), 1.0)
    hlr = p["r_e"] * math.sqrt(q)
    flux_g = 10.0 ** (-0.4 * (p["mu_0"] - ZEROPOINT)) / _sersic_norm(n, hlr, 1.0)
    r_half = math.hypot(hlr, 0.5 * psf_fwhm)
    mu_mean = ZEROPOINT - 2.5 * math.log10(flux_g) + 2.5 * math.log10(2 * math.pi * r_half ** 2)
    return r_half, mu_mean


#: predicted mean surface brightness (g, mag/arcsec^2) beyond which a diffuse object is
#: not drawn: SourceExtractor on the DES coadds detects few fainter ones, and the real
#: cutouts show no centre as faint as the synthetic tail beyond it did
DETECTION_MU_LIMIT = 26.0


def _plausible(rng, draw, *, tries=25):
    """Redraw diffuse-component parameters until they would plausibly pass the cuts.

    A cheap analytic pre-screen (no rendering); the real cuts are still applied to
    what is measured on the image.
    """
    for _ in range(tries):
        p = draw()
        r_half, mu = _predicted(p)
        gi, gr = p["g_i"], p["g_r"]
        if (2.6 < r_half < 18.0 and 24.3 < mu < DETECTION_MU_LIMIT and -0.05 < gi < 1.35
                and abs(gr - 0.7 * gi) < 0.37 and p["ell"] < 0.66):
            return p
    return p


def _galaxy_colours(rng, size):
    g_r = rng.uniform(0.2, 1.4, size)
    g_i = g_r * rng.uniform(1.2, 1.6, size)
    return g_r, g_i


def _star_colours(rng, size):
    # the stellar locus: blue turn-off stars to red M dwarfs
    g_r = np.where(rng.random(size) < 0.7, rng.uniform(0.25, 0.8, size),
                   rng.uniform(0.8, 1.5, size))
    g_i = np.where(g_r < 1.2, 1.35 * g_r, 1.35 * g_r + 2.0 * (g_r - 1.2))
    return g_r, g_i


def _band_mags(mag_r, g_r, g_i, i_z_per_r_i, i_z=None):
    """(4, n) magnitudes in g, r, i, z from r and colours (i - z = k (r - i) unless given)."""
    r_i = g_i - g_r
    mags = np.empty((4,) + np.shape(mag_r))
    mags[0] = mag_r + g_r
    mags[1] = mag_r
    mags[2] = mag_r - r_i
    mags[3] = mags[2] - (i_z_per_r_i * r_i if i_z is None else i_z)
    return mags


def _faint_star_colours(rng, size):
    """g - r, g - i, i - z of faint high-latitude stars on the stellar locus.

    Below r ~ 20 far from the Galactic plane the stars are halo turn-off stars
    (g - r ~ 0.3) and M dwarfs (g - r ~ 1.3-1.5, r - i up to ~1.6), in about equal
    numbers; i - z follows r - i along the locus (~0.45 r - i).
    """
    dwarf = rng.random(size) < 0.55
    g_r = np.where(dwarf, rng.uniform(1.15, 1.5, size), rng.normal(0.35, 0.1, size))
    r_i = np.where(dwarf, rng.uniform(0.5, 1.6, size), 0.35 * g_r)
    i_z = 0.45 * r_i + rng.normal(0.0, 0.04, size)
    return g_r, g_r + r_i, i_z


def _field_galaxy_colours(rng, size):
    """g - r, g - i, i - z of faint field galaxies (z ~ 0.3-1).

    A blue cloud and a red sequence; beyond z ~ 0.5 the 4000 A break moves into r and
    i, which makes faint red galaxies red in r - z (the viewer shows them red).
    """
    red = rng.random(size) < 0.45
    g_r = np.where(red, rng.normal(1.45, 0.2, size), rng.normal(0.6, 0.2, size))
    r_i = np.where(red, rng.normal(0.75, 0.2, size), rng.normal(0.3, 0.12, size))
    i_z = np.where(red, rng.normal(0.45, 0.12, size), rng.normal(0.2, 0.1, size))
    return g_r, g_r + r_i, i_z


def _number_counts(rng, *, log_dn, slope, m_ref, m_min, m_max, area_deg2):
    """Magnitudes of a Poisson draw from dN/dm = 10^(log_dn + slope (m - m_ref)) per deg^2."""
    a, b = 10.0 ** (slope * (m_min - m_ref)), 10.0 ** (slope * (m_max - m_ref))
    mean = area_deg2 * 10.0 ** log_dn * (b - a) / (slope * math.log(10.0))
    n = int(rng.poisson(mean))
    return m_ref + np.log10(a + rng.random(n) * (b - a)) / slope


def _points(rng, *, x, y, mag_r, g_r, g_i, halo=None, i_z=None):
    mags = _band_mags(mag_r, g_r, g_i, 0.4, i_z)
    return {"kind": "stars", "x": np.asarray(x, float), "y": np.asarray(y, float),
            "mags": mags}


def _blobs(*, x, y, sigma, q, beta, mag_r, g_r, g_i, i_z=None):
    mags = _band_mags(mag_r, g_r, g_i, 0.45, i_z)
    return {"kind": "blobs", "x": np.asarray(x, float), "y": np.asarray(y, float),
            "sigma": np.asarray(sigma, float), "q": np.asarray(q, float),
            "beta": np.asarray(beta, float), "mags": mags}


def _uniform_positions(rng, size, *, rmin=0.0, half=SIZE * SCALE / 2):
    """Uniform positions in the cutout, avoiding a disc of radius ``rmin`` at the centre."""
    xy = rng.uniform(-half, half, (size, 2))
    for _ in range(8):
        bad = np.hypot(xy[:, 0], xy[:, 1]) < rmin
        if not bad.any():
            break
        xy[bad] = rng.uniform(-half, half, (int(bad.sum()), 2))
    return xy[:, 0], xy[:, 1]


def _polar(rng, rmin, rmax):
    r, phi = rng.uniform(rmin, rmax), rng.uniform(0, 2 * math.pi)
    return r * math.cos(phi), r * math.sin(phi)


#: number counts of the field sources in r (per deg^2 per mag: 10^(log_dn + slope (m -
#: m_ref))): galaxies as deep optical counts (~1.8e4 per deg^2 per mag at r = 23, slope
#: 0.37, ~20 per arcmin^2 to the limit, near DES Y3's galaxy density), stars as at high
#: Galactic latitude (~1,000 per deg^2 per mag at r = 20, a shallow slope); drawn to
#: ``depth_limit``, below which a source is lost in the noise of a pixel
FIELD_COUNTS = {
    "galaxies": {"log_dn": 4.15, "slope": 0.37, "m_ref": 23.0, "m_min": 17.5},
    "stars": {"log_dn": 2.95, "slope": 0.12, "m_ref": 20.0, "m_min": 15.0},
    "depth_limit": {"des": 24.5, "hsc": 25.1},
}


def _field(rng, survey):
    """Field stars and galaxies: the same population around every class."""
    comps = []
    lim = FIELD_COUNTS["depth_limit"][survey]
    area = (SIZE * SCALE / 3600.0) ** 2
    stars = FIELD_COUNTS["stars"]
    mag = _number_counts(rng, m_max=lim, area_deg2=area, **stars)
    if mag.size:
        x, y = _uniform_positions(rng, mag.size, rmin=5.0)
        g_r, g_i, i_z = _faint_star_colours(rng, mag.size)
        comps.append(_points(rng, x=x, y=y, mag_r=mag, g_r=g_r, g_i=g_i, i_z=i_z))
    mag = _number_counts(rng, m_max=lim, area_deg2=area, **FIELD_COUNTS["galaxies"])
    if mag.size:
        n_gal = mag.size
        x, y = _uniform_positions(rng, n_gal, rmin=5.0)
        g_r, g_i, i_z = _field_galaxy_colours(rng, n_gal)
        # fainter galaxies are smaller (~0.3" per magnitude)
        sigma = np.clip(rng.uniform(0.3, 1.0, n_gal) * (1.0 + 0.25 * (24.0 - mag)), 0.2, 2.5)
        comps.append(_blobs(x=x, y=y, sigma=sigma, q=rng.uniform(0.35, 1.0, n_gal),
                            beta=rng.uniform(0, math.pi, n_gal), mag_r=mag, g_r=g_r,
                            g_i=g_i, i_z=i_z))
    # a bright star in the frame, around LSBGs too, so that a star is not a label
    if rng.random() < 0.3:
        comps.append(_bright_star(rng, rmin=18.0, rmax=45.0, mag=(12.5, 16.5)))
    return comps


def _bright_star(rng, *, rmin, rmax, mag):
    x, y = _polar(rng, rmin, rmax)
    g_r, g_i = _star_colours(rng, 1)
    return {"kind": "bright_star", "x": float(x), "y": float(y),
            "mag_r": float(rng.uniform(*mag)), "g_r": float(g_r[0]), "g_i": float(g_i[0]),
            "spike_angle": float(rng.uniform(0, math.pi / 2) if rng.random() < 0.3 else 0.0)}


def _draw_lsbg(rng, survey, sub):
    def draw():
        p = _lsbg_like(rng, source="lsbg", faint=CENTRAL_SB_SHIFT["lsbg"])
        if survey == "des":
            # DES LSBGs reach larger radii than the HSC sample (2.5" < r_1/2 < 20")
            p["r_e"] *= math.exp(abs(rng.normal(0.0, DES_SIZE_SCATTER)))
        return p
    p = _plausible(rng, draw)
    comp = _sersic(rng, **p)
    return "lsbg", [comp], {"true_mu_0": p["mu_0"], "true_r_e": p["r_e"], "true_n": comp["n"],
                            "true_ell": p["ell"], "true_g_r": p["g_r"], "true_g_i": p["g_i"]}


_ART2_SUBTYPES = ("star_halo", "galaxy_outskirts", "spiral_knot", "cirrus", "blend")
_ART2_WEIGHTS = (0.30, 0.25, 0.10, 0.15, 0.20)


def _draw_artifact2(rng, survey, sub):
    def draw():
        source = "artifact" if rng.random() < 0.85 else "lsbg"
        p = _lsbg_like(rng, source=source, faint=CENTRAL_SB_SHIFT["artifact2"])
        # rejected objects are more often elongated than LSBGs (HSC: <ell> 0.37 vs 0.31)
        p["ell"] = float(min(p["ell"] + 0.06, 0.66))
        if survey == "des":
            p["r_e"] *= math.exp(abs(rng.normal(0.0, 0.25)))
        if source == "artifact":
            # the catalog's bright, compact entries would not pass the LSBG selection
            p["mu_0"] = max(p["mu_0"], 22.8 + rng.normal(0, 0.4))
        return p
    p = _plausible(rng, draw)
    comps = []
    if sub == "star_halo":
        star = _bright_star(rng, rmin=12.0, rmax=30.0, mag=(12.5, 16.0))
        comps.append(star)
        # scattered light takes the star's colour, slightly bluer
        p.update(g_r=star["g_r"] - 0.15 + rng.normal(0, 0.08), n=rng.uniform(0.3, 0.6))
        p["r_e"] *= 1.3
        p["g_i"] = p["g_r"] * rng.uniform(1.2, 1.5)
        p["mu_0"] += 0.6
    elif sub == "galaxy_outskirts":
        hlr = rng.uniform(3.0, 8.0)
        x, y = _polar(rng, max(2.0 * hlr, 10.0), max(3.2 * hlr, 16.0))
        g_r = rng.uniform(0.4, 0.9)
        comps.append(_sersic_mag(rng, mag_r=rng.uniform(16.0, 18.5), hlr=hlr,
                                 n=rng.uniform(1.0, 4.0), q=rng.uniform(0.3, 0.95),
                                 g_r=g_r, g_i=g_r * rng.uniform(1.3, 1.5), x=x, y=y))
        p.update(g_r=g_r + rng.normal(0, 0.06), g_i=(g_r + rng.normal(0, 0.06)) * 1.4)
    elif sub == "spiral_knot":
        hlr = rng.uniform(5.0, 10.0)
        r0 = rng.uniform(1.5, 2.2) * hlr
        x, y = _polar(rng, r0, r0)
        q = rng.uniform(0.5, 1.0)
        comps.append(_sersic_mag(rng, mag_r=rng.uniform(16.0, 18.0), hlr=hlr, n=1.0, q=q,
                                 g_r=rng.uniform(0.4, 0.7), g_i=rng.uniform(0.6, 1.0),
                                 x=x, y=y))
        # knots along two logarithmic arms through the centre of the cutout
        nk = int(rng.integers(5, 11))
        phi0 = math.atan2(-y, -x)
        t = rng.uniform(-1.2, 1.2, nk)
        arm = rng.integers(0, 2, nk)
        rr = r0 * np.exp(0.35 * t) * rng.uniform(0.9, 1.1, nk)
        ang = phi0 + math.pi + t + arm * math.pi
        kx, ky = x + rr * np.cos(ang), y + rr * np.sin(ang)
        kx[0], ky[0] = rng.normal(0, 1.0, 2)
        g_r = rng.uniform(0.0, 0.4, nk)
        comps.append(_blobs(x=kx, y=ky, sigma=rng.uniform(0.4, 1.2, nk), q=np.ones(nk),
                            beta=np.zeros(nk), mag_r=rng.uniform(21.5, 23.5, nk),
                            g_r=g_r, g_i=g_r * 1.3))
        p.update(g_r=rng.uniform(0.2, 0.5), n=rng.uniform(0.4, 1.0))
        p["g_i"] = p["g_r"] * 1.35
    elif sub == "cirrus":
        g_r = rng.uniform(0.45, 0.85)
        comps.append({"kind": "cirrus", "seed": int(rng.integers(2**31)),
                      "mu": float(rng.uniform(26.3, 27.6)), "slope": float(rng.uniform(3.0, 3.8)),
                      "mags_offset": _mags_from_colours(0.0, g_r, g_r * 1.4, 0.1)})
        p.update(g_r=g_r + rng.normal(0, 0.05), g_i=(g_r + rng.normal(0, 0.05)) * 1.4,
                 n=rng.uniform(0.3, 0.8))
        p["mu_0"] += 0.2
    elif sub == "blend":
        nb = int(rng.integers(3, 7))
        r = 4.0 * np.sqrt(rng.random(nb))
        ang = rng.uniform(0, 2 * math.pi, nb)
        g_r, g_i = _galaxy_colours(rng, nb)
        comps.append(_blobs(x=r * np.cos(ang), y=r * np.sin(ang),
                            sigma=rng.uniform(0.2, 0.8, nb), q=rng.uniform(0.5, 1.0, nb),
                            beta=rng.uniform(0, math.pi, nb),
                            mag_r=rng.uniform(22.0, 24.5, nb), g_r=g_r, g_i=g_i))
        p["mu_0"] += 0.8
    comps.append(_sersic(rng, **p))
    truth = {"true_mu_0": p["mu_0"], "true_r_e": p["r_e"], "true_n": _quantize_n(p["n"]),
             "true_ell": p["ell"], "true_g_r": p["g_r"], "true_g_i": p["g_i"]}
    return sub, comps, truth


_ART1_SUBTYPES = ("compact", "colour_outlier", "star_wing")
_ART1_WEIGHTS = (0.5, 0.25, 0.25)


def _draw_artifact1(rng, survey, sub):
    comps = []
    if sub == "compact":
        p = dict(mu_0=rng.uniform(20.8, 23.0), r_e=rng.uniform(2.2, 4.5),
                 n=rng.uniform(0.8, 2.5), ell=rng.uniform(0.0, 0.6),
                 g_r=rng.uniform(0.3, 1.1))
        p["g_i"] = p["g_r"] * rng.uniform(1.2, 1.5)
    elif sub == "colour_outlier":
        p = _lsbg_like(rng, source="artifact")
        p["mu_0"] = max(p["mu_0"], 22.5)
        if rng.random() < 0.5:
            p.update(g_r=rng.uniform(0.85, 1.0), g_i=rng.uniform(1.15, 1.35))
        else:
            p.update(g_r=rng.uniform(-0.05, 0.12), g_i=rng.uniform(-0.05, 0.1))
    else:
        star = _bright_star(rng, rmin=8.0, rmax=14.0, mag=(14.0, 17.0))
        comps.append(star)
        p = dict(mu_0=rng.uniform(23.0, 24.5), r_e=rng.uniform(2.5, 5.0),
                 n=rng.uniform(0.5, 1.5), ell=rng.uniform(0.3, 0.65),
                 g_r=star["g_r"], g_i=star["g_i"])
    comps.append(_sersic(rng, **p))
    truth = {"true_mu_0": p["mu_0"], "true_r_e": p["r_e"], "true_n": _quantize_n(p["n"]),
             "true_ell": p["ell"], "true_g_r": p["g_r"], "true_g_i": p["g_i"]}
    return sub, comps, truth


_DRAW = {"lsbg": _draw_lsbg, "artifact2": _draw_artifact2, "artifact1": _draw_artifact1}
_SUBTYPES = {"lsbg": (("lsbg",), (1.0,)), "artifact2": (_ART2_SUBTYPES, _ART2_WEIGHTS),
             "artifact1": (_ART1_SUBTYPES, _ART1_WEIGHTS)}


def draw_subtype(class_name, rng):
    """The kind of object (fixed for an object across redraws, so the mix is kept)."""
    names, weights = _SUBTYPES[class_name]
    return names[int(rng.choice(len(names), p=weights))] if len(names) > 1 else names[0]


#: parameter draws per rendering that :func:`_likely_passes` may reject
PRESCREEN_TRIES = 12
#: mag/arcsec^2 by which a star_halo's diffuse light may be fainter (mu_0) than the
#: star's scattered light at the centre (mag_r + 7.5 log10 d) before a redraw
STAR_HALO_CONTRAST = 2.5


def _likely_passes(subtype, comps, truth, survey):
    """A cheap pre-screen: False where a draw would almost surely fail the cuts.

    Rendering and measuring an object costs ~100 times more than drawing it, and
    the measured cuts reject ~2/3 of the type-2 and type-1 artifact draws.  These
    rules catch many of those failures from the parameters alone; their margins were
    chosen on a few thousand rendered draws so that they drop only ~1-3% of the
    draws that would have passed (those lie at the edges of the cut region), and the
    features of the kept objects are distributed as without them (two-sample KS
    tests per class and feature on 1,000 objects: all p > 0.6).  Whatever passes
    here is still rendered, measured and cut as before.

    - the central component's colours beyond the colour cuts by 0.05 mag;
    - its predicted mean surface brightness brighter than 23.5 mag/arcsec^2 or its
      predicted half-light radius below 1.8" (the cuts: 24.2 and 2.5");
    - a bright star of the scene whose scattered light would dominate the centre
      (``mag_r + 7.5 log10(d / arcsec) < 22.5``, 23 for ``star_halo``: the star, not
      the diffuse light, is then the central detection);
    - for ``star_halo``, diffuse light fainter at its centre than that measure of the
      star's scattered light by more than :data:`STAR_HALO_CONTRAST` mag: the centre
      then lies in the star's segment and the measured size is the star's (~1").
      ~97% of such draws fail the cuts; dropping them cut the renderings per
      ``star_halo`` artifact from 3.0 to 2.4 (generator 1.2; 2.65 to 2.45 with the
      brighter diffuse light of generator 2.0), and the 16 measured features of
      2,811 star_halo objects made with the rule and 2,734 without it agree (two-sample
      KS: all p > 0.09, D <= 0.033);
    - a host galaxy brighter than 25.3 mag/arcsec^2 (r) at the cutout centre, or,
      for ``galaxy_outskirts``, brighter there than the predicted mean surface
      brightness of the diffuse light minus 0.75 mag (the measured light is then
      mostly the host's).
    """
    cuts = SELECTION_CUTS
    g_i, g_r = truth["true_g_i"], truth["true_g_r"]
    lo, hi = cuts["g_i"]
    if not (lo - 0.05 < g_i < hi + 0.05) or abs(g_r - 0.7 * g_i) > cuts["gri_locus"] + 0.05:
        return False
    r_half, mu = _predicted({"mu_0": truth["true_mu_0"], "r_e": truth["true_r_e"],
                             "n": truth["true_n"], "ell": truth["true_ell"]},
                            psf_fwhm=SURVEYS[survey].psf_fwhm)
    if mu < 23.5 or r_half < 1.8:
        return False
    star_limit = 23.0 if subtype == "star_halo" else 22.5
    host_limit = max(25.3, mu - 0.75) if subtype == "galaxy_outskirts" else 25.3
    for c in comps[:-1]:
        if c["kind"] == "bright_star":
            d = max(math.hypot(c["x"], c["y"]), 1.0)
            halo = c["mag_r"] + 7.5 * math.log10(d)
            if halo < star_limit:
                return False
            if subtype == "star_halo" and truth["true_mu_0"] - halo > STAR_HALO_CONTRAST:
                return False
        elif c["kind"] == "sersic" and _host_sb_at_centre(c) < host_limit:
            return False
    return True


def _host_sb_at_centre(c):
    """r-band surface brightness (mag/arcsec^2) of a Sersic component at (0, 0)."""
    from scipy.special import gammaincinv
    n = c["n"]
    b = float(gammaincinv(2 * n, 0.5))
    flux = 10.0 ** (-0.4 * (c["mags"]["r"] - ZEROPOINT))
    r = math.hypot(c["x"], c["y"]) / c["hlr"]
    sb = flux * _sersic_norm(n, c["hlr"], 1.0) * math.exp(-b * r ** (1.0 / n))
    return ZEROPOINT - 2.5 * math.log10(max(sb, 1e-300))


def draw_params(class_name, rng, *, survey="des", subtype=None):
    """Draw the components of one scene.

    Parameters
    ----------
    class_name : {"lsbg", "artifact1", "artifact2"}
    rng : numpy.random.Generator
        The object's own stream.
    survey : {"des", "hsc"}
    subtype : str, optional
        Drawn from the class's mix when not given.

    Returns
    -------
    dict
        ``subtype``, ``components`` (list of dicts, in arcsec from the cutout centre and
        AB magnitudes) and ``truth`` (the ``true_*`` catalog columns).
    """
    if subtype is None:
        subtype = draw_subtype(class_name, rng)
    for _ in range(PRESCREEN_TRIES):
        sub, comps, truth = _DRAW[class_name](rng, survey, subtype)
        if _likely_passes(sub, comps, truth, survey):
            break
    # a sub-pixel offset of the centre, as real detections are not pixel-centred
    dx, dy = rng.uniform(-0.5, 0.5, 2) * SCALE
    for c in comps:
        c["x"] = c["x"] + dx if "x" in c else dx
        c["y"] = c["y"] + dy if "y" in c else dy
    comps = _field(rng, survey) + comps
    return {"subtype": sub, "components": comps, "truth": truth}


# --------------------------------------------------------------------------- rendering
@functools.lru_cache(maxsize=8)
def _psf(survey):
    import galsim
    cfg = SURVEYS[survey]
    return galsim.Moffat(beta=cfg.moffat_beta, fwhm=cfg.psf_fwhm)


def _fluxes(mags):
    return np.array([10.0 ** (-0.4 * (mags[b] - ZEROPOINT)) for b in RENDER_BANDS])


@functools.lru_cache(maxsize=8)
def _sersic_canvas(npix, scale):
    """A reusable GalSim image with its origin at the centre pixel (npix/2, 0-based)."""
    import galsim
    canvas = galsim.ImageD(npix, npix, scale=scale)
    canvas.setCenter(0, 0)
    return canvas


#: Sersic profiles with n >= CUSP_N are integrated over the pixels near their centre
#: on a grid OVERSAMPLE times finer, within CUSP_HALF pixels of the centre pixel
CUSP_N, OVERSAMPLE, CUSP_HALF = 2.0, 3, 6


def _draw_sersic(c, npix, scale):
    """A unit-flux Sersic profile (before the PSF), sampled on the (N, N) grid.

    GalSim samples the profile at pixel centres (``no_pixel``); the PSF and the pixel
    response are applied afterwards to the unit images of all extended components at
    once (:func:`_convolve_psf`), which is much cheaper than one FFT draw per
    component.  Cuspy profiles (n >= 2) are sampled on a finer grid and binned where
    that matters, in the pixels around their centre; elsewhere pixel-centre sampling
    agrees with the pixel average to 1-2% per pixel and 0.2% of the total flux
    (``tests/test_simulate.py``), as for every other Sersic profile here.
    """
    import galsim
    gal = galsim.Sersic(n=c["n"], half_light_radius=c["hlr"], flux=1.0)
    if c["q"] < 1.0:
        # shear(q=, beta=) without its argument parsing: reduced shear (1-q)/(1+q)
        g = (1.0 - c["q"]) / (1.0 + c["q"]) * complex(math.cos(2 * c["beta"]),
                                                     math.sin(2 * c["beta"]))
        gal = gal._shear(galsim._Shear(g))
    # drawImage(method="no_pixel", offset=(x, y) / scale) without its ~0.1 ms of
    # argument handling: GalSim centres the profile on the true centre of the even
    # image, half a pixel below the pixel that the canvas has at (0, 0)
    canvas = _sersic_canvas(npix, scale)
    gal._drawReal(canvas, None, (c["x"] - 0.5 * scale, c["y"] - 0.5 * scale), 1.0)
    im = canvas.array.copy()
    if c["n"] >= CUSP_N:
        _oversample_centre(gal, c, im, scale)
    return im


def _oversample_centre(gal, c, im, scale, *, over=OVERSAMPLE, half=CUSP_HALF):
    """Replace the pixels around a profile's centre by their average over a finer grid.

    The patch is drawn on a canvas whose pixels are exactly the fine sub-pixels that
    drawing the whole image ``over`` times finer and binning would give there (the
    same numbers; ``tests/test_simulate.py`` checks it), at a fraction of the cost.
    """
    npix = im.shape[-1]
    fine = scale / over
    # the pixel nearest the centre, kept far enough inside for a whole patch
    jc = min(max(int(math.floor(npix / 2 + c["x"] / scale + 0.5)), half), npix - half)
    ic = min(max(int(math.floor(npix / 2 + c["y"] / scale + 0.5)), half), npix - half)
    big, small = npix * over, 2 * half * over
    # the fine canvas of the whole image would put the profile at c["x"] - fine / 2
    # from its centre; the patch starts (jc - half) * over fine pixels into it
    shift_x = (big / 2 - (jc - half) * over - small / 2) * fine
    shift_y = (big / 2 - (ic - half) * over - small / 2) * fine
    patch = _sersic_canvas(small, fine)
    gal._drawReal(patch, None, (c["x"] - 0.5 * fine + shift_x,
                                c["y"] - 0.5 * fine + shift_y), 1.0)
    binned = patch.array.reshape(2 * half, over, 2 * half, over).sum(axis=(1, 3))
    # fine pixels carry a ninth of the area each: their sum is the coarse pixel
    im[ic - half:ic + half, jc - half:jc + half] = binned


@functools.lru_cache(maxsize=8)
def _psf_kernel(survey, scale):
    """The PSF convolved with the viewer's pixel, as a normalised odd-sized kernel.

    The stored pixel is one 0.262" pixel of the viewer's image (nearest-neighbour
    reduction), so the pixel response is that of the native pixel whatever ``scale``
    the kernel is sampled at.
    """
    import galsim
    half = int(math.ceil(8.0 / scale))
    prof = galsim.Convolve(_psf(survey), galsim.Pixel(NATIVE_SCALE))
    k = prof.drawImage(nx=2 * half + 1, ny=2 * half + 1, scale=scale, method="no_pixel",
                       dtype=np.float64).array
    return k / k.sum()


@functools.lru_cache(maxsize=8)
def _psf_kernel_ft(survey, scale, npix):
    """Real FFT of the PSF kernel on the padded grid of a linear ('full') convolution."""
    from scipy import fft
    kernel = _psf_kernel(survey, scale)
    size = fft.next_fast_len(npix + kernel.shape[0] - 1, real=True)
    return fft.rfft2(kernel, s=(size, size)), size, kernel.shape[0] // 2


def _convolve_psf(images, survey, scale):
    """Convolve (M, N, N) images with the PSF kernel ('same' size, zero outside).

    The same as ``scipy.signal.fftconvolve(images, kernel[None], mode="same")`` with
    the kernel's transform computed once per survey.
    """
    from scipy import fft
    npix = images.shape[-1]
    kft, size, half = _psf_kernel_ft(survey, scale, npix)
    full = fft.irfft2(fft.rfft2(images, s=(size, size)) * kft, s=(size, size))
    return full[..., half:half + npix, half:half + npix]


def _moffat_r(cfg, scale):
    # the native pixel broadens the core a little; a quadrature sum is enough here
    fwhm = math.hypot(cfg.psf_fwhm, 0.55 * NATIVE_SCALE)
    beta = cfg.moffat_beta
    return fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0)), beta


def _stamp_add(out, stamps, flux, x0, y0):
    """Add per-source stamps (n, S, S) with corner pixels (x0, y0) into out (B, N, N).

    One ``numpy.bincount`` over a padded canvas for all sources and bands: a Python
    loop over sources with a slice per stamp costs several times more.
    """
    nb, n = out.shape[0], out.shape[-1]
    size = stamps.shape[-1]
    x0, y0 = np.asarray(x0), np.asarray(y0)
    # stamps entirely off the image are dropped; the rest fit a canvas padded by a stamp
    on = (x0 > -size) & (x0 < n) & (y0 > -size) & (y0 < n)
    if not on.all():
        flux, stamps, x0, y0 = flux[:, on], stamps[on], x0[on], y0[on]
    if not stamps.shape[0]:
        return
    side = n + 2 * size
    off = (np.arange(size)[:, None] * side + np.arange(size)[None, :]).ravel()
    base = (y0 + size) * side + (x0 + size)                        # (n,)
    idx = (np.arange(nb)[:, None, None] * side * side + base[None, :, None]
           + off[None, None, :])                                   # (B, n, S*S)
    weights = flux[:, :, None] * stamps.reshape(1, len(base), -1)
    canvas = np.bincount(idx.ravel(), weights.ravel(), minlength=nb * side * side)
    out += canvas.reshape(nb, side, side)[:, size:size + n, size:size + n]


def _pixel_coords(x, y, npix, scale):
    # GalSim puts the profile centre of an even-sized image at pixel (npix/2, npix/2)
    # (0-based), so the same convention keeps analytic and GalSim components aligned
    return npix / 2 + np.asarray(x) / scale, npix / 2 + np.asarray(y) / scale


def _compact_stamps(c, cfg, npix, scale):
    """Stars (Moffat) and small galaxies (Gaussian x PSF) as stamps.

    A stamp holds, per stored pixel, the profile of a unit-flux source at the pixel's
    centre times the pixel's area: the stored pixel is one viewer pixel, not an average
    over 1.048", so an undersampled star is not renormalised to unit sum.

    Returns
    -------
    stamps : numpy.ndarray
        (n, S, S) stamps of unit-flux sources.
    flux : numpy.ndarray
        (B, n) fluxes per band.
    x0, y0 : numpy.ndarray
        (n,) pixel of each stamp's corner.
    """
    px, py = _pixel_coords(c["x"], c["y"], npix, scale)
    half = int(math.ceil(6.0 / scale))
    ix, iy = np.floor(px + 0.5).astype(int), np.floor(py + 0.5).astype(int)
    off = np.arange(-half, half + 1)
    dx = (ix[:, None] + off[None] - px[:, None]) * scale      # (n, S)
    dy = (iy[:, None] + off[None] - py[:, None]) * scale
    if c["kind"] == "stars":
        rd, beta = _moffat_r(cfg, scale)
        r2 = dy[:, :, None] ** 2 + dx[:, None, :] ** 2
        prof = (1.0 + r2 / rd ** 2) ** (-beta) * (scale ** 2 * (beta - 1.0) / (math.pi * rd ** 2))
    else:
        sig_psf = cfg.psf_fwhm / 2.355
        s2 = c["sigma"] ** 2
        q = c["q"]
        ca, sa = np.cos(c["beta"]), np.sin(c["beta"])
        # covariance of an elliptical Gaussian convolved with a round Gaussian PSF
        a2, b2 = s2 / q, s2 * q
        cxx = a2 * ca ** 2 + b2 * sa ** 2 + sig_psf ** 2 + (0.29 * NATIVE_SCALE) ** 2
        cyy = a2 * sa ** 2 + b2 * ca ** 2 + sig_psf ** 2 + (0.29 * NATIVE_SCALE) ** 2
        cxy = (a2 - b2) * ca * sa
        det = cxx * cyy - cxy ** 2
        X, Y = dx[:, None, :], dy[:, :, None]
        quad = (cyy[:, None, None] * X ** 2 - 2 * cxy[:, None, None] * X * Y
                + cxx[:, None, None] * Y ** 2) / det[:, None, None]
        prof = np.exp(-0.5 * quad) * (scale ** 2 / (2.0 * math.pi * np.sqrt(det)))[:, None, None]
    flux = 10.0 ** (-0.4 * (np.asarray(c["mags"]) - ZEROPOINT))     # (B, n)
    return prof, flux, ix - half, iy - half


def _draw_bright_star(c, cfg, npix, scale, out):
    """A bright star: Moffat core, a power-law halo and diffraction spikes."""
    ax = (np.arange(npix) - npix / 2) * scale
    X = ax[None, :] - c["x"]
    Y = ax[:, None] - c["y"]
    r2 = X ** 2 + Y ** 2
    rd, beta = _moffat_r(cfg, scale)
    core = (1.0 + r2 / rd ** 2) ** (-beta) / (math.pi * rd ** 2 / (beta - 1.0))
    # the extended wing (scattered light), ~r^-3 beyond a few arcsec
    rh = 2.5
    t = 1.0 + r2 / rh ** 2
    halo = 1.0 / (t * np.sqrt(t) * (2.0 * math.pi * rh ** 2))      # t ** -1.5
    ang = c.get("spike_angle", 0.0)
    w = 0.35 * cfg.psf_fwhm
    norm = 2 * math.sqrt(2 * math.pi) * w * 3.0 * math.pi
    if ang == 0.0:
        # spikes along the pixel axes (most stars) are sums of outer products
        x1, y1 = X[0], Y[:, 0]
        spikes = (np.outer(np.exp(-0.5 * (y1 / w) ** 2), 1.0 / (1.0 + (x1 / 3.0) ** 2))
                  + np.outer(1.0 / (1.0 + (y1 / 3.0) ** 2), np.exp(-0.5 * (x1 / w) ** 2))
                  ) / norm
    else:
        u = X * math.cos(ang) + Y * math.sin(ang)
        v = -X * math.sin(ang) + Y * math.cos(ang)
        spikes = (np.exp(-0.5 * (v / w) ** 2) / (1.0 + (u / 3.0) ** 2)
                  + np.exp(-0.5 * (u / w) ** 2) / (1.0 + (v / 3.0) ** 2)) / norm
    shape = (0.92 * core + 0.06 * halo + 0.02 * spikes) * scale ** 2
    mags = _mags_from_colours(c["mag_r"] + c["g_r"], c["g_r"], c["g_i"],
                              0.4 * (c["g_i"] - c["g_r"]))
    out += _fluxes(mags)[:, None, None] * shape[None]


@functools.lru_cache(maxsize=32)
def _cirrus_field(seed, slope):
    """A unit-variance Gaussian random field on the 64x64 grid with P(k) ~ k^-slope."""
    rng = np.random.default_rng(seed)
    kx = np.fft.fftfreq(SIZE)[None, :]
    ky = np.fft.fftfreq(SIZE)[:, None]
    k = np.hypot(kx, ky)
    k[0, 0] = 1.0
    amp = k ** (-slope / 2)
    amp[0, 0] = 0.0
    noise = rng.standard_normal((SIZE, SIZE)) + 1j * rng.standard_normal((SIZE, SIZE))
    field = np.fft.ifft2(noise * amp).real
    field = (field - field.mean()) / field.std()
    return field


def _draw_cirrus(c, cfg, npix, scale, out):
    field = _cirrus_field(c["seed"], c["slope"])
    # a positive, patchy sheet: exp keeps it positive and brighter where the field peaks
    sheet = np.exp(0.8 * field - 0.4)
    if npix != SIZE:
        from scipy.ndimage import zoom
        sheet = zoom(sheet, npix / SIZE, order=1, mode="reflect")
    sb_g = 10.0 ** (-0.4 * (c["mu"] - ZEROPOINT))        # nanomaggies per arcsec^2
    base = sb_g * scale ** 2 * sheet
    off = c["mags_offset"]
    ratios = np.array([10.0 ** (-0.4 * (off[b] - off["g"])) for b in RENDER_BANDS])
    out += ratios[:, None, None] * base[None]


def render_scene(params, *, survey="des", npix=SIZE, scale=SCALE):
    """Noise-free light of a scene in nanomaggies per pixel.

    Parameters
    ----------
    params : dict
        From :func:`draw_params`.
    survey : {"des", "hsc"}
    npix : int
        Image size in pixels (64 for the stored cutouts, 256 for the viewer's).
    scale : float
        Arcsec per pixel.

    Returns
    -------
    numpy.ndarray
        (4, npix, npix) float64 in bands g, r, i, z.
    """
    cfg = SURVEYS[survey]
    out = np.zeros((len(RENDER_BANDS), npix, npix))
    units, fluxes = [], []
    stamps = []
    for c in params["components"]:
        kind = c["kind"]
        if kind == "sersic":
            # rendered and convolved once, scaled per band
            units.append(_draw_sersic(c, npix, scale))
            fluxes.append(_fluxes(c["mags"]))
        elif kind in ("stars", "blobs"):
            if np.size(c["x"]):
                stamps.append(_compact_stamps(c, cfg, npix, scale))
        elif kind == "bright_star":
            _draw_bright_star(c, cfg, npix, scale, out)
        elif kind == "cirrus":
            _draw_cirrus(c, cfg, npix, scale, out)
        else:  # pragma: no cover - a programming error, not user input
            raise ValueError(f"unknown component {kind!r}")
    if stamps:
        # stars and small galaxies of the scene in one scatter-add
        _stamp_add(out, *(np.concatenate(p, axis=-1 if j == 1 else 0)
                          for j, p in enumerate(zip(*stamps))))
    if units:
        conv = _convolve_psf(np.stack(units), survey, scale)
        out += np.einsum("mb,myx->byx", np.array(fluxes), conv)
    return out


# --------------------------------------------------------------------------- colour image
def to_rgb(g, r, z, *, survey="des"):
    """The viewer's colour mapping (legacypipe ``sdss_rgb``) of g, r, z images.

    Parameters
    ----------
    g, r, z : numpy.ndarray
        Images in nanomaggies per 0.262" pixel.
    survey : {"des", "hsc"}
        Selects the scales, pedestal and softening.

    Returns
    -------
    numpy.ndarray
        (H, W, 3) uint8.
    """
    cfg = SURVEYS[survey]
    planes = []
    total = 0.0
    for img, band in ((g, "g"), (r, "r"), (z, "z")):
        plane, scale = cfg.rgb_scales[band]
        x = img * scale + cfg.rgb_m
        planes.append((plane, x))
        total = total + np.maximum(x, 0.0)
    total = total / 3.0
    f = np.arcsinh(cfg.rgb_q * total) / math.sqrt(cfg.rgb_q)
    total = np.where(total == 0.0, 1e-6, total)
    rgb = np.empty(g.shape + (3,), dtype=np.float64)
    ratio = f / total
    for plane, x in planes:
        np.multiply(x, ratio * 255.0, out=rgb[..., plane])
    rgb += 0.5
    return np.clip(rgb, 0, 255, out=rgb).astype(np.uint8)


def _jpeg(rgb, quality):
    """Encode to JPEG with Pillow and decode again (the compression artifacts stay)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality), subsampling=0)
    # the JPEG decoder directly: the same pixels as Image.open(...).convert("RGB")
    # without parsing the file's markers in Python
    h, w = rgb.shape[:2]
    return np.asarray(Image.frombytes("RGB", (w, h), buf.getvalue(), "jpeg", "RGB", ""))


_RGB_IDX = [RENDER_BANDS.index(b) for b in ("g", "r", "z")]


def _sky_sigmas(cfg, scale):
    return np.array([cfg.sky_sigma(b, scale) for b in RENDER_BANDS])


# --------------------------------------------------------------------------- one object
def _rng(seed, class_name, k):
    return np.random.default_rng(np.random.SeedSequence([int(seed), CLASS_INDEX[class_name],
                                                         int(k)]))


def simulate_one(class_name, k, *, seed=0, survey="des", return_scene=False):
    """Render and measure object ``k`` of a class.

    Parameters
    ----------
    class_name : {"lsbg", "artifact1", "artifact2"}
    k : int
        Index of the object within its class.
    seed : int
        Survey seed.
    survey : {"des", "hsc"}
    return_scene : bool
        Also return the parameters and the noise-free scene (for tests and figures).

    Returns
    -------
    image : numpy.ndarray
        (64, 64, 3) uint8 colour cutout.
    row : dict
        Catalog row: measured SourceExtractor-like columns, ``true_*`` columns, ...
    """
    images, rows, objs = _simulate_batch([(class_name, k)], seed, survey)
    if return_scene:
        return images[0], rows[0], objs[0].params, objs[0].scene
    return images[0], rows[0]


class _Candidate:
    """One object on its way through the redraw loop (its stream and latest attempt)."""

    __slots__ = ("class_name", "k", "rng", "subtype", "attempt", "params", "scene",
                 "white", "feats", "ok")

    def __init__(self, class_name, k, seed):
        self.class_name, self.k = class_name, int(k)
        self.rng = _rng(seed, class_name, k)
        self.subtype = draw_subtype(class_name, self.rng)
        self.attempt = 0


#: objects taken through each stage together (code and tables stay in the CPU caches:
#: ~10% faster than one object at a time); results do not depend on it
BATCH = 64


def _simulate_batch(items, seed, survey):
    """Images, catalog rows and candidates of objects ``(class_name, k)``.

    The stages (draw, render, noise, measure; then the cutout) run over all pending
    objects in turn.  Each object draws only from its own stream, in the same order
    whatever else is in the batch, so its result does not depend on the batch.
    """
    cfg = SURVEYS[survey]
    sig_bin = _sky_sigmas(cfg, SCALE)
    rms = dict(zip(FEATURE_BANDS, sig_bin))
    objs = [_Candidate(c, k, seed) for c, k in items]
    pending = objs
    while pending:
        for o in pending:
            o.attempt += 1
            o.params = draw_params(o.class_name, o.rng, survey=survey, subtype=o.subtype)
        for o in pending:
            o.scene = render_scene(o.params, survey=survey)
        for o in pending:
            # sky noise of the catalog bands; the z band's only once an object is kept
            o.white = o.rng.standard_normal((_N_CAT,) + o.scene.shape[1:])
        for o in pending:
            flux = o.scene[:_N_CAT] + o.white * sig_bin[:_N_CAT, None, None]
            # a failing object is dropped as soon as one cut fails (no full photometry)
            o.feats = measure(flux, rms=rms, pixel_scale=SCALE, zeropoint=ZEROPOINT,
                              cuts=SELECTION_CUTS)
            o.ok = passes_cuts(o.feats)
            if not o.ok and o.attempt == MAX_ATTEMPTS:
                # kept despite failing: its full measurement goes to the catalog
                o.feats = measure(flux, rms=rms, pixel_scale=SCALE, zeropoint=ZEROPOINT)
        pending = [o for o in pending if not o.ok and o.attempt < MAX_ATTEMPTS]
    images = np.empty((len(objs), SIZE, SIZE, 3), np.uint8)
    rows = []
    pos = _footprint(survey)
    for j, o in enumerate(objs):
        white_all = np.empty_like(o.scene)
        white_all[:_N_CAT] = o.white
        white_all[_N_CAT:] = o.rng.standard_normal((len(RENDER_BANDS) - _N_CAT,)
                                                   + o.scene.shape[1:])
        # the depth and the residual sky of the viewer's image vary from tile to tile
        tile = o.rng.standard_normal((3, 3))
        images[j] = _cutout(o.scene, white_all, cfg, tile=tile)
        row = {"class_name": o.class_name, "class_index": CLASS_INDEX[o.class_name],
               "label": int(o.class_name == "lsbg"), "survey": survey, "simulated": True,
               "sim_index": o.k}
        row.update({c: float(o.feats[c]) for c in SEXTRACTOR_COLUMNS})
        row.update(o.params["truth"])
        row.update({"true_subtype": o.params["subtype"], "true_attempts": o.attempt,
                    "true_pass_cuts": bool(o.ok)})
        ra, dec = pos[int(o.rng.integers(len(pos)))]
        row["ra"] = float((ra + o.rng.normal(0, 0.02)) % 360.0)
        row["dec"] = min(max(float(dec + o.rng.normal(0, 0.02)), -90.0), 90.0)
        rows.append(row)
        o.white = o.feats = None         # the scene and parameters stay for callers
    return images, rows, objs


def _cutout(scene, white, cfg, tile=None):
    """The stored colour cutout from the 64x64 scene and its sky noise.

    The scene holds, per 1.048" pixel, the light of the one 0.262" viewer pixel that
    the nearest-neighbour reduction keeps, times 16; the viewer's images are per 0.262"
    pixel (16 times less) and keep that pixel's own, uncorrelated, sky noise.
    ``tile`` (3, 3) standard normal numbers set the image's depth offset, residual sky
    and saturated fill in g, r, z (``cfg.depth_scatter``, ``cfg.sky_residual``,
    ``cfg.fill_scatter``); None: nominal.
    """
    idx = _RGB_IDX
    sig_nat = _sky_sigmas(cfg, NATIVE_SCALE)[idx] * cfg.pixel_noise
    img = scene[idx] / 16.0
    if cfg.saturation:
        img = _saturate(img, cfg, None if tile is None else tile[2])
    if tile is not None:
        sig_nat = sig_nat * 10.0 ** (0.4 * cfg.depth_scatter * tile[0])
        # mostly one residual for all bands (the same sky), a little per band
        resid = cfg.sky_residual[0] + cfg.sky_residual[1] * (0.9 * tile[1, 0] + 0.3 * tile[1])
        img += (sig_nat * resid)[:, None, None]
    img += white[idx] * sig_nat[:, None, None]
    rgb = to_rgb(img[0], img[1], img[2], survey=cfg.name)
    return _jpeg(rgb, cfg.jpeg_quality)


def _saturate(img, cfg, fill_noise=None):
    """Saturated star cores and their bleed trails in (g, r, z) images per 0.262" pixel.

    A pixel is saturated where any band exceeds its level; charge above it bleeds along
    the column, ``cfg.bleed`` pixels per e-fold of excess each way.  The coadd masks
    those pixels and the viewer shows the fill values (a flat violet disc and trail).
    """
    levels = np.array([cfg.saturation[b][0] for b in ("g", "r", "z")])
    ratio = (img / levels[:, None, None]).max(axis=0)
    sat = ratio > 1.0
    if not sat.any():
        return img
    # bleed: each saturated pixel spreads up and down its column by bleed * ln(ratio)
    reach = np.where(sat, np.ceil(cfg.bleed * np.log(np.maximum(ratio, 1.0))), 0).astype(int)
    mask = sat.copy()
    cols = np.flatnonzero(sat.any(axis=0))
    n = img.shape[-2]
    for j in cols:
        rows = np.flatnonzero(sat[:, j])
        for i in rows:
            r = reach[i, j]
            mask[max(i - r, 0):min(i + r + 1, n), j] = True
    fill = np.array([cfg.saturation[b][1] for b in ("g", "r", "z")])
    if fill_noise is not None:
        # which bands are masked, and how the gaps are filled, differ from star to star
        fill = fill * np.exp(cfg.fill_scatter * np.asarray(fill_noise))
    out = img.copy()
    out[:, mask] = fill[:, None]
    return out


def render_reference(params, *, survey="des", seed=0, noise=True):
    """The slow route of the paper: 256x256 at 0.262", viewer JPEG, PIL resize to 64x64.

    Parameters
    ----------
    params : dict
        From :func:`draw_params`.
    survey : {"des", "hsc"}
    seed : int
        Seed of the sky noise.
    noise : bool
        Add sky noise.

    Returns
    -------
    numpy.ndarray
        (64, 64, 3) uint8.
    """
    from PIL import Image
    cfg = SURVEYS[survey]
    scene = render_scene(params, survey=survey, npix=NATIVE_SIZE, scale=NATIVE_SCALE)
    img = scene[_RGB_IDX]
    if cfg.saturation:
        img = _saturate(img, cfg)
    if noise:
        rng = np.random.default_rng(seed)
        img = img + rng.standard_normal(img.shape) * (
            _sky_sigmas(cfg, NATIVE_SCALE) * cfg.pixel_noise)[_RGB_IDX, None, None]
    rgb = _jpeg(to_rgb(img[0], img[1], img[2], survey=survey), cfg.jpeg_quality)
    return np.asarray(Image.fromarray(rgb).resize((SIZE, SIZE), Image.NEAREST))


def render_fast_noiseless(params, *, survey="des"):
    """The direct 64x64 route without noise (the counterpart of ``render_reference``)."""
    cfg = SURVEYS[survey]
    scene = render_scene(params, survey=survey)
    white = np.zeros_like(scene)
    return _cutout(scene, white, cfg)


# --------------------------------------------------------------------------- many objects
def _check_args(n_per_class, survey, classes):
    if survey not in SURVEYS:
        raise InputError(f"unknown survey {survey!r}; choose one of {', '.join(SURVEYS)}")
    classes = tuple(classes)
    if not classes:
        raise InputError("no class given; choose among lsbg, artifact1, artifact2")
    for c in classes:
        if c not in CLASS_INDEX:
            raise InputError(f"unknown class {c!r}; choose among lsbg, artifact1, artifact2")
    if len(set(classes)) != len(classes):
        raise InputError(f"a class is repeated in {','.join(classes)}")
    if int(n_per_class) <= 0:
        raise InputError(f"n_per_class must be positive, got {n_per_class}")
    return int(n_per_class), classes


def object_order(*, n_per_class, classes, seed=0):
    """The deterministic interleaving of the classes: a list of (class_name, k).

    The order is a permutation fixed by ``seed`` (and the sizes); object ``(c, k)``
    itself does not depend on it.
    """
    items = [(c, k) for c in classes for k in range(n_per_class)]
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 7919])).permutation(
        len(items))
    return [items[i] for i in perm]


def _render_block(items, seed, survey):
    images, rows = [], []
    for i in range(0, len(items), BATCH):
        imgs, r, _ = _simulate_batch(items[i:i + BATCH], seed, survey)
        images.append(imgs)
        rows.extend(r)
    if not images:
        return np.empty((0, SIZE, SIZE, 3), np.uint8), rows
    return np.concatenate(images), rows


_COLUMN_ORDER = (["ra", "dec", "label", "class_name", "class_index", "survey", "simulated",
                  "sim_index"] + SEXTRACTOR_COLUMNS)


def _to_frame(rows):
    df = pd.DataFrame(rows)
    rest = [c for c in df.columns if c not in _COLUMN_ORDER]
    df = df[_COLUMN_ORDER + sorted(rest)]
    return df.astype({"label": "int64", "class_index": "int64", "simulated": bool})


def simulate_objects(*, n_per_class, survey="des", classes=("lsbg", "artifact2"), seed=0,
                     start=0, stop=None):
    """Simulate objects in memory (for tests and notebooks).

    Parameters
    ----------
    n_per_class : int
        Objects per class.
    survey : {"des", "hsc"}
    classes : sequence of str
        Among ``lsbg``, ``artifact1``, ``artifact2``.
    seed : int
    start, stop : int, optional
        Render only positions ``start:stop`` of the interleaved order.

    Returns
    -------
    images : numpy.ndarray
        (N, 64, 64, 3) uint8.
    catalog : pandas.DataFrame
    """
    n_per_class, classes = _check_args(n_per_class, survey, classes)
    order = object_order(n_per_class=n_per_class, classes=classes, seed=seed)[start:stop]
    images, rows = _render_block(order, seed, survey)
    return images, _to_frame(rows)


def _job(n_per_class, survey, classes, seed):
    return f"simulate:v{GENERATOR_VERSION}:{survey}:{','.join(classes)}:{n_per_class}:{seed}"


def simulate_survey(out, *, n_per_class, survey="des", classes=("lsbg", "artifact2"), seed=0,
                    workers=None, chunk_size=1024, overwrite=False, progress=True):
    """Simulate a survey into a cutout store, chunk by chunk, in parallel.

    A rerun of the same command resumes an interrupted job; a different job on the same
    path is refused unless ``overwrite``.

    Parameters
    ----------
    out : str or path-like
        Store directory.
    n_per_class : int
        Objects per class (the paper: 20,000).
    survey : {"des", "hsc"}
    classes : sequence of str
        Among ``lsbg``, ``artifact1``, ``artifact2``.
    seed : int
    workers : int, optional
        Worker processes (default: all cores); 1 renders in this process.
    chunk_size : int
        Images per chunk on disk (the unit of resumption).
    overwrite : bool
        Replace an existing store.
    progress : bool
        Show a progress bar.

    Returns
    -------
    deepshadows_lib.store.Store
        The finished store, opened lazily.
    """
    from tqdm.auto import tqdm

    from .store import StoreWriter
    n_per_class, classes = _check_args(n_per_class, survey, classes)
    order = object_order(n_per_class=n_per_class, classes=classes, seed=seed)
    attrs = {"simulated": True, "source": "simulate", "survey": survey, "seed": int(seed),
             "classes": list(classes), "n_per_class": n_per_class,
             "generator_version": GENERATOR_VERSION,
             "job": _job(n_per_class, survey, classes, seed),
             "label_note": "synthetic data (deepshadows_lib.simulate)"}
    if not overwrite and Path(out).is_dir():
        from .store import open_store, store_info
        info = store_info(out)
        if info.get("complete") and info.get("job") == attrs["job"] and info.get(
                "chunk_size") == chunk_size:
            return open_store(out, lazy=True)     # the same job, already done
    writer = StoreWriter(out, n=len(order), chunk_size=chunk_size, attrs=attrs,
                         overwrite=overwrite)
    pending = writer.pending
    workers = int(workers or os.cpu_count() or 1)
    # blocks smaller than a chunk keep all workers busy and the bar moving
    block = max(16, min(256, chunk_size // max(1, workers)))
    bar = tqdm(total=len(order), disable=not progress, unit="cutout",
               desc=f"simulate {survey}",
               initial=len(order) - sum(writer.chunk_slice(k).stop - writer.chunk_slice(k).start
                                        for k in pending))
    try:
        if workers == 1:
            for k in pending:
                sl = writer.chunk_slice(k)
                imgs, rows = _render_block(order[sl], seed, survey)
                writer.write_chunk(k, imgs, _to_frame(rows))
                bar.update(len(rows))
        else:
            _run_parallel(writer, pending, order, seed, survey, workers, block, bar)
    finally:
        bar.close()
    return writer.finalize()


def _warm(survey):
    """Load what every object needs (modules, catalogs, PSF, GalSim tables) once.

    Called in the parent before the pool starts: forked workers inherit it instead of
    each paying ~1 s of imports and catalog parsing.
    """
    simulate_one("lsbg", 0, seed=0, survey=survey)


def _run_parallel(writer, pending, order, seed, survey, workers, block, bar):
    _warm(survey)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # bounded look-ahead: at most two chunks of work in flight
        window = max(1, 2)
        todo = list(pending)
        inflight = []
        while todo or inflight:
            while todo and len(inflight) < window:
                k = todo.pop(0)
                sl = writer.chunk_slice(k)
                items = order[sl]
                futs = [pool.submit(_render_block, items[i:i + block], seed, survey)
                        for i in range(0, len(items), block)]
                inflight.append((k, futs))
            k, futs = inflight.pop(0)
            imgs, rows = [], []
            for f in futs:
                a, r = f.result()
                imgs.append(a)
                rows.extend(r)
                bar.update(len(r))
            writer.write_chunk(k, np.concatenate(imgs), _to_frame(rows))

"""Components of a scene: Sersic profiles, field stars and galaxies, bright stars.

Each function returns plain dicts (positions in arcsec from the cutout centre, AB
magnitudes) that :mod:`.render` draws; the numbers come from the object's own random
stream, in a fixed order.
"""

import functools
import math

import numpy as np
from scipy.special import gamma, gammaincinv

from .samples import _catalog_rows
from .surveys import SCALE, SIZE, ZEROPOINT, _mags_from_colours


@functools.lru_cache(maxsize=256)
def _sersic_norm_n(n):
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

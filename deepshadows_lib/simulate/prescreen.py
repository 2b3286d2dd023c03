"""Cheap analytic pre-screens of drawn parameters, before anything is rendered.

Rendering and measuring an object costs ~100 times more than drawing it; these rules
redraw the parameters that would almost surely fail the catalog cuts.  What passes them
is still rendered, measured and cut (:mod:`.objects`).
"""

import math

from scipy.special import gammaincinv

from ..photometry import SELECTION_CUTS
from .components import _quantize_n, _sersic_norm
from .surveys import SURVEYS, ZEROPOINT


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
    n = c["n"]
    b = float(gammaincinv(2 * n, 0.5))
    flux = 10.0 ** (-0.4 * (c["mags"]["r"] - ZEROPOINT))
    r = math.hypot(c["x"], c["y"]) / c["hlr"]
    sb = flux * _sersic_norm(n, c["hlr"], 1.0) * math.exp(-b * r ** (1.0 / n))
    return ZEROPOINT - 2.5 * math.log10(max(sb, 1e-300))

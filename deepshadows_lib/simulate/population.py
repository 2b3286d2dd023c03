"""The population: drawing the components of one object of each class.

LSBGs, type-2 artifacts (``star_halo``, ``galaxy_outskirts``, ``spiral_knot``,
``cirrus``, ``blend``) and type-1 artifacts (``compact``, ``colour_outlier``,
``star_wing``), each with the field around it.
"""

import math

import numpy as np

from .components import (CENTRAL_SB_SHIFT, DES_SIZE_SCATTER, _blobs, _bright_star, _field,
                         _galaxy_colours, _lsbg_like, _mags_from_colours, _polar,
                         _quantize_n, _sersic, _sersic_mag)
from .prescreen import PRESCREEN_TRIES, _likely_passes, _plausible
from .surveys import SCALE


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

"""GalSim's private fast paths behind one door, with a public-API fallback.

Drawing a Sersic profile happens once or twice per rendered object, and GalSim's public
``shear()`` and ``drawImage()`` spend more time parsing arguments than drawing a 64x64
image.  The renderer therefore calls GalSim's underscore API (``GSObject._shear``,
``galsim._Shear``, ``GSObject._drawReal``) -- but only through this module.

Those names are private to GalSim and may change.  On first use :func:`fast_path_available`
probes them once: it draws a small sheared, shifted profile both ways and compares.  If
a private name is missing, its signature changed, or its pixels differ from the public
route, one ``RuntimeWarning`` says so and every call takes the public route:

- ``gal._shear(galsim._Shear(g))``  ->  ``gal.shear(galsim.Shear(g))``
  (``Shear(complex)`` stores ``g`` as given; ``shear()`` builds the same matrix);
- ``gal._drawReal(image, None, (dx, dy), 1.0)``  ->  ``gal.shift(dx, dy).drawReal(image)``
  (``drawReal`` samples the profile at the pixel centres, as ``method="no_pixel"``, with
  the profile's origin at the image's pixel (0, 0); the shift is folded into the same
  transformation that ``_drawReal`` receives).

The two routes give the same pixels (bitwise with GalSim 2.8;
``tests/test_simulate.py`` checks it), the public one only slower.
"""

import functools
import warnings

# galsim costs ~0.4 s to import; this module exists only to call it
import galsim
import numpy as np

__all__ = ["fast_path_available", "shear", "draw_no_pixel"]

#: relative tolerance of the probe (the routes agree bitwise where the private API works)
PROBE_RTOL = 1e-12


def _fast_shear(gal, g):
    return gal._shear(galsim._Shear(g))


def _public_shear(gal, g):
    return gal.shear(galsim.Shear(g))


def _fast_draw(gal, image, dx, dy):
    gal._drawReal(image, None, (dx, dy), 1.0)


def _public_draw(gal, image, dx, dy):
    gal.shift(dx, dy).drawReal(image)


def _probe_images():
    """(fast, public) drawings of a small sheared, shifted Sersic profile."""
    g = 0.3 * complex(np.cos(0.8), np.sin(0.8))
    gal = galsim.Sersic(n=1.5, half_light_radius=1.2, flux=1.0)
    out = []
    for shear_fn, draw_fn in ((_fast_shear, _fast_draw), (_public_shear, _public_draw)):
        image = galsim.ImageD(12, 12, scale=0.5)
        image.setCenter(0, 0)
        draw_fn(shear_fn(gal, g), image, 0.3, -0.7)
        out.append(image.array.copy())
    return out


@functools.lru_cache(maxsize=None)
def fast_path_available():
    """Whether GalSim's private fast paths work here (probed once per process).

    Returns
    -------
    bool
        True when ``_shear``, ``_Shear`` and ``_drawReal`` exist and draw the same
        pixels as the public API; otherwise False, after one ``RuntimeWarning``.
    """
    try:
        fast, public = _probe_images()
    except Exception as exc:  # noqa: BLE001 - any failure of a private API means: don't use it
        reason = f"{type(exc).__name__}: {exc}"
    else:
        if np.allclose(fast, public, rtol=PROBE_RTOL, atol=PROBE_RTOL * np.abs(public).max()):
            return True
        reason = "its pixels differ from the public API's"
    warnings.warn(f"GalSim {galsim.__version__}: its private fast paths (_shear, _Shear, "
                  f"_drawReal) are not usable ({reason}); drawing with the public API "
                  f"instead (the same pixels, slower)", RuntimeWarning, stacklevel=3)
    return False


def shear(gal, g):
    """``gal`` sheared by the complex reduced shear ``g = g1 + 1j g2``."""
    if fast_path_available():
        return _fast_shear(gal, g)
    return _public_shear(gal, g)


def draw_no_pixel(gal, image, dx, dy):
    """Draw ``gal`` into ``image`` (replacing its pixels), sampled at pixel centres.

    Parameters
    ----------
    gal : galsim.GSObject
    image : galsim.Image
        float64, contiguous, with a pixel scale; the profile's origin lands on the
        image's pixel (0, 0) (``image.setCenter(0, 0)`` puts that at the centre).
    dx, dy : float
        Shift of the profile, in arcsec.
    """
    if fast_path_available():
        _fast_draw(gal, image, dx, dy)
    else:
        _public_draw(gal, image, dx, dy)

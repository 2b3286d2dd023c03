"""Rendering a scene: the noise-free light of its components in g, r, i, z.

Sersic profiles are drawn by GalSim (through :mod:`._galsim_fast`) and convolved with
the PSF together; stars and small galaxies are analytic stamps added in one
scatter-add; bright stars and cirrus are analytic images.
"""

import functools
import math

# galsim costs ~0.4 s to import; simulate is only imported to simulate, so at the top
import galsim
import numpy as np
from scipy import fft
from scipy.ndimage import zoom

from . import _galsim_fast
from .surveys import (NATIVE_SCALE, RENDER_BANDS, SCALE, SIZE, SURVEYS, ZEROPOINT, _fluxes,
                      _mags_from_colours)


@functools.lru_cache(maxsize=8)
def _psf(survey):
    cfg = SURVEYS[survey]
    return galsim.Moffat(beta=cfg.moffat_beta, fwhm=cfg.psf_fwhm)


@functools.lru_cache(maxsize=8)
def _sersic_canvas(npix, scale):
    """A reusable GalSim image with its origin at the centre pixel (npix/2, 0-based)."""
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
    gal = galsim.Sersic(n=c["n"], half_light_radius=c["hlr"], flux=1.0)
    if c["q"] < 1.0:
        # shear(q=, beta=) without its argument parsing: reduced shear (1-q)/(1+q)
        g = (1.0 - c["q"]) / (1.0 + c["q"]) * complex(math.cos(2 * c["beta"]),
                                                     math.sin(2 * c["beta"]))
        gal = _galsim_fast.shear(gal, g)
    # drawImage(method="no_pixel", offset=(x, y) / scale) without its ~0.1 ms of
    # argument handling: GalSim centres the profile on the true centre of the even
    # image, half a pixel below the pixel that the canvas has at (0, 0)
    canvas = _sersic_canvas(npix, scale)
    _galsim_fast.draw_no_pixel(gal, canvas, c["x"] - 0.5 * scale, c["y"] - 0.5 * scale)
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
    _galsim_fast.draw_no_pixel(gal, patch, c["x"] - 0.5 * fine + shift_x,
                               c["y"] - 0.5 * fine + shift_y)
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
    half = int(math.ceil(8.0 / scale))
    prof = galsim.Convolve(_psf(survey), galsim.Pixel(NATIVE_SCALE))
    k = prof.drawImage(nx=2 * half + 1, ny=2 * half + 1, scale=scale, method="no_pixel",
                       dtype=np.float64).array
    return k / k.sum()


@functools.lru_cache(maxsize=8)
def _psf_kernel_ft(survey, scale, npix):
    """Real FFT of the PSF kernel on the padded grid of a linear ('full') convolution."""
    kernel = _psf_kernel(survey, scale)
    size = fft.next_fast_len(npix + kernel.shape[0] - 1, real=True)
    return fft.rfft2(kernel, s=(size, size)), size, kernel.shape[0] // 2


def _convolve_psf(images, survey, scale):
    """Convolve (M, N, N) images with the PSF kernel ('same' size, zero outside).

    The same as ``scipy.signal.fftconvolve(images, kernel[None], mode="same")`` with
    the kernel's transform computed once per survey.
    """
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
    idx = (base[:, None] + off[None, :]).ravel()                   # (n * S * S,)
    unit = stamps.reshape(len(base), -1)
    # one bincount per band with the same indices: each pixel sums its sources in the
    # same order as one bincount over all bands would (the same numbers), without the
    # (B, n, S*S) index array
    for b in range(nb):
        canvas = np.bincount(idx, (flux[b, :, None] * unit).ravel(), minlength=side * side)
        out[b] += canvas.reshape(side, side)[size:size + n, size:size + n]


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

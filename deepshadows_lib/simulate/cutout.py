"""The stored colour cutout: the viewer's sdss_rgb mapping, JPEG, saturation, noise.

Also the slow route of the paper (256x256 viewer JPEG reduced with PIL's nearest
filter, as :func:`deepshadows_lib.cutouts.decode_cutout` reduces a real one:
:func:`render_reference`) that the direct 64x64 route is checked against.
"""

import io
import math

import numpy as np
from PIL import Image

from ..cutouts.decode import _resample
from .render import render_scene
from .surveys import NATIVE_SCALE, NATIVE_SIZE, RENDER_BANDS, SIZE, SURVEYS, _sky_sigmas


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
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality), subsampling=0)
    # the JPEG decoder directly: the same pixels as Image.open(...).convert("RGB")
    # without parsing the file's markers in Python
    h, w = rgb.shape[:2]
    return np.asarray(Image.frombytes("RGB", (w, h), buf.getvalue(), "jpeg", "RGB", ""))


_RGB_IDX = [RENDER_BANDS.index(b) for b in ("g", "r", "z")]


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
    # reduced as the cutout client reduces a real viewer cutout (the paper's NEAREST)
    return np.asarray(Image.fromarray(rgb).resize((SIZE, SIZE), _resample()))


def render_fast_noiseless(params, *, survey="des"):
    """The direct 64x64 route without noise (the counterpart of ``render_reference``)."""
    cfg = SURVEYS[survey]
    scene = render_scene(params, survey=survey)
    white = np.zeros_like(scene)
    return _cutout(scene, white, cfg)

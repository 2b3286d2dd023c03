"""The synthetic surveys: geometry of the cutouts, instrument, depth and colour mapping.

:class:`SurveyConfig` describes a survey and :data:`SURVEYS` holds the DES-like and
HSC-like ones; the module also fixes the cutout grid (64x64 at 1.048"), the zero point
and the render bands, and converts magnitudes and depths into nanomaggies.
"""

import dataclasses

import numpy as np

from .. import schema
from ..cutouts.colour import VIEWER_RGB

#: bump when the output for a given seed changes; recorded in every store
#: (1.0.1: an object with an unmeasured feature is redrawn; 1.1: parameter pre-screen
#: before rendering, z-band noise drawn only once an object is kept; 1.2: cuspy Sersic
#: profiles oversampled around their centre only, star_halo pre-screen; 2.0: calibrated
#: on the real DES cutouts: nearest-neighbour reduction, viewer noise, saturation and
#: bleed trails, field-source number counts and colours, DES-like central objects)
GENERATOR_VERSION = "2.0"

NATIVE_SCALE = 0.262     # arcsec per pixel of the viewer's cutouts
NATIVE_SIZE = 256        # pixels of the viewer's cutouts
SIZE = schema.CUTOUT_SIZE  # pixels of the stored cutouts
SCALE = NATIVE_SCALE * NATIVE_SIZE / SIZE   # 1.048 arcsec per stored pixel
ZEROPOINT = 22.5         # nanomaggies
RENDER_BANDS = ("g", "r", "i", "z")   # g, r, z make the colour image; g, r, i the catalog
# the catalog bands lead RENDER_BANDS, so that a slice (a view) selects them
_N_CAT = len(schema.BANDS)
assert RENDER_BANDS[:_N_CAT] == tuple(schema.BANDS)


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
        # the viewer renders its DECam layers with legacypipe's own parameters
        rgb_scales=dict(VIEWER_RGB["scales"]), rgb_m=VIEWER_RGB["m"],
        rgb_q=VIEWER_RGB["Q"], jpeg_quality=90, pixel_noise=0.57,
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


def _mags_from_colours(mag_g, g_r, g_i, i_z):
    return {"g": mag_g, "r": mag_g - g_r, "i": mag_g - g_i, "z": mag_g - g_i - i_z}


def _fluxes(mags):
    return np.array([10.0 ** (-0.4 * (mags[b] - ZEROPOINT)) for b in RENDER_BANDS])


def _sky_sigmas(cfg, scale):
    return np.array([cfg.sky_sigma(b, scale) for b in RENDER_BANDS])

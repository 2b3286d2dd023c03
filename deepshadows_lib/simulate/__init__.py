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
   with sep (:func:`deepshadows_lib.photometry.measure`) in g, r, i like SourceExtractor.
   The paper's candidate selection (:data:`deepshadows_lib.photometry.SELECTION_CUTS`) is
   applied to what is measured; an object that fails is redrawn from the continuation
   of its own stream, exactly as the real catalog kept only objects that passed.  A
   cheap pre-screen of the drawn parameters (:func:`.prescreen._likely_passes`) redraws,
   before rendering, the draws that would almost surely fail (bright stars or host galaxies
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
``Image.resize((64, 64))`` under Python 2.7.13 (its ``File_Creation`` notebook's
metadata; the other notebooks ran 3.6.9), i.e. with Pillow <= 6.2, whose default filter
is ``NEAREST``: each stored pixel is one 0.262" pixel of the viewer's image, with that
pixel's own, uncorrelated noise (the real cutouts' noise is ~6 times that of a bicubic
reduction and not positively correlated; ``deepshadows_lib.realism``).  Here the scene is
rendered directly at 64x64 on a 4 x 0.262" = 1.048" grid with the response of a 0.262"
pixel, and white noise at the viewer image's per-pixel level is added.
:func:`render_reference` renders the slow route (256x256, JPEG, nearest reduction: the
reduction the cutout client applies to real viewer cutouts,
:data:`deepshadows_lib.cutouts.RESIZE_FILTER`) and ``tests/test_simulate.py`` compares
them.

Calibration against real DES cutouts
------------------------------------
Generator 2.0 is calibrated on the per-image statistics of the 36 real cutouts of the
paper's Fig. 6 (``deepshadows_lib.realism``, ``Datasets/real_cutout_stats.csv``): the
nearest-neighbour reduction, the per-pixel noise of the viewer's images
(:attr:`SurveyConfig.pixel_noise`) and its spread between tiles, the residual sky,
saturated star cores and bleed trails, field-source number counts and colours
(:data:`FIELD_COUNTS`), the brightness, size and z-band colour of the central diffuse
light (:data:`CENTRAL_SB_SHIFT`, :data:`DES_SIZE_SCATTER`, :data:`DIFFUSE_I_Z`).

Modules
-------
surveys       SurveyConfig, SURVEYS, the cutout grid, zero point and bands
samples       the HSC samples and footprints the objects are resampled from
components    Sersic profiles, field stars and galaxies, bright stars
prescreen     cheap analytic pre-screens of drawn parameters
population    the components of one object of each class (draw_params)
render        the noise-free scene (GalSim and analytic profiles, PSF)
_galsim_fast  GalSim's private fast paths, probed, with a public-API fallback
cutout        the colour cutout (sdss_rgb, JPEG, saturation) and the slow reference route
objects       one object's stream and the draw-render-measure-redraw loop
survey        many objects: order, batches, stores written in parallel, resume
"""

# Besides __all__, the package re-exports the constants and the private helpers that the
# tests and notebooks reach as simulate.NAME.  Patching one here does not change the
# module that uses it: patch it there (e.g. simulate.survey.BATCH).
# ruff: noqa: F401
from .. import schema
from .components import (CENTRAL_SB_SHIFT, DES_SIZE_SCATTER, DIFFUSE_I_Z, FIELD_COUNTS,
                         _field)
from .cutout import _cutout, _jpeg, _saturate, render_fast_noiseless, render_reference, to_rgb
from .objects import MAX_ATTEMPTS, simulate_one
from .population import _DRAW, draw_params, draw_subtype
from .prescreen import DETECTION_MU_LIMIT, PRESCREEN_TRIES, STAR_HALO_CONTRAST, _likely_passes
from .render import (CUSP_HALF, CUSP_N, OVERSAMPLE, _convolve_psf, _draw_sersic, _psf_kernel,
                     _stamp_add, render_scene)
from .survey import BATCH, _job, object_order, simulate_objects, simulate_survey
from .surveys import (GENERATOR_VERSION, NATIVE_SCALE, NATIVE_SIZE, RENDER_BANDS, SCALE, SIZE,
                      SURVEYS, ZEROPOINT, SurveyConfig, _sky_sigmas)

__all__ = ["GENERATOR_VERSION", "CLASSES", "CLASS_INDEX", "SURVEYS", "SurveyConfig",
           "simulate_objects", "simulate_survey", "simulate_one", "draw_params",
           "render_scene", "render_reference", "to_rgb", "object_order"]

#: class names in the order of their three-class index (artifact2 = 0, lsbg = 1, artifact1 = 2)
CLASSES, CLASS_INDEX = schema.CLASSES, schema.CLASS_INDEX

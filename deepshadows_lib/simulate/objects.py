"""One object at a time: its random stream and the draw-render-measure-redraw loop.

Object ``k`` of class ``c`` with seed ``s`` owns the stream
``numpy.random.default_rng(SeedSequence([s, class_index, k]))``; an object failing the
catalog cuts is redrawn from the continuation of that stream.
"""

import numpy as np

from .. import schema
from ..photometry import BANDS as FEATURE_BANDS
from ..photometry import SELECTION_CUTS, SEXTRACTOR_COLUMNS, measure, passes_cuts
from .cutout import _cutout
from .population import draw_params, draw_subtype
from .render import render_scene
from .samples import _footprint
from .surveys import RENDER_BANDS, SCALE, SIZE, SURVEYS, ZEROPOINT, _N_CAT, _sky_sigmas


MAX_ATTEMPTS = 40        # redraws before an object is kept despite failing the cuts


def _rng(seed, class_name, k):
    return np.random.default_rng(np.random.SeedSequence([int(seed), schema.CLASS_INDEX[class_name],
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
        row = {"class_name": o.class_name, "class_index": schema.CLASS_INDEX[o.class_name],
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

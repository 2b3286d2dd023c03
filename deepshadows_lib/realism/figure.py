"""The paper's Fig. 6 as a source of real cutouts: cutting them out, and the round trip."""

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .statistics import SIZE


#: the figure's drawing of a cutout: nearest-neighbour blocks at FIGURE_OVERSAMPLE times
#: the panel size, reduced with a Lanczos filter to the panel's pixels in the published
#: PNG (130 to 132 px, taken in turn)
FIGURE_PANELS, FIGURE_OVERSAMPLE = (131, 130, 132), 4
#: the panel sizes (px, width and height) that the extraction accepts: the published
#: figure draws a 64-px cutout at 130-132 px; a rescaled or cropped figure is refused, as
#: its panels would not be the cutouts at the drawing the statistics were chosen for
FIGURE_PANEL_RANGE = (min(FIGURE_PANELS) - 3, max(FIGURE_PANELS) + 3)
#: sub-pixel positions (in figure pixels) of a panel on the figure's grid, in turn
FIGURE_PHASES = (0.0, 0.2, -0.2)


def figure_round_trip(images, *, panels=FIGURE_PANELS, oversample=FIGURE_OVERSAMPLE):
    """Pass cutouts through the paper's figure and back, as the real ones were.

    The real cutouts are known only as drawn in Fig. 6 (~131 px per 64-px cutout).  Its
    panels are not clean nearest-neighbour blocks: 4.5% of horizontally neighbouring
    pixels are equal (a nearest-neighbour drawing: ~52%), and the neighbouring-pixel
    correlations of a panel are 0.79, 0.48, 0.39, 0.38 at lags 1-4.  A nearest-neighbour
    drawing at ``oversample`` times the panel size reduced with PIL's Lanczos filter
    gives 5.8% and 0.76, 0.46, 0.37, 0.33 on synthetic cutouts, and its slight
    sharpening is what makes the real noise anti-correlated after extraction.  The same
    extraction as :func:`extract_figure_cutouts` (nearest, block centres) follows.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 64, 64, 3) uint8.
    panels : sequence of int
        Panel sizes in the figure, used in turn (image k gets ``panels[k % len]``),
        each at the sub-pixel phases :data:`FIGURE_PHASES` in turn.
    oversample : int

    Returns
    -------
    numpy.ndarray
        (N, 64, 64, 3) uint8.
    """
    from PIL import Image
    out = np.empty_like(np.asarray(images))
    for k, im in enumerate(images):
        panel = panels[k % len(panels)]
        big = panel * oversample
        x = np.asarray(Image.fromarray(np.asarray(im)).resize((big, big), Image.NEAREST))
        # where the panel falls on the figure's pixel grid: a sub-pixel phase, in turn
        pad = oversample
        x = Image.fromarray(np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
        d = pad + FIGURE_PHASES[(k // len(panels)) % len(FIGURE_PHASES)] * oversample
        x = x.resize((panel, panel), Image.LANCZOS, box=(d, d, d + big, d + big))
        out[k] = np.asarray(x.resize((SIZE, SIZE), Image.NEAREST))
    return out


# --------------------------------------------------------------------------- the figure
#: the paper's Fig. 6 (Grad_CAM.png, 1716x950): the four blocks of cutouts (not the
#: Grad-CAM maps beside them), their class and the CNN's verdict
FIGURE_LAYOUT = (("TN", "artifact2", 0, 0), ("FN", "lsbg", 0, 1),
                 ("FP", "artifact2", 1, 0), ("TP", "lsbg", 1, 1))


def _runs(profile, threshold):
    on = profile > threshold
    runs, start = [], None
    for i, v in enumerate(on):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(on)))
    return runs


def extract_figure_cutouts(path):
    """Cut the 36 real cutouts out of the paper's Fig. 6 and resample them to 64x64.

    The panels are found as the non-white boxes of the figure (12 columns, 6 rows);
    columns 1-3 and 7-9 hold the cutouts, the others their Grad-CAM maps.  Each panel
    (~131 px, the 64-px cutout drawn with nearest-neighbour blocks; panels outside
    :data:`FIGURE_PANEL_RANGE` are refused) is resampled by
    taking the pixel at the centre of each block (PIL ``NEAREST``), which gives back the
    stored pixels up to the figure's own rounding.

    Parameters
    ----------
    path : str or path-like
        ``Grad_CAM.png`` of the paper.

    Returns
    -------
    images : numpy.ndarray
        (36, 64, 64, 3) uint8.
    meta : pandas.DataFrame
        ``group``, ``class_name``, ``row``, ``col`` of each cutout.

    Raises
    ------
    InputError
        The file is not an image, or not the paper's Fig. 6 at its published size
        (12x6 panels of :data:`FIGURE_PANEL_RANGE` px).
    """
    from PIL import Image
    path = Path(path)
    try:
        fig = Image.open(path).convert("RGB")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the figure: {exc}", path=path) from None
    a = np.asarray(fig)
    ink = a.min(axis=2) < 235
    cols = [r for r in _runs(ink.mean(axis=0), 0.3) if r[1] - r[0] > 60]
    rows = [r for r in _runs(ink.mean(axis=1), 0.3) if r[1] - r[0] > 60]
    if len(cols) != 12 or len(rows) != 6:
        raise InputError(f"expected 12 columns and 6 rows of panels, found {len(cols)} and "
                         f"{len(rows)}: not the paper's Fig. 6", path=path)
    lo, hi = FIGURE_PANEL_RANGE
    sizes = [b - a for a, b in cols + rows]
    if not all(lo <= n <= hi for n in sizes):
        raise InputError(f"panels of {min(sizes)}-{max(sizes)} px, expected {lo}-{hi} px "
                         f"(the paper's Fig. 6 at its published size, 1716x950 px; this "
                         f"one is {a.shape[1]}x{a.shape[0]}): a rescaled or cropped figure",
                         path=path)
    images, meta = [], []
    for group, cls, brow, bcol in FIGURE_LAYOUT:
        for i in range(3):
            for j in range(3):
                y0, y1 = rows[3 * brow + i]
                x0, x1 = cols[6 * bcol + j]
                panel = fig.crop((x0, y0, x1, y1)).resize((SIZE, SIZE), Image.NEAREST)
                images.append(np.asarray(panel))
                meta.append({"group": group, "class_name": cls, "row": i, "col": j})
    return np.stack(images), pd.DataFrame(meta)

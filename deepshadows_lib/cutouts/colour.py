"""The viewer's colour mapping: g, r, z images to an 8-bit RGB image.

The Legacy Survey viewer renders its ``jpeg-cutout`` images with legacypipe's
``sdss_rgb`` (Lupton et al. 2004 asinh stretch): each band is scaled, offset by a
pedestal ``m``, and the three are stretched together by ``asinh(Q * I) / sqrt(Q)``, where
``I`` is the mean of the (clipped) scaled bands, so that colours are preserved while the
brightness is compressed.  Here every parameter is explicit, in the manner of
:func:`astropy.visualization.make_lupton_rgb`, so that a simulated survey and a reader
can reproduce the viewer's images without hidden defaults.
"""

import math

import numpy as np

from .. import schema

__all__ = ["sdss_rgb", "VIEWER_RGB"]

#: legacypipe's ``sdss_rgb`` parameters for g, r, z, with which the viewer renders its
#: DECam (DES, DECaLS) layers: z in red, r in green, g in blue
VIEWER_RGB = {"scales": {"g": (2, 6.0), "r": (1, 3.4), "z": (0, 2.2)}, "m": 0.03, "Q": 20.0}


def sdss_rgb(images, *, scales, m, Q, bands=schema.IMAGE_BANDS):
    """The viewer's asinh colour mapping of band images to uint8 RGB.

    Parameters
    ----------
    images : sequence of numpy.ndarray
        One image per band of ``bands``, in nanomaggies per pixel, all the same shape.
    scales : dict
        ``band -> (plane, scale)``: the RGB plane (0 red, 1 green, 2 blue) each band is
        drawn in and the factor it is multiplied by (the viewer's DES mapping puts z in
        red, r in green and g in blue).
    m : float
        Pedestal added to every scaled band before the stretch.
    Q : float
        Softening of the asinh stretch.
    bands : sequence of str, optional
        Names of ``images``, in order (default: the viewer's g, r, z).

    Returns
    -------
    numpy.ndarray
        (H, W, 3) uint8: ``clip(x_b * asinh(Q * I) / sqrt(Q) / I * 255 + 0.5, 0, 255)``
        in the plane of each band ``b``, with ``x_b = image_b * scale_b + m`` and
        ``I = mean_b max(x_b, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> g = r = z = np.zeros((2, 2))
    >>> sdss_rgb([g, r, z], scales={"g": (2, 6.0), "r": (1, 3.4), "z": (0, 2.2)},
    ...          m=0.03, Q=20.0)[0, 0]
    array([8, 8, 8], dtype=uint8)
    """
    if len(images) != len(bands):
        raise ValueError(f"{len(images)} images for {len(bands)} bands {tuple(bands)}")
    planes = []
    total = 0.0
    for img, band in zip(images, bands):
        plane, scale = scales[band]
        x = np.asarray(img) * scale + m
        planes.append((plane, x))
        total = total + np.maximum(x, 0.0)
    total = total / len(planes)
    f = np.arcsinh(Q * total) / math.sqrt(Q)
    # where every band is zero the ratio is f / tiny = 0 / tiny: black, not NaN
    total = np.where(total == 0.0, 1e-6, total)
    ratio = f / total
    rgb = np.empty(np.shape(planes[0][1]) + (3,), dtype=np.float64)
    for plane, x in planes:
        np.multiply(x, ratio * 255.0, out=rgb[..., plane])
    rgb += 0.5
    return np.clip(rgb, 0, 255, out=rgb).astype(np.uint8)

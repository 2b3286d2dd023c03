"""Tests of deepshadows_lib.cutouts.colour: the viewer's asinh RGB mapping."""

import numpy as np
import pytest

from deepshadows_lib import cutouts


def test_sdss_rgb_equals_the_formula_pixel_by_pixel():
    import math
    rng = np.random.default_rng(7)
    g, r, z = (rng.normal(0.02, 0.2, (5, 6)) for _ in range(3))
    g[0, 0] = r[0, 0] = z[0, 0] = -0.03  # every band clipped: black, not NaN
    scales = {"g": (2, 6.0), "r": (1, 3.4), "z": (0, 2.2)}
    m, Q = 0.03, 20.0
    rgb = cutouts.sdss_rgb([g, r, z], scales=scales, m=m, Q=Q)
    assert rgb.shape == (5, 6, 3) and rgb.dtype == np.uint8
    for i in range(5):
        for j in range(6):
            x = {b: img[i, j] * scales[b][1] + m for b, img in zip("grz", (g, r, z))}
            total = sum(max(v, 0.0) for v in x.values()) / 3
            ratio = math.asinh(Q * total) / math.sqrt(Q) / (total if total else 1e-6)
            for b, v in x.items():
                want = min(max(v * ratio * 255 + 0.5, 0), 255)
                assert rgb[i, j, scales[b][0]] == int(want), (i, j, b)
    assert rgb[0, 0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="2 images for 3 bands"):
        cutouts.sdss_rgb([g, r], scales=scales, m=m, Q=Q)

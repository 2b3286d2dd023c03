"""Shared helpers of the cutout-client tests: catalogs, the paper's pipeline, fast settings."""

import io

import numpy as np
import pandas as pd
from PIL import Image

from fake_viewer import cutout_jpeg

#: Download settings that keep tests quick: no rate limit, short timeouts and backoff.
FAST = dict(rate=None, timeout=0.5, retries=3, backoff=0.02, progress=False, chunk_size=8)


def reference_cutout(ra, dec, layer="des-dr1"):
    """The paper's pipeline, written independently: PIL open, ``Image.resize((64, 64))``
    with the paper's Pillow (< 7) default, NEAREST, then an array."""
    return np.array(Image.open(io.BytesIO(cutout_jpeg(ra, dec, layer))).resize(
        (64, 64), Image.Resampling.NEAREST))


def make_catalog(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"ra": rng.uniform(0, 360, n).round(6),
                         "dec": rng.uniform(-65, 5, n).round(6),
                         "mag_auto_g": rng.uniform(18, 23, n)})

"""Small synthetic data shared by the tests (not the survey simulator: fast and exact)."""

import numpy as np


def easy_images(n, *, seed=0):
    """Noise; LSBGs (label 1) get a broad central glow.  Returns uint8 images, labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    img = rng.normal(40, 10, (n, 64, 64, 3))
    yy, xx = np.mgrid[:64, :64]
    blob = np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / (2 * 6.0 ** 2))
    img += 150 * y[:, None, None, None] * blob[None, :, :, None]
    return np.clip(img, 0, 255).astype(np.uint8), y

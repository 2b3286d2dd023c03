"""Tests of deepshadows_lib.occlusion: occlusion maps, hidden regions, masked neighbours."""

import numpy as np
import pytest

from deepshadows_lib import gradcam, occlusion

pytestmark = pytest.mark.tf  # builds or runs TensorFlow models

keras = pytest.importorskip("keras")


def _centre_model(radius=8, weight_out=0.0):
    """The logit is the summed light within ``radius`` of the centre (minus a constant),
    plus ``weight_out`` times the light outside."""
    inp = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(1, 1, activation="linear", name="conv1")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(x)
    model = keras.Model(inp, out)
    model.get_layer("conv1").set_weights([np.ones((1, 1, 3, 1), np.float32) / 3,
                                          np.zeros(1, np.float32)])
    w = np.where(occlusion.central_mask((64, 64), radius=radius), 0.05, weight_out)
    model.get_layer("out").set_weights([w.reshape(-1, 1).astype(np.float32),
                                        np.array([-2.5], np.float32)])
    return model


def _images(n, seed=0, bright_centre=True):
    rng = np.random.default_rng(seed)
    x = rng.integers(20, 40, (n, 64, 64, 3)).astype(np.uint8)
    if bright_centre:
        x[:, 28:36, 28:36] = 220
    return x


def test_occlusion_map_sits_where_the_logit_reads():
    model = _centre_model()
    maps = occlusion.occlusion_maps(model, _images(3), patch=8, stride=4)
    assert maps.shape == (3, 64, 64)
    assert np.all(gradcam.central_share(maps) > 0.9)
    # a model that reads only the surroundings: the map avoids the centre
    around = _centre_model(radius=0, weight_out=0.01)
    maps = occlusion.occlusion_maps(around, _images(2, bright_centre=False), class_index=1)
    assert np.all(np.nan_to_num(gradcam.central_share(maps)) < 0.2)


def test_hidden_region_accuracy_tells_centre_from_surroundings():
    model = _centre_model()
    x = np.concatenate([_images(20, seed=1), _images(20, seed=2, bright_centre=False)])
    y = np.r_[np.ones(20), np.zeros(20)].astype(int)
    out = occlusion.hidden_region_accuracy(model, x, y)
    assert out["full"]["accuracy"] == 1.0
    assert out["surroundings_hidden"]["accuracy"] == 1.0  # the centre is all it needs
    assert out["centre_hidden"]["accuracy"] == 0.5  # nothing left to tell them apart


def test_mask_neighbours_removes_a_neighbour_and_keeps_the_centre():
    rng = np.random.default_rng(3)
    x = rng.normal(30, 3, (1, 64, 64, 3)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:64, 0:64]
    centre = 120 * np.exp(-((yy - 31.5) ** 2 + (xx - 31.5) ** 2) / (2 * 4 ** 2))
    star = 200 * np.exp(-((yy - 10) ** 2 + (xx - 52) ** 2) / (2 * 1.5 ** 2))
    x = (x + (centre + star)[None, :, :, None]).clip(0, 255).astype(np.uint8)
    masked = occlusion.mask_neighbours(x)
    assert masked[0, 8:13, 50:55].mean() < 45  # the star is gone (sky ~30)
    np.testing.assert_array_equal(masked[0, 28:36, 28:36], x[0, 28:36, 28:36])
    assert masked.dtype == np.uint8 and masked.shape == x.shape

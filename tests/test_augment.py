"""Tests of deepshadows_lib.augment: the eight rotations and flips, in NumPy and tf.data."""

import numpy as np
import pytest

from deepshadows_lib import augment, training

pytestmark = pytest.mark.tf  # builds or runs TensorFlow models


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)


def test_eight_distinct_views_that_only_move_pixels(batch):
    views = augment.dihedral_views(batch)
    assert views.shape == (8, *batch.shape)
    np.testing.assert_array_equal(views[0], batch)
    flat = {v.tobytes() for v in views}
    assert len(flat) == 8  # the dihedral group D4 has eight elements
    for v in views:  # no interpolation: the multiset of pixel values is unchanged
        np.testing.assert_array_equal(np.sort(v.reshape(-1)), np.sort(batch.reshape(-1)))
    # independent reference: view 1 is a quarter turn counter-clockwise of each image
    ref = np.stack([np.array([[img[r][c] for r in range(8)] for c in range(7, -1, -1)])
                    for img in batch])
    np.testing.assert_array_equal(views[1], ref)
    np.testing.assert_array_equal(views[4], batch[:, :, ::-1])


def test_views_are_a_group(batch):
    # composing any view with a view gives one of the eight
    views = {augment.dihedral_view(batch, k).tobytes() for k in range(8)}
    for a in range(8):
        for b in range(8):
            assert augment.dihedral_view(augment.dihedral_view(batch, a), b).tobytes() in views


def test_tensorflow_views_equal_numpy_views(batch):
    import tensorflow as tf
    tv = augment._tf_views(tf.constant(batch)).numpy()
    for k in range(8):
        np.testing.assert_array_equal(tv[:, k], augment.dihedral_view(batch, k))


@pytest.mark.slow
def test_augmented_dataset_is_seeded_new_each_epoch_and_keeps_labels(batch):
    y = np.arange(len(batch)) % 2
    rows = training.read_images(batch)

    def epochs(seed):
        ds = augment.augment_dataset(
            training.make_dataset(rows, y, batch_size=3, shuffle=False), seed=seed)
        return [[(x.numpy(), t.numpy()) for x, t in ds] for _ in range(3)]

    a, b = epochs(7), epochs(7)
    for ea, eb in zip(a, b):  # same seed: same views
        for (xa, ya), (xb, yb) in zip(ea, eb):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    seen = [np.concatenate([x for x, _ in e]) for e in a]
    assert any(not np.array_equal(seen[0], s) for s in seen[1:])  # redrawn every epoch
    allowed = [{(augment.dihedral_view(batch[i], k) / 255.0).astype(np.float32).tobytes()
                for k in range(8)} for i in range(len(batch))]
    for e in a:
        x = np.concatenate([x for x, _ in e])
        t = np.concatenate([t for _, t in e])
        np.testing.assert_array_equal(t, y)
        for i in range(len(batch)):  # every image is one of its own eight views
            assert x[i].tobytes() in allowed[i]

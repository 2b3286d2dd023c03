"""The eight rotations and flips of a cutout: augmentation and test-time augmentation.

A cutout has no preferred orientation: an LSBG or an artifact rotated by a multiple of
90 degrees or mirrored is still one.  The eight elements of the dihedral group D4 (four
rotations, each with and without a mirror) move pixels to pixels, so no interpolation
touches the noise or the faint light -- unlike a rotation by an arbitrary angle.

View ``k`` (0..7) is ``rot90(image, k % 4)`` preceded, for ``k >= 4``, by a left-right
flip; view 0 is the image itself.  :func:`dihedral_view` makes one view of a uint8 batch
in NumPy (for test-time augmentation); :func:`augment_dataset` draws one view per image
inside a ``tf.data`` pipeline (for training), reproducibly from a seed and differently
every epoch.
"""

import numpy as np

from .nn.runtime import tf as _tf

# TensorFlow is imported inside the tf.data functions (nn.runtime.tf): the NumPy views
# serve test-time augmentation, which never needs to start TensorFlow.

__all__ = ["N_VIEWS", "dihedral_view", "dihedral_views", "random_dihedral",
           "augment_dataset"]

#: The number of distinct rotations and flips of a square image.
N_VIEWS = 8


def dihedral_view(images, k):
    """View ``k`` (0..7) of a batch of images, (N, H, W, C) or a single (H, W, C).

    Returns a NumPy array (a view where NumPy can, otherwise a copy); the pixel values are
    exactly those of ``images``.
    """
    k = int(k)
    if not 0 <= k < N_VIEWS:
        raise ValueError(f"view must be in 0..{N_VIEWS - 1}, got {k}")
    x = np.asarray(images)
    axes = (0, 1) if x.ndim == 3 else (1, 2)
    if k >= 4:
        x = np.flip(x, axis=axes[1])
    return np.rot90(x, k % 4, axes=axes)


def dihedral_views(images):
    """All eight views of a batch: (8, N, H, W, C), view ``k`` at index ``k``."""
    return np.stack([dihedral_view(images, k) for k in range(N_VIEWS)])


def _tf_views(x):
    """The eight views of a (B, H, W, C) tensor, stacked on axis 1: (B, 8, H, W, C)."""
    tf = _tf()
    flipped = tf.reverse(x, axis=[2])
    views = [tf.image.rot90(x, k) for k in range(4)]
    views += [tf.image.rot90(flipped, k) for k in range(4)]
    return tf.stack(views, axis=1)


def random_dihedral(x, seed):
    """One random view per image of a (B, H, W, C) tensor (square images).

    Parameters
    ----------
    x : tf.Tensor
        (B, H, W, C), H == W.
    seed : tf.Tensor
        Shape (2,) int: the seed of TensorFlow's stateless sampler.  The same seed gives
        the same views.

    Returns
    -------
    tf.Tensor
        Same shape and dtype as ``x``.
    """
    tf = _tf()
    k = tf.random.stateless_uniform(tf.shape(x)[:1], seed=seed, minval=0, maxval=N_VIEWS,
                                    dtype=tf.int32)
    return tf.gather(_tf_views(x), k, axis=1, batch_dims=1)


def augment_dataset(ds, *, seed=0):
    """Give each image of a batched ``(x, y)`` dataset one random rotation/flip.

    The views are drawn from a ``tf.data.Dataset.random`` stream seeded with ``seed``
    and re-drawn at every pass over the data (every epoch) -- reproducibly, so one seed
    still reproduces a training run.

    Parameters
    ----------
    ds : tf.data.Dataset
        Batches ``(x, y)`` (or ``x``) of square images, as
        :func:`deepshadows_lib.nn.make_dataset` makes them.
    seed : int, optional

    Returns
    -------
    tf.data.Dataset
    """
    tf = _tf()
    seed = int(seed)
    stream = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    batches = tf.data.Dataset.zip((ds, stream))

    def apply(batch, r):
        s = tf.stack([r, tf.constant(seed, tf.int64)])
        if isinstance(batch, tuple):
            return (random_dihedral(batch[0], s),) + tuple(batch[1:])
        return random_dihedral(batch, s)

    out = batches.map(apply, num_parallel_calls=tf.data.AUTOTUNE,
                      deterministic=True).prefetch(tf.data.AUTOTUNE)
    source = getattr(ds, "_in_memory", None)
    if source is not None and source.views is None:
        # nn.fit's epoch loop draws the same views from the same stream (nn.epoch_loop)
        out._in_memory = source._replace(views=(stream, seed))
    return out

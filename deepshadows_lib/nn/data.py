"""The network's input: uint8 cutouts read from a store, labels encoded, tf.data batches.

Images stay uint8 until they reach the network: a batch of indices is drawn (shuffled
with the seed), the uint8 cutouts of those indices are gathered and cast to float32 in
[0, 1] inside the tf.data map (or, when :func:`.training.fit` trains from the set held
in memory, inside its compiled epoch loop: :mod:`.epoch_loop`).  The original notebooks
instead divided the whole data set by 255 in float64 (30,000 cutouts: 2.9 GB); here the
largest array is the uint8 set itself (30,000 cutouts: 370 MB).  A store opened with
``lazy=True`` is read chunk by chunk into that uint8 array.

TensorFlow is imported inside :func:`make_dataset` (through :func:`.runtime.tf`):
:func:`read_images` and :func:`encode_labels` serve numpy-only callers too.
"""

from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from .runtime import tf as _tf

__all__ = ["read_images", "encode_labels", "make_dataset", "InMemoryBatches", "READ_BLOCK"]

#: images read from a lazy store at a time (prediction, fingerprints)
READ_BLOCK = 4096
_READ_BLOCK = READ_BLOCK


class InMemoryBatches(NamedTuple):
    """The tensors behind a dataset of :func:`make_dataset` (its ``_in_memory``)."""

    #: (N, 64, 64, 3) uint8 cutouts of the dataset's rows
    images: object
    #: (N,) or (N, K) encoded labels, or None
    labels: object
    #: the dataset of row numbers, shuffled with the seed when the dataset shuffles
    indices: object
    batch_size: int
    n: int
    #: ``(stream, seed)`` of :func:`deepshadows_lib.augment.augment_dataset`: each batch
    #: gets its random rotations and flips from the next value of ``stream``
    views: object = None


def _is_lazy(images):
    return not isinstance(images, np.ndarray) and hasattr(images, "chunks")


def read_images(images, indices=None, *, progress=False):
    """Return the uint8 cutouts ``images[indices]`` as one in-memory numpy array.

    A lazy (zarr) array is read one on-disk chunk at a time, and only the chunks that
    hold a requested index are read.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8 (a store's ``images``, lazy or not).
    indices : array_like of int, optional
        Rows to read, in the order wanted; default: all.
    progress : bool, optional
        Show a progress bar over chunks (lazy arrays only).

    Returns
    -------
    numpy.ndarray
        (len(indices), 64, 64, 3) uint8.

    Raises
    ------
    ValueError
        If the images are not uint8 of rank 4, or an index is out of range.
    """
    if images.dtype != np.uint8 or len(images.shape) != 4:
        raise ValueError(f"images must be (N, H, W, C) uint8, got {images.shape} "
                         f"{images.dtype}")
    n = images.shape[0]
    if indices is None:
        if not _is_lazy(images):
            return images
        indices = np.arange(n)
    indices = np.asarray(indices, dtype=np.int64).ravel()
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"indices out of range for {n} images")
    if not _is_lazy(images):
        return images[indices]
    out = np.empty((indices.size, *images.shape[1:]), dtype=np.uint8)
    step = int(images.chunks[0])
    chunk_of = indices // step
    order = np.argsort(chunk_of, kind="stable")
    bounds = np.searchsorted(chunk_of[order], np.arange(-(-n // step) + 1))
    for k in tqdm(range(len(bounds) - 1), desc="reading cutouts", unit="chunk",
                  disable=not progress, leave=False):
        sel = order[bounds[k]:bounds[k + 1]]
        if sel.size:
            block = np.asarray(images[k * step:(k + 1) * step])
            out[sel] = block[indices[sel] - k * step]
    return out


def encode_labels(labels, *, n_classes=1):
    """Training targets: float32 (N,) for the binary model, one-hot (N, K) otherwise.

    Parameters
    ----------
    labels : array_like of int
        Binary labels (1 = LSBG) or class indices (``class_index``).
    n_classes : int, optional
        1 for the binary model, K >= 2 for a softmax head.

    Raises
    ------
    ValueError
        If a label is outside the classes.
    """
    labels = np.asarray(labels).ravel()
    k = 2 if n_classes == 1 else int(n_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= k
                        or not np.all(labels == np.round(labels))):
        raise ValueError(f"labels must be integers in [0, {k - 1}], got values "
                         f"{np.unique(labels)[:10]}")
    if n_classes == 1:
        return labels.astype(np.float32)
    return np.eye(k, dtype=np.float32)[labels.astype(np.int64)]


def make_dataset(images, labels=None, *, indices=None, batch_size=64, shuffle=False, seed=0,
                 n_classes=1, progress=False):
    """A ``tf.data.Dataset`` of batches scaled to [0, 1] from uint8 cutouts.

    The uint8 cutouts of ``indices`` are held in memory once (read chunk by chunk from a
    lazy store); each epoch draws batches of indices (reshuffled every epoch with the
    seed when ``shuffle``), gathers their uint8 images and casts them to float32 / 255
    in the map function, and prefetches the next batch while the network trains.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like, optional
        (N,) labels of all N images (binary or ``class_index``); None for images only.
    indices : array_like of int, optional
        Rows used (a split); default: all.
    batch_size : int, optional
        Batch size (the paper: 64).
    shuffle : bool, optional
        Reshuffle the rows every epoch (training).
    seed : int, optional
        Seed of the shuffling.
    n_classes : int, optional
        1: float targets for the sigmoid model; K: one-hot targets for a softmax head.
    progress : bool, optional
        Progress bar while reading a lazy store.

    Returns
    -------
    tf.data.Dataset
        Yields ``(x, y)`` (or ``x`` without labels); x float32 (B, 64, 64, 3) in [0, 1].
    """
    tf = _tf()
    x = read_images(images, indices, progress=progress)
    n = x.shape[0]
    x_t = tf.convert_to_tensor(x)  # stays uint8: one copy, 12 kB per cutout
    if labels is not None:
        labels = np.asarray(labels)
        if indices is not None:
            labels = labels[np.asarray(indices, dtype=np.int64).ravel()]
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} images")
        y_t = tf.convert_to_tensor(encode_labels(labels, n_classes=n_classes))

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=int(seed), reshuffle_each_iteration=True)
    indices_ds = ds
    ds = ds.batch(int(batch_size))

    def scale(idx):
        return tf.cast(tf.gather(x_t, idx), tf.float32) / 255.0

    if labels is None:
        ds = ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda idx: (scale(idx), tf.gather(y_t, idx)),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if shuffle:
        # the same shuffle (one seed generator): iterating it advances the epochs of ds
        ds._shuffled_indices = indices_ds
    # what .epoch_loop needs to run fit's epochs without the tf.data iterator; a dataset
    # derived from this one (mapped, augmented) does not carry it
    ds._in_memory = InMemoryBatches(images=x_t, labels=None if labels is None else y_t,
                                    indices=indices_ds, batch_size=int(batch_size), n=n)
    return ds


"""The cutout store: one on-disk format between every data source and every model.

A store is a directory::

    STORE/
      images/          zarr array (N, 64, 64, 3) uint8, chunked along N
      catalog.parquet  one row per image: ra, dec, and whatever the source knows
                       (label, class_name, survey, simulated, features, ...)
      store.json       metadata: format version, source, survey, seed, simulated flag,
                       chunk size, content hash, complete flag

Simulated and downloaded cutouts are written the same way, so nothing downstream needs
to know where the images came from (except the manifest and figure labels, which read
``store.json``).

Stores are written either all at once (:func:`write_store`, atomic) or chunk by chunk
(:class:`StoreWriter`), which is what makes long jobs resumable: a chunk counts as done
only once its images and its catalog rows are both on disk, so a job killed at any
moment redoes at most the chunks that were in flight.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_dir, atomic_path, atomic_write_json, remove_stale_temporaries
from . import schema
from .errors import InputError

__all__ = ["IMAGE_SHAPE", "DEFAULT_CHUNK", "Store", "open_store", "write_store",
           "StoreWriter", "store_info", "iter_chunks"]

IMAGE_SHAPE = schema.CUTOUT_SHAPE
DEFAULT_CHUNK = 1024
FORMAT_VERSION = 1
_META = "store.json"
_CATALOG = "catalog.parquet"
_IMAGES = "images"
_PARTS = "_parts"


def _zarr():
    import zarr  # imported lazily: zarr pulls in a lot at import time
    return zarr


def _create_array(path, n, chunk_size):
    zarr = _zarr()
    kwargs = dict(mode="w", shape=(n, *IMAGE_SHAPE), chunks=(chunk_size, *IMAGE_SHAPE),
                  dtype="uint8", fill_value=0)
    if int(zarr.__version__.split(".")[0]) >= 3:
        kwargs["zarr_format"] = 2  # readable by zarr 2.x (Python 3.10) and 3.x alike
    return _writing(zarr.open_array(str(path), **kwargs))


def _open_array(path, mode="r"):
    arr = _zarr().open_array(str(path), mode=mode)
    return arr if mode == "r" else _writing(arr)


def _writing(arr):
    """The array set up for writing: every chunk is written, none compared to the fill.

    A chunk of a store always holds cutouts, and zarr 3's check that a written chunk is
    not all fill value compares every byte: it cost more than compressing the chunk
    (~60 of ~80 ms per 1,024 cutouts).  zarr 2 writes every chunk by default.
    """
    if hasattr(arr, "with_config"):
        arr = arr.with_config({"write_empty_chunks": True})
    return arr


class Store:
    """An opened cutout store.

    Unpacks as ``images, catalog = open_store(path)``.

    Attributes
    ----------
    path : pathlib.Path
        The store directory.
    images : numpy.ndarray or zarr.Array
        The cutouts, shape (N, 64, 64, 3), dtype uint8.  A numpy array unless the store
        was opened with ``lazy=True``, in which case slicing reads only the chunks needed.
    catalog : pandas.DataFrame
        One row per image, in the same order.
    attrs : dict
        The metadata of ``store.json`` (``simulated``, ``survey``, ``seed``,
        ``content_sha256``, ...).
    """

    def __init__(self, path, images, catalog, attrs):
        self.path = Path(path)
        self.images = images
        self.catalog = catalog
        self.attrs = attrs

    def __iter__(self):
        yield self.images
        yield self.catalog

    def __len__(self):
        return len(self.catalog)

    @property
    def chunk_size(self):
        """Number of images per chunk on disk."""
        return int(self.attrs.get("chunk_size", DEFAULT_CHUNK))

    @property
    def simulated(self):
        """True when the images come from the synthetic survey."""
        return bool(self.attrs.get("simulated", False))

    def __repr__(self):
        return (f"Store({str(self.path)!r}, n={len(self)}, "
                f"survey={self.attrs.get('survey')!r}, simulated={self.simulated})")


def store_info(path):
    """Return the metadata (``store.json``) of a store without reading the images.

    Raises
    ------
    InputError
        If ``path`` is not a cutout store.
    """
    path = Path(path)
    meta = path / _META
    if not meta.is_file():
        raise InputError("not a cutout store (no store.json); create one with "
                         "'deepshadows simulate' or 'deepshadows download'", path=path)
    try:
        return json.loads(meta.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable store metadata: {exc}", path=meta) from None


def open_store(path, *, lazy=False, columns=None):
    """Open a cutout store.

    Parameters
    ----------
    path : str or path-like
        The store directory.
    lazy : bool, optional
        If True, ``images`` is the on-disk zarr array and is read chunk by chunk when
        sliced; otherwise the whole array is read into memory as uint8 (60,000 cutouts
        take 740 MB).
    columns : list of str, optional
        Read only these catalog columns.

    Returns
    -------
    Store
        Unpacks as ``images, catalog``: images (N, 64, 64, 3) uint8 and a DataFrame with
        ra, dec and the catalog's columns.

    Raises
    ------
    InputError
        If the store does not exist, is incomplete (an interrupted job: rerun it to
        resume) or is inconsistent.
    """
    path = Path(path)
    attrs = store_info(path)
    if not attrs.get("complete", False):
        done = len(list((path / _PARTS).glob("chunk-*.parquet"))) if (path / _PARTS).is_dir() else 0
        raise InputError(f"store is incomplete ({done}/{attrs.get('n_chunks', '?')} chunks "
                         "written): rerun the command that writes it to resume", path=path)
    catalog = pd.read_parquet(path / _CATALOG, columns=columns)
    images = _open_array(path / _IMAGES)
    if images.shape[0] != len(catalog) or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise InputError(f"images {images.shape} do not match catalog ({len(catalog)} rows)",
                         path=path)
    if not lazy:
        images = np.asarray(images[:])
    return Store(path, images, catalog, attrs)


def iter_chunks(store, *, chunk_size=None):
    """Yield ``(start, images)`` blocks of a store in order, one on-disk chunk at a time.

    Memory stays bounded by one chunk whatever the size of the store.

    Parameters
    ----------
    store : Store or str or path-like
        An opened store (lazy or not) or its path.
    chunk_size : int, optional
        Images per block; defaults to the store's chunk size.
    """
    if not isinstance(store, Store):
        store = open_store(store, lazy=True)
    step = chunk_size or store.chunk_size
    n = len(store)
    for start in range(0, n, step):
        yield start, np.asarray(store.images[start:start + step])


def _hash_images(images, chunk_size):
    h = hashlib.sha256()
    for start in range(0, images.shape[0], chunk_size):
        h.update(np.ascontiguousarray(images[start:start + chunk_size]).tobytes())
    return h.hexdigest()


def _content_hash(images_path, catalog_path, chunk_size, images_digest=None):
    """SHA-256 over the decoded image bytes and the catalog file (independent of zarr's codec).

    ``images_digest``: the SHA-256 (hex) of the image bytes when the caller already has
    it; otherwise the images are read back.
    """
    h = hashlib.sha256()
    if images_digest is None:
        images_digest = _hash_images(_open_array(images_path), chunk_size)
    h.update(images_digest.encode())
    h.update(hashlib.sha256(Path(catalog_path).read_bytes()).hexdigest().encode())
    return h.hexdigest()


def _check_images(images):
    images = np.asarray(images)
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must have shape (N, 64, 64, 3), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    return images


def write_store(path, images, catalog, *, attrs=None, chunk_size=DEFAULT_CHUNK,
                overwrite=False):
    """Write a complete store atomically.

    Parameters
    ----------
    path : str or path-like
        Destination directory.
    images : array_like
        (N, 64, 64, 3) uint8.
    catalog : pandas.DataFrame
        N rows; must contain ``ra`` and ``dec``.
    attrs : dict, optional
        Metadata recorded in ``store.json`` (``simulated``, ``survey``, ``seed``, ...).
    chunk_size : int, optional
        Images per chunk on disk.
    overwrite : bool, optional
        Replace an existing store (atomically: the old one stays until the new one is
        complete).

    Returns
    -------
    pathlib.Path
        The store path.
    """
    path = Path(path)
    images = _check_images(images)
    if len(catalog) != len(images):
        raise ValueError(f"catalog has {len(catalog)} rows but there are {len(images)} images")
    missing = {"ra", "dec"} - set(catalog.columns)
    if missing:
        raise ValueError(f"catalog lacks columns {sorted(missing)}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    with atomic_dir(path) as tmp:
        arr = _create_array(tmp / _IMAGES, len(images), chunk_size)
        for start in range(0, len(images), chunk_size):
            arr[start:start + chunk_size] = images[start:start + chunk_size]
        catalog.reset_index(drop=True).to_parquet(tmp / _CATALOG, index=False)
        meta = _base_attrs(len(images), chunk_size, attrs)
        meta["complete"] = True
        meta["content_sha256"] = _content_hash(tmp / _IMAGES, tmp / _CATALOG, chunk_size)
        atomic_write_json(tmp / _META, meta)
    return path


def _base_attrs(n, chunk_size, attrs):
    meta = {"format_version": FORMAT_VERSION, "n": int(n), "chunk_size": int(chunk_size),
            "n_chunks": int(-(-n // chunk_size)), "image_shape": list(IMAGE_SHAPE),
            "dtype": "uint8", "simulated": False}
    meta.update(attrs or {})
    return meta


class StoreWriter:
    """Write a store chunk by chunk, so that an interrupted job can resume.

    Creating a writer on a path that holds an incomplete store with the same size,
    chunking and ``attrs['job']`` reopens it: :attr:`done` lists the chunks already
    written and the caller skips them.

    Parameters
    ----------
    path : str or path-like
        The store directory.
    n : int
        Total number of images.
    chunk_size : int, optional
        Images per chunk (the unit of work and of resumption).
    attrs : dict, optional
        Metadata for ``store.json``.  ``attrs['job']``, if given, identifies the job
        (for example its parameters); a store written by a different job is not resumed
        but refused, so that two different runs are never mixed.
    overwrite : bool, optional
        Replace a complete store, or an incomplete one from a different job.

    Notes
    -----
    A writer that writes every chunk itself, in order, hashes the images as it writes
    them, so :meth:`finalize` need not read them back; a resumed writer, or one that
    writes out of order, reads them back.

    Examples
    --------
    >>> w = StoreWriter("s.zarr", n=3000, chunk_size=1024)          # doctest: +SKIP
    >>> for k in w.pending:                                          # doctest: +SKIP
    ...     w.write_chunk(k, images_of_chunk_k, catalog_rows_of_chunk_k)
    >>> w.finalize()                                                  # doctest: +SKIP
    """

    def __init__(self, path, *, n, chunk_size=DEFAULT_CHUNK, attrs=None, overwrite=False):
        self.path = Path(path)
        self.n = int(n)
        self.chunk_size = int(chunk_size)
        self.n_chunks = -(-self.n // self.chunk_size)
        self.attrs = _base_attrs(self.n, self.chunk_size, attrs)
        self.attrs["complete"] = False
        if self.path.exists() and not self._resumable(overwrite):
            if not overwrite:
                raise FileExistsError(
                    f"{self.path} holds a different or complete store; pass overwrite=True "
                    "(--overwrite) to replace it")
            shutil.rmtree(self.path)
        # a writer killed while creating the store leaves its temporary directory
        remove_stale_temporaries(self.path)
        if not self.path.exists():
            tmp = self.path.with_name(f".{self.path.name}.new-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            _create_array(tmp / _IMAGES, self.n, self.chunk_size)
            (tmp / _PARTS).mkdir()
            atomic_write_json(tmp / _META, self.attrs)
            os.replace(tmp, self.path)
        self._images = _open_array(self.path / _IMAGES, mode="r+")
        # the running hash of chunks 0, 1, ... written in order by this writer
        self._digest = None if self.done else hashlib.sha256()
        self._next = 0

    def _resumable(self, overwrite):
        try:
            old = json.loads((self.path / _META).read_text())
        except (OSError, ValueError):
            return False
        same = all(old.get(k) == self.attrs.get(k) for k in ("n", "chunk_size", "job"))
        return same and not old.get("complete", False) and not overwrite

    def _part(self, k):
        return self.path / _PARTS / f"chunk-{k:06d}.parquet"

    @property
    def done(self):
        """Sorted indices of the chunks already written."""
        return sorted(int(p.stem.split("-")[1]) for p in (self.path / _PARTS).glob("chunk-*.parquet"))

    @property
    def pending(self):
        """Sorted indices of the chunks still to write."""
        done = set(self.done)
        return [k for k in range(self.n_chunks) if k not in done]

    def chunk_slice(self, k):
        """The image indices ``slice(start, stop)`` covered by chunk ``k``."""
        return slice(k * self.chunk_size, min((k + 1) * self.chunk_size, self.n))

    def write_chunk(self, k, images, catalog):
        """Write chunk ``k``: its images first, then its catalog rows (the done marker)."""
        sl = self.chunk_slice(k)
        images = _check_images(images)
        if len(images) != sl.stop - sl.start or len(catalog) != len(images):
            raise ValueError(f"chunk {k} needs {sl.stop - sl.start} images and catalog rows, "
                             f"got {len(images)} and {len(catalog)}")
        self._images[sl] = images
        if self._digest is not None and k == self._next:
            self._digest.update(np.ascontiguousarray(images).tobytes())
            self._next += 1
        else:
            self._digest = None
        with atomic_path(self._part(k)) as tmp:
            catalog.reset_index(drop=True).to_parquet(tmp, index=False)

    def shrink(self, n):
        """Announce fewer images than at creation: ``n`` in all.

        For a writer that appends objects whose number is known only at the end (a
        download, whose failures are known once every answer is in).  Only chunks that
        lie entirely within the first ``n`` images may have been written.

        Parameters
        ----------
        n : int
            The final number of images, at most the number given at creation.
        """
        n = int(n)
        if not 0 <= n <= self.n:
            raise ValueError(f"cannot shrink a store of {self.n} images to {n}")
        if n == self.n:
            return
        beyond = [k for k in self.done if (k + 1) * self.chunk_size > n]
        if beyond:
            raise ValueError(f"chunk {beyond[0]} is already written and does not lie "
                             f"within the first {n} images")
        self._images.resize((n, *IMAGE_SHAPE))
        self.n = n
        self.n_chunks = -(-n // self.chunk_size)
        self.attrs.update(n=n, n_chunks=self.n_chunks)
        atomic_write_json(self.path / _META, self.attrs)

    def finalize(self):
        """Join the chunk catalogs, record the content hash, and mark the store complete."""
        pending = self.pending
        if pending:
            raise RuntimeError(f"{self.path}: {len(pending)} chunks not written yet")
        parts = [pd.read_parquet(self._part(k)) for k in range(self.n_chunks)]
        catalog = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            {"ra": [], "dec": []})
        with atomic_path(self.path / _CATALOG) as tmp:
            catalog.to_parquet(tmp, index=False)
        meta = dict(self.attrs)
        meta["complete"] = True
        digest = (self._digest.hexdigest()
                  if self._digest is not None and self._next == self.n_chunks else None)
        meta["content_sha256"] = _content_hash(self.path / _IMAGES, self.path / _CATALOG,
                                               self.chunk_size, images_digest=digest)
        # temporary files of atomic writes that an earlier, killed finalize left behind
        for name in (_CATALOG, _META):
            remove_stale_temporaries(self.path / name)
        atomic_write_json(self.path / _META, meta)
        shutil.rmtree(self.path / _PARTS, ignore_errors=True)
        return open_store(self.path, lazy=True)

"""The store as classification reads it: the images, and the catalog's footer only."""

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..catalogs import validate_catalog
from ..errors import InputError
from ..store import _open_array, store_info
from .model import IMAGE_SHAPE


class _ImageStore:
    """The parts of a store that classification reads, without loading its catalog.

    :func:`~deepshadows_lib.store.open_store` reads the whole catalog table; for a
    survey of a billion objects even ``ra`` alone is 8 GB, so here the row count comes
    from the Parquet footer and the images stay on disk.
    """

    def __init__(self, path, attrs, images):
        self.path = path
        self.attrs = attrs
        self.images = images
        self.n = int(images.shape[0])
        # the zarr chunking is what on-disk reads are cut by, whatever store.json says
        self.chunk_size = int(images.chunks[0]) if self.n else int(attrs.get("chunk_size", 1))


def _open_images(path):
    path = Path(path)
    attrs = store_info(path)
    if not attrs.get("complete", False):
        raise InputError("store is incomplete: rerun the command that writes it to resume "
                         "before classifying it", path=path)
    images = _open_array(path / "images")
    catalog = path / "catalog.parquet"
    try:
        n_rows = pq.ParquetFile(catalog).metadata.num_rows
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable store catalog: {exc}", path=catalog) from None
    if tuple(images.shape[1:]) != IMAGE_SHAPE or images.shape[0] != n_rows:
        raise InputError(f"images {tuple(images.shape)} do not match the catalog "
                         f"({n_rows} rows)", path=path)
    _check_positions(catalog)
    return _ImageStore(path, attrs, images)


def _check_positions(catalog_path):
    """Validate the ra and dec that the output carries, one Parquet row group at a time.

    The same rules and one-line messages as a catalog file
    (:func:`deepshadows_lib.catalogs.validate_catalog`), before anything is written or
    a model is loaded; memory stays that of one row group.
    """
    pf = pq.ParquetFile(catalog_path)
    names = pf.schema_arrow.names
    missing = [c for c in ("ra", "dec") if c not in names]
    if missing:
        raise InputError(f"store catalog has no column {missing[0]} (found: "
                         f"{', '.join(names[:8])})", path=catalog_path, column=missing[0])
    first = 0
    for k in range(pf.num_row_groups):
        try:
            part = pf.read_row_group(k, columns=["ra", "dec"]).to_pandas()
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"unreadable store catalog ({type(exc).__name__})",
                             path=catalog_path) from None
        if len(part):
            validate_catalog(part, required=("ra", "dec"), path=catalog_path,
                             line_of=np.arange(first, first + len(part)) + 1,
                             duplicates=False)
        first += len(part)

"""The predictions table: its columns, the streaming join of the parts, a summary."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from ..schema import probability_columns
from .._io import atomic_path
from .parts import _part_path

#: Catalog columns copied from the store to the predictions when the store has them.
PASSTHROUGH_COLUMNS = ("ra", "dec", "id", "coadd_id", "object_id", "label", "class_name",
                       "class_index", "survey", "simulated")
# Rows per row group of the joined output: large enough for fast scans, small enough
# that the join's buffer stays a few MB.
_OUTPUT_ROW_GROUP = 65536


def output_columns(n_outputs):
    """The value columns :func:`classify_store` writes for a model with ``n_outputs``.

    A binary model (or ``plus`` ensemble) gives ``p_lsbg`` -- calibrated with the
    temperature of its sidecar -- and ``uncertainty``, the columns of ``deepshadows
    predict``; a three-class model gives its three probabilities.
    """
    cols = probability_columns(n_outputs)
    return cols + ["uncertainty"] if n_outputs == 1 else cols


def table_columns(catalog_columns, value_columns):
    """The columns of :func:`~deepshadows_lib.classify.classify_store`'s table, in order.

    The store's catalog columns (those of :data:`PASSTHROUGH_COLUMNS` it has), ``store_row``
    (the row in the store) and the value columns, ordered as every predictions table of
    the library (:func:`deepshadows_lib.schema.prediction_columns`): identifiers, then
    probabilities and uncertainty, then the other columns in the order given.
    """
    return schema.prediction_columns([*catalog_columns, "store_row", *value_columns])


class _RowReader:
    """Read a Parquet file's rows sequentially, ``n`` at a time, one row group in memory."""

    def __init__(self, path, columns):
        self._batches = pq.ParquetFile(path).iter_batches(batch_size=_OUTPUT_ROW_GROUP,
                                                          columns=columns)
        self._buffer = None

    def take(self, n):
        pieces, have = [], 0
        if self._buffer is not None:
            pieces.append(self._buffer)
            have = self._buffer.num_rows
            self._buffer = None
        while have < n:
            batch = next(self._batches)
            pieces.append(pa.Table.from_batches([batch]))
            have += batch.num_rows
        table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        if table.num_rows > n:
            self._buffer = table.slice(n)
            table = table.slice(0, n)
        return table.combine_chunks()


def _join_parts(out, parts, store, n_chunks, columns):
    """Stream the catalog and the parts, in store order, into ``out`` (atomically)."""
    catalog_path = Path(store.path) / "catalog.parquet"
    available = pq.ParquetFile(catalog_path).schema_arrow.names
    keep = [c for c in PASSTHROUGH_COLUMNS if c in available]
    reader = _RowReader(catalog_path, keep)
    # one predictions table across the library: schema's column order
    order = table_columns(keep, columns)
    pending, pending_rows = [], 0
    with atomic_path(out, suffix=".parquet") as tmp:
        writer = None
        try:
            for k in range(n_chunks):
                part = pq.read_table(_part_path(parts, k))
                meta = reader.take(part.num_rows)
                expected = np.arange(k * store.chunk_size, k * store.chunk_size + part.num_rows)
                if not np.array_equal(part.column("store_row").to_numpy(), expected):
                    raise RuntimeError(f"{_part_path(parts, k)} does not hold rows "
                                       f"{expected[0]}..{expected[-1]}; remove it and rerun")
                table = meta
                for name in ["store_row", *columns]:
                    table = table.append_column(name, part.column(name))
                pending.append(table.select(order))
                pending_rows += table.num_rows
                if pending_rows >= _OUTPUT_ROW_GROUP or k == n_chunks - 1:
                    block = pa.concat_tables(pending)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, block.schema)
                    writer.write_table(block, row_group_size=_OUTPUT_ROW_GROUP)
                    pending, pending_rows = [], 0
            if writer is None:  # an empty store still gets a (typed, empty) table
                fields = {c: pq.ParquetFile(catalog_path).schema_arrow.field(c) for c in keep}
                fields["store_row"] = pa.field("store_row", pa.int64())
                fields.update({c: pa.field(c, pa.float32()) for c in columns})
                writer = pq.ParquetWriter(tmp, pa.schema([fields[c] for c in order]))
        finally:
            if writer is not None:
                writer.close()


def summarize_predictions(path, *, threshold=0.5):
    """Count the objects of a predictions table and those above ``threshold``.

    Reads only the ``p_lsbg`` column, one row group at a time.

    Returns
    -------
    dict
        ``n`` (objects) and ``n_lsbg`` (objects with ``p_lsbg > threshold``).
    """
    pf = pq.ParquetFile(path)
    n_lsbg = 0
    for batch in pf.iter_batches(columns=["p_lsbg"]):
        n_lsbg += int(np.count_nonzero(batch.column(0).to_numpy() > threshold))
    return {"n": int(pf.metadata.num_rows), "n_lsbg": n_lsbg}

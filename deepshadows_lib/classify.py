"""Survey-scale classification: a trained model over a whole cutout store.

:func:`classify_store` runs a saved DeepShadows model over every cutout of a store and
writes one Parquet table of predictions (``ra``, ``dec``, the store's identifier and label
columns when it has them, ``store_row`` and the class probabilities).  It is built for
stores far larger than memory and for runs that get killed:

* **Flat memory.**  The images are read one on-disk chunk at a time, converted to float
  one batch at a time, and the final table is written by streaming the catalog and the
  per-chunk results; nothing proportional to the store is ever held in memory.
* **Resumable.**  The unit of work is one store chunk.  Each finished chunk is written
  atomically to ``OUT.parts/chunk-NNNNNN.parquet``; a rerun of the same job skips those
  chunks, and once all are present they are joined into ``OUT`` (atomically) and the
  parts are removed.  ``OUT.parts/job.json`` records what the parts were computed from
  (model and store hashes, batch size), so that parts of a different model or store are
  never mixed in.
* **Scale-out on Dask.**  With ``scheduler="local"`` (a ``LocalCluster`` on 127.0.0.1),
  a ``tcp://host:port`` address, or an existing ``distributed.Client``, the same
  per-chunk function runs on Dask workers through ``dask.array.from_zarr(...)
  .map_blocks(...)``; each worker loads the model once and caches it.  Workers read the
  model and the store from their paths, so on a real cluster both must sit on a shared
  file system.  Results are bit-identical to the single-process path because every chunk
  is cut into the same batches whichever process runs it.

Probability columns follow the three-class target order of the store's ``class_index``
(artifact2 = 0, lsbg = 1, artifact1 = 2): a binary (sigmoid) model gives ``p_lsbg``; a
three-class (softmax) model gives ``p_artifact2``, ``p_lsbg`` and ``p_artifact1``.

TensorFlow is imported only by the functions that run the model.
"""

import contextlib
import json
import os
import shutil
import time
import weakref
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_path, atomic_write_json, remove_stale_temporaries, sha256_file
from . import schema
from .errors import InputError, PartialFailure
from .store import IMAGE_SHAPE, Store, _open_array, store_info
from .training import available_cpus

__all__ = ["classify_store", "probability_columns", "output_columns", "predict_images",
           "parts_dir", "summarize_predictions", "PASSTHROUGH_COLUMNS", "last_run"]

#: Catalog columns copied from the store to the predictions when the store has them.
PASSTHROUGH_COLUMNS = ("ra", "dec", "id", "coadd_id", "object_id", "label", "class_name",
                       "class_index", "survey", "simulated")

_PART_GLOB = "chunk-*.parquet"
_JOB = "job.json"
# Rows per row group of the joined output: large enough for fast scans, small enough
# that the join's buffer stays a few MB.
_OUTPUT_ROW_GROUP = 65536
# Give up early (re-raise) when this many chunks fail before any succeeds: the error is
# then systematic (a broken model, an unreadable store), not one bad chunk.
_EARLY_FAILURES = 3

# Per-process cache of loaded models: a Dask worker loads each model once.
_MODEL_CACHE = {}
_FORWARD = weakref.WeakKeyDictionary()  # model -> its traced forward function
_TF_THREADS_SET = [False]

#: What the latest :func:`classify_store` call of this process did: ``chunks_total``,
#: ``chunks_skipped`` (found done from an earlier, interrupted run), ``chunks_computed``
#: and ``seconds``.  None before the first call.
last_run = None


# --------------------------------------------------------------------------- model
def probability_columns(n_outputs):
    """Names of the probability columns for a model with ``n_outputs`` outputs.

    Parameters
    ----------
    n_outputs : int
        1 for the binary (sigmoid) model, 3 for the three-class (softmax) model.

    Returns
    -------
    list of str
        ``["p_lsbg"]`` or ``["p_artifact2", "p_lsbg", "p_artifact1"]`` (class_index order).
    """
    return schema.probability_columns(n_outputs)


def output_columns(n_outputs):
    """The value columns :func:`classify_store` writes for a model with ``n_outputs``.

    A binary model (or ``plus`` ensemble) gives ``p_lsbg`` -- calibrated with the
    temperature of its sidecar -- and ``uncertainty``, the columns of ``deepshadows
    predict``; a three-class model gives its three probabilities.
    """
    cols = probability_columns(n_outputs)
    return cols + ["uncertainty"] if n_outputs == 1 else cols


def _configure_tf_threads(threads):
    """Limit TensorFlow's thread pools of this process (once, before TF starts up).

    Several Dask workers on one machine would otherwise each start one thread per core
    and oversubscribe it.
    """
    if threads is None or _TF_THREADS_SET[0]:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as training._tf: no C++ chatter
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # the runtime is already initialised in this process: keep its pools
    _TF_THREADS_SET[0] = True


def _load_keras_model(path):
    """Load a saved model (``.keras``) with Keras' safe mode, without its optimizer.

    A binary model -- one sigmoid output, or a ``plus`` ensemble whose sidecar says it
    has one output per member -- comes back as a
    :class:`~deepshadows_lib.predict.Predictor`, which applies the sidecar's temperature
    and test-time augmentation and gives the uncertainty; a three-class model as itself.
    """
    from .predict import Predictor
    from .provenance import read_sidecar
    from .training import load_model
    model = load_model(path, compile=False)
    info = read_sidecar(path) or {}
    n_out = int(model.output_shape[-1])
    if n_out == 1 or (int(info.get("n_members", 1)) == n_out and info.get("recipe") == "plus"):
        return Predictor(model, temperature=info.get("temperature") or 1.0,
                         tta=bool(info.get("tta", False)), info=info)
    return model


def _model_key(path):
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def _cached_model(path, *, tf_threads=None):
    """The model at ``path``, loaded once per process (and reloaded if the file changes)."""
    _configure_tf_threads(tf_threads)
    key = _model_key(path)
    model = _MODEL_CACHE.get(key)
    if model is None:
        _MODEL_CACHE.clear()  # one model at a time: a worker does not hoard old ones
        model = _load_keras_model(path)
        _MODEL_CACHE[key] = model
    return model


def _check_model(model, path):
    """Return the number of outputs of ``model``; refuse models that do not fit a store."""
    from .predict import Predictor
    if isinstance(model, Predictor):
        if model.input_shape != IMAGE_SHAPE:
            raise InputError(f"model input shape {model.input_shape} does not match the "
                             f"store's cutouts {IMAGE_SHAPE}", path=path)
        return 1
    in_shape = tuple(model.input_shape[1:]) if model.input_shape else None
    if in_shape != IMAGE_SHAPE:
        raise InputError(f"model input shape {in_shape} does not match the store's cutouts "
                         f"{IMAGE_SHAPE}", path=path)
    n_out = model.output_shape[-1]
    if n_out not in (1, 3):
        raise InputError(f"model has {n_out} outputs; expected 1 (binary LSBG vs artifact) "
                         "or 3 (artifact2, lsbg, artifact1)", path=path)
    return int(n_out)


def _probe_model(model_path, tf_threads=None):
    """Load the model into this process's cache and return its number of outputs."""
    try:
        model = _cached_model(model_path, tf_threads=tf_threads)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any loader error means a bad model file
        raise InputError(f"cannot load the model: {type(exc).__name__}: {exc}",
                         path=model_path) from None
    return _check_model(model, model_path)


def _warm_workers(client, model_path, tf_threads):
    """Load the model once on every worker (in a task, so TensorFlow starts in the
    thread that runs the chunks) and return its number of outputs.

    The client itself never loads TensorFlow: on a cluster it only schedules and writes.
    """
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError:
        raise InputError("the Dask cluster has no workers (waited 60 s)") from None
    import inspect
    # older distributed versions list only the first 5 workers unless told otherwise
    kwargs = ({"n_workers": -1} if "n_workers" in inspect.signature(
        client.scheduler_info).parameters else {})
    workers = list(client.scheduler_info(**kwargs)["workers"])
    futures = [client.submit(_probe_model, str(model_path), tf_threads, workers=[w],
                             allow_other_workers=False, pure=False) for w in workers]
    n_outs = set(client.gather(futures))
    return n_outs.pop()


def predict_images(model, images, *, batch_size=256):
    """Class probabilities of uint8 cutouts, computed in fixed batches.

    The images are scaled to [0, 1] (divided by 255, as in the paper) one batch at a
    time, inside TensorFlow, so the float copy never exceeds one batch.  Batches always start at the first
    image of ``images``; calling this on the same block gives the same batches, hence
    bit-identical results, in every process.

    Parameters
    ----------
    model : keras.Model
        A model with input (64, 64, 3).
    images : array_like
        (n, 64, 64, 3) uint8.
    batch_size : int, optional
        Images per forward pass.

    Returns
    -------
    numpy.ndarray
        (n, n_outputs) float32; for a :class:`~deepshadows_lib.predict.Predictor`,
        (n, 2): the calibrated ``p_lsbg`` and its ``uncertainty``.
    """
    from .predict import Predictor
    images = np.asarray(images)
    if isinstance(model, Predictor):
        if len(images) == 0:
            return np.empty((0, 2), np.float32)
        p, unc = model.predict(images, batch_size=batch_size)
        return np.stack([p, unc], axis=1).astype(np.float32)
    n_out = int(model.output_shape[-1])
    forward = _forward_function(model)
    out = np.empty((len(images), n_out), dtype=np.float32)
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        out[start:start + len(x)] = forward(x).numpy().reshape(len(x), n_out)
    return out


def _forward_function(model):
    """A traced ``uint8 batch -> probabilities`` function of ``model``, built once per model.

    The cast and the division by 255 run inside TensorFlow, exactly as in
    :func:`deepshadows_lib.training.predict`, so both give the same numbers; NumPy never
    holds a float copy of the images.
    """
    forward = _FORWARD.get(model)
    if forward is None:
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((None, *IMAGE_SHAPE), tf.uint8)],
                     reduce_retracing=True)
        def forward(x):
            return model(tf.cast(x, tf.float32) / 255.0, training=False)

        _FORWARD[model] = forward
    return forward


def _predict_block(block, *, model_path, batch_size, tf_threads=None):
    """Probabilities of one store chunk; the function every path (and worker) runs."""
    model = _cached_model(model_path, tf_threads=tf_threads)
    return predict_images(model, block, batch_size=batch_size)


def _dask_block(block, model_path, batch_size, tf_threads):
    # map_blocks hands over (chunk, 64, 64, 3) blocks; a module-level function pickles
    # by reference, so workers use their own copy of the model cache.
    return _predict_block(block, model_path=model_path, batch_size=batch_size,
                          tf_threads=tf_threads)


# --------------------------------------------------------------------------- store
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
    import pyarrow.parquet as pq

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
    import pyarrow.parquet as pq

    from .catalogs import validate_catalog
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


# --------------------------------------------------------------------------- parts
def parts_dir(out):
    """Directory of the per-chunk partial results of the output ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _part_path(parts, k):
    return parts / f"chunk-{k:06d}.parquet"


def _done_chunks(parts, n_chunks):
    done = set()
    for p in parts.glob(_PART_GLOB):
        try:
            k = int(p.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if 0 <= k < n_chunks:
            done.add(k)
    return done


def _write_part(parts, k, start, probs, columns):
    table = pd.DataFrame({"store_row": np.arange(start, start + len(probs), dtype=np.int64)})
    for j, name in enumerate(columns):
        table[name] = probs[:, j]
    with atomic_path(_part_path(parts, k)) as tmp:
        table.to_parquet(tmp, index=False)


def _job_signature(model_path, store, batch_size, columns):
    attrs = store.attrs
    return {
        "model": str(Path(model_path).resolve()),
        "model_sha256": sha256_file(model_path),
        "store": str(Path(store.path).resolve()),
        "store_content_sha256": attrs.get("content_sha256"),
        "n": store.n,
        "chunk_size": store.chunk_size,
        "batch_size": int(batch_size),
        "columns": list(columns),
    }


def _prepare_parts(parts, job, *, overwrite):
    """Create ``parts`` for ``job``, or reopen it if it holds parts of the same job."""
    meta = parts / _JOB
    if parts.exists():
        try:
            old = json.loads(meta.read_text())
        except (OSError, ValueError):
            old = None
        if old != job:
            if not overwrite:
                raise InputError("holds partial results of a different run (another model, "
                                 "store or batch size); pass --overwrite to discard them",
                                 path=parts)
            shutil.rmtree(parts)
    if not parts.exists():
        parts.mkdir(parents=True)
        atomic_write_json(meta, job)


# --------------------------------------------------------------------------- join
class _RowReader:
    """Read a Parquet file's rows sequentially, ``n`` at a time, one row group in memory."""

    def __init__(self, path, columns):
        import pyarrow.parquet as pq
        self._batches = pq.ParquetFile(path).iter_batches(batch_size=_OUTPUT_ROW_GROUP,
                                                          columns=columns)
        self._buffer = None

    def take(self, n):
        import pyarrow as pa
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    catalog_path = Path(store.path) / "catalog.parquet"
    available = pq.ParquetFile(catalog_path).schema_arrow.names
    keep = [c for c in PASSTHROUGH_COLUMNS if c in available]
    reader = _RowReader(catalog_path, keep)
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
                pending.append(table)
                pending_rows += table.num_rows
                if pending_rows >= _OUTPUT_ROW_GROUP or k == n_chunks - 1:
                    block = pa.concat_tables(pending)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, block.schema)
                    writer.write_table(block, row_group_size=_OUTPUT_ROW_GROUP)
                    pending, pending_rows = [], 0
            if writer is None:  # an empty store still gets a (typed, empty) table
                fields = [pq.ParquetFile(catalog_path).schema_arrow.field(c) for c in keep]
                fields += [pa.field("store_row", pa.int64())]
                fields += [pa.field(c, pa.float32()) for c in columns]
                writer = pq.ParquetWriter(tmp, pa.schema(fields))
        finally:
            if writer is not None:
                writer.close()


# --------------------------------------------------------------------------- runners
def _progress_bar(total, initial, progress, desc):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, disable=not progress, desc=desc, unit="chunk",
                dynamic_ncols=True)


class _Failures:
    """Collects per-chunk errors; re-raises at once if the error is clearly systematic."""

    def __init__(self):
        self.errors = {}
        self.succeeded = 0

    def ok(self):
        self.succeeded += 1

    def add(self, k, exc):
        self.errors[k] = exc
        if self.succeeded == 0 and len(self.errors) >= _EARLY_FAILURES:
            raise exc


def _run_single(store, parts, pending, columns, *, model_path, batch_size, bar):
    images = store.images
    cs = store.chunk_size
    failures = _Failures()
    for k in pending:
        start = k * cs
        try:
            block = np.asarray(images[start:start + cs])
            probs = _predict_block(block, model_path=model_path, batch_size=batch_size)
        except Exception as exc:  # one bad chunk must not lose the others' work
            failures.add(k, exc)
            continue
        _write_part(parts, k, start, probs, columns)
        failures.ok()
        bar.update(1)
    return failures



def _start_local_cluster(workers):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    try:
        client = Client(cluster)
    except BaseException:
        cluster.close()
        raise
    return cluster, client


def _run_dask(client, store, parts, pending, columns, *, model_path, batch_size,
              tf_threads, bar):
    import dask.array as da
    from distributed import as_completed

    cs = store.chunk_size
    arr = da.from_zarr(str(Path(store.path) / "images"))
    if len(arr.chunks[0]) > 1 and arr.chunks[0][0] != cs:
        raise RuntimeError(f"dask chunks {arr.chunks[0][0]} differ from the zarr chunks {cs}")
    probs = arr.map_blocks(_dask_block, str(model_path), int(batch_size), tf_threads,
                           drop_axis=[2, 3], chunks=(arr.chunks[0], (len(columns),)),
                           dtype=np.float32, meta=np.empty((0, len(columns)), np.float32))
    # Submit a bounded window of chunks and top it up as results arrive, so the
    # scheduler and this client never hold more than a few chunks' worth of tasks
    # whatever the size of the survey.
    n_threads = sum(client.nthreads().values()) or 1
    window = max(2 * n_threads, 4)
    todo = iter(pending)
    futures = {}

    def submit_next():
        k = next(todo, None)
        if k is None:
            return None
        fut = client.compute(probs.blocks[k], sync=False)
        futures[fut.key] = k
        return fut

    failures = _Failures()
    first = [f for f in (submit_next() for _ in range(window)) if f is not None]
    queue = as_completed(first, with_results=False)
    for fut in queue:
        k = futures.pop(fut.key)
        try:
            result = fut.result()
        except Exception as exc:  # noqa: BLE001 -- reported together at the end
            failures.add(k, exc)
        else:
            _write_part(parts, k, k * cs, np.asarray(result, dtype=np.float32), columns)
            failures.ok()
            bar.update(1)
        fut.release()
        nxt = submit_next()
        if nxt is not None:
            queue.add(nxt)
    return failures


# --------------------------------------------------------------------------- public
def classify_store(model, store, out, *, scheduler=None, workers=None, batch_size=256,
                   tf_threads=None, progress=True, overwrite=False):
    """Classify every cutout of a store and write a Parquet table of predictions.

    Parameters
    ----------
    model : str or path-like
        A saved Keras model (``.keras``) with input (64, 64, 3) and 1 (binary) or 3
        (three-class) outputs.
    store : str, path-like or Store
        The cutout store to classify (read chunk by chunk).
    out : str or path-like
        The predictions table (Parquet) to write.  Partial results live in
        ``OUT.parts/`` until every chunk is done.
    scheduler : None, str or distributed.Client, optional
        Where to run.  None: in this process, unless ``workers`` is given, which means
        ``"local"``.  ``"local"``: a Dask ``LocalCluster`` of ``workers`` processes
        (one thread each) on 127.0.0.1, closed at the end.  Any other string: the
        address of a running Dask scheduler (``tcp://host:port``); its workers must
        see the model and the store at the same paths.  A ``distributed.Client``: use it
        as it is (it is not closed).
    workers : int, optional
        Worker processes of the local cluster; defaults to the number of cores.
    batch_size : int, optional
        Images per forward pass.  Part of the job's identity: a rerun with another batch
        size does not reuse the parts of the first (its results could differ in the last
        bits).
    tf_threads : int, optional
        TensorFlow threads per Dask worker.  Defaults to cores / workers on a local
        cluster and to 1 on a remote one (one task per worker thread).  The single
        process keeps TensorFlow's defaults.
    progress : bool, optional
        Show a progress bar (one step per chunk).
    overwrite : bool, optional
        Replace an existing ``out``, and discard partial results of a different run.

    Returns
    -------
    pathlib.Path
        ``out``.  Columns: ``ra``, ``dec``, the store's ``id``/``coadd_id``/``label``/
        ``class_name``/``class_index``/``survey``/``simulated`` columns where present,
        ``store_row`` (the row in the store), then ``p_lsbg`` and ``uncertainty``
        (binary model or ``plus`` ensemble: the columns of ``deepshadows predict``,
        calibrated by the sidecar's temperature) or ``p_artifact2``, ``p_lsbg``,
        ``p_artifact1`` (three-class model).

    Raises
    ------
    InputError
        Missing or unsuitable model, store that is not a complete store, or leftover
        partial results of a different run.
    FileExistsError
        ``out`` exists and ``overwrite`` is False.
    PartialFailure
        Some chunks failed; the others are kept in ``OUT.parts`` and a rerun retries only
        the failed ones.

    Examples
    --------
    >>> from deepshadows_lib.classify import classify_store            # doctest: +SKIP
    >>> classify_store("model.keras", "survey.zarr", "predictions.parquet",
    ...                scheduler="local", workers=4)                  # doctest: +SKIP
    >>> pd.read_parquet("predictions.parquet").query("p_lsbg > 0.5")  # doctest: +SKIP
    """
    model_path = Path(model)
    if not model_path.is_file():
        raise InputError("model file not found", path=model_path)
    if int(batch_size) <= 0:
        raise InputError(f"batch size must be positive, got {batch_size}")
    store = _open_images(store.path if isinstance(store, Store) else store)
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass overwrite=True / --overwrite to replace it)")

    if scheduler is None and workers is not None:
        scheduler = "local"
    with _dask_client(scheduler, workers, tf_threads) as (client, tf_threads):
        if client is None:
            n_out = _probe_model(model_path)
        else:
            n_out = _warm_workers(client, model_path, tf_threads)
        return _classify(model_path, store, out, client=client, n_out=n_out,
                         batch_size=batch_size, tf_threads=tf_threads, progress=progress,
                         overwrite=overwrite)


def _classify(model_path, store, out, *, client, n_out, batch_size, tf_threads, progress,
              overwrite):
    global last_run
    columns = output_columns(n_out)
    n, cs = store.n, store.chunk_size
    n_chunks = -(-n // cs)
    parts = parts_dir(out)
    remove_stale_temporaries(out)  # a killed join's half-written output
    _prepare_parts(parts, _job_signature(model_path, store, batch_size, columns),
                   overwrite=overwrite)
    done = _done_chunks(parts, n_chunks)
    pending = [k for k in range(n_chunks) if k not in done]

    bar = _progress_bar(n_chunks, len(done), progress, f"classify {Path(store.path).name}")
    t0 = time.perf_counter()
    try:
        if not pending:
            failures = _Failures()
        elif client is None:
            failures = _run_single(store, parts, pending, columns, model_path=model_path,
                                   batch_size=batch_size, bar=bar)
        else:
            failures = _run_dask(client, store, parts, pending, columns,
                                 model_path=model_path, batch_size=batch_size,
                                 tf_threads=tf_threads, bar=bar)
    finally:
        bar.close()

    if failures.errors:
        first_k, first_exc = next(iter(sorted(failures.errors.items())))
        listed = ", ".join(str(k) for k in sorted(failures.errors)[:10])
        raise PartialFailure(
            f"{len(failures.errors)} of {n_chunks} chunks failed (chunks {listed}"
            f"{', ...' if len(failures.errors) > 10 else ''}); first error, chunk {first_k}: "
            f"{type(first_exc).__name__}: {first_exc}; the other chunks are kept in "
            f"{parts}: rerun the same command to retry the failed ones",
            failed=sum(min(cs, n - k * cs) for k in failures.errors))

    _join_parts(out, parts, store, n_chunks, columns)
    shutil.rmtree(parts, ignore_errors=True)
    last_run = {"chunks_total": n_chunks, "chunks_skipped": len(done),
                "chunks_computed": len(pending), "seconds": time.perf_counter() - t0}
    return out


def summarize_predictions(path, *, threshold=0.5):
    """Count the objects of a predictions table and those above ``threshold``.

    Reads only the ``p_lsbg`` column, one row group at a time.

    Returns
    -------
    dict
        ``n`` (objects) and ``n_lsbg`` (objects with ``p_lsbg > threshold``).
    """
    import pyarrow.parquet as pq
    pf = pq.ParquetFile(path)
    n_lsbg = 0
    for batch in pf.iter_batches(columns=["p_lsbg"]):
        n_lsbg += int(np.count_nonzero(batch.column(0).to_numpy() > threshold))
    return {"n": int(pf.metadata.num_rows), "n_lsbg": n_lsbg}


@contextlib.contextmanager
def _dask_client(scheduler, workers, tf_threads):
    """Yield ``(client, tf_threads)`` for ``scheduler``; ``(None, None)`` for this process."""
    if scheduler is None:
        yield None, None
        return
    from distributed import Client

    cluster = None
    own = True
    if isinstance(scheduler, str) and scheduler == "local":
        workers = int(workers or available_cpus())
        if tf_threads is None:
            tf_threads = max(1, available_cpus() // workers)
        cluster, client = _start_local_cluster(workers)
    elif isinstance(scheduler, str):
        if tf_threads is None:
            tf_threads = 1
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler!r}: "
                             f"{type(exc).__name__}: {exc}") from None
    elif hasattr(scheduler, "compute") and hasattr(scheduler, "nthreads"):
        client, own = scheduler, False
    else:
        raise InputError(f"scheduler must be None, 'local', an address or a "
                         f"distributed.Client, not {scheduler!r}")
    try:
        yield client, tf_threads
    finally:
        if own:
            client.close()
            if cluster is not None:
                _close_quietly(cluster)


def _close_quietly(cluster):
    """Close a LocalCluster without the nannies' 'still alive, killing' warnings.

    Workers that hold TensorFlow take a few seconds to exit; the nanny then kills them,
    which is harmless at this point (every result is on disk).
    """
    import logging
    log = logging.getLogger("distributed.nanny")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        cluster.close()
    finally:
        log.setLevel(level)

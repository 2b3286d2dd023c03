"""The classification job: a model over a whole store, resumably, into one table."""

import shutil
import time
from pathlib import Path

from .._io import remove_stale_temporaries
from ..nn.inference import PRECISIONS
from ..errors import InputError, PartialFailure
from ..store import Store
from .output import _join_parts, output_columns
from .parts import _done_chunks, _job_signature, _prepare_parts, parts_dir
from .model import _probe_model
from .runners import (_dask_client, _Failures, _progress_bar, _run_dask, _run_single,
                      _warm_workers)
from .source import _open_images

#: What the latest :func:`classify_store` call of this process did: ``chunks_total``,
#: ``chunks_skipped`` (found done from an earlier, interrupted run), ``chunks_computed``
#: and ``seconds``.  None before the first call.
last_run = None


def classify_store(model, store, out, *, scheduler=None, workers=None, batch_size=256,
                   tf_threads=None, progress=True, overwrite=False, precision="float32"):
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
    precision : {"float32", "bfloat16"}, optional
        The network's arithmetic (:func:`deepshadows_lib.nn.inference.inference_function`).
        ``"float32"`` (default): Keras' predictions to float32 rounding.  ``"bfloat16"``:
        an opt-in, faster on CPUs with bfloat16 instructions, whose probabilities differ
        from float32's by up to a few 1e-3 (bench/bench_classify.py records the measured
        difference); part of the job's identity, like ``batch_size``.

    Returns
    -------
    pathlib.Path
        ``out``.  Columns, in the order of
        :func:`~deepshadows_lib.classify.output.table_columns`: ``ra``, ``dec`` and the
        store's ``label``/``class_name``/``class_index`` where present; ``p_lsbg`` and
        ``uncertainty`` (binary model or ``plus`` ensemble: the columns of ``deepshadows
        predict``, calibrated by the sidecar's temperature) or ``p_artifact2``,
        ``p_artifact1``, ``p_lsbg`` (three-class model); then the store's
        ``id``/``coadd_id``/``object_id``/``survey``/``simulated`` where present and
        ``store_row`` (the row in the store).

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
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
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
                         overwrite=overwrite, precision=precision)


def _classify(model_path, store, out, *, client, n_out, batch_size, tf_threads, progress,
              overwrite, precision="float32"):
    global last_run
    columns = output_columns(n_out)
    n, cs = store.n, store.chunk_size
    n_chunks = -(-n // cs)
    parts = parts_dir(out)
    remove_stale_temporaries(out)  # a killed join's half-written output
    _prepare_parts(parts, _job_signature(model_path, store, batch_size, columns,
                                         precision=precision), overwrite=overwrite)
    done = _done_chunks(parts, n_chunks)
    pending = [k for k in range(n_chunks) if k not in done]

    bar = _progress_bar(n_chunks, len(done), progress, f"classify {Path(store.path).name}")
    t0 = time.perf_counter()
    try:
        if not pending:
            failures = _Failures()
        elif client is None:
            failures = _run_single(store, parts, pending, columns, model_path=model_path,
                                   batch_size=batch_size, bar=bar, precision=precision)
        else:
            failures = _run_dask(client, store, parts, pending, columns,
                                 model_path=model_path, batch_size=batch_size,
                                 tf_threads=tf_threads, bar=bar, precision=precision)
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

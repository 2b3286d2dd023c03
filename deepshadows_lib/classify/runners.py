"""Where the chunks run: this process, or the workers of a Dask cluster."""

import collections
import concurrent.futures as cf
import contextlib
import inspect
import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import InputError
from ..nn import runtime
from .model import _dask_block, _predict_block, _probe_model
from .parts import _write_part

# Give up early (re-raise) when this many chunks fail before any succeeds: the error is
# then systematic (a broken model, an unreadable store), not one bad chunk.
_EARLY_FAILURES = 3
# Chunks read ahead of the one being classified (one keeps the reader a chunk ahead).
_READ_AHEAD = 1


def _progress_bar(total, initial, progress, desc):
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


def _run_single(store, parts, pending, columns, *, model_path, batch_size, bar,
                precision="float32"):
    """Classify chunks ``pending`` in this process, reading the next chunks meanwhile.

    A helper thread reads (and decompresses) up to :data:`_READ_AHEAD` chunks ahead while
    the network runs on the current one (TensorFlow and zarr's codecs release the GIL),
    so reading costs no wall time; memory holds at most ``_READ_AHEAD + 1`` chunks.
    """
    images = store.images
    cs = store.chunk_size
    failures = _Failures()
    todo = iter(pending)
    ahead = collections.deque()

    def read(k):
        return np.asarray(images[k * cs:(k + 1) * cs])

    with cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify-read") as reader:
        def read_next():
            k = next(todo, None)
            if k is not None:
                ahead.append((k, reader.submit(read, k)))

        for _ in range(_READ_AHEAD):
            read_next()
        while ahead:
            k, block = ahead.popleft()
            read_next()
            try:
                probs = _predict_block(block.result(), model_path=model_path,
                                       batch_size=batch_size, precision=precision)
            except Exception as exc:  # one bad chunk must not lose the others' work
                failures.add(k, exc)
                continue
            _write_part(parts, k, k * cs, probs, columns)
            failures.ok()
            bar.update(1)
    return failures


def _start_local_cluster(workers):
    from distributed import Client, LocalCluster  # slow to import; only clusters need it
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    try:
        client = Client(cluster)
    except BaseException:
        cluster.close()
        raise
    return cluster, client


def _warm_workers(client, model_path, tf_threads):
    """Load the model once on every worker (in a task, so TensorFlow starts in the
    thread that runs the chunks) and return its number of outputs.

    The client itself never loads TensorFlow: on a cluster it only schedules and writes.
    """
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError:
        raise InputError("the Dask cluster has no workers (waited 60 s)") from None
    # older distributed versions list only the first 5 workers unless told otherwise
    kwargs = ({"n_workers": -1} if "n_workers" in inspect.signature(
        client.scheduler_info).parameters else {})
    workers = list(client.scheduler_info(**kwargs)["workers"])
    futures = [client.submit(_probe_model, str(model_path), tf_threads, workers=[w],
                             allow_other_workers=False, pure=False) for w in workers]
    n_outs = set(client.gather(futures))
    return n_outs.pop()


def _run_dask(client, store, parts, pending, columns, *, model_path, batch_size,
              tf_threads, bar, precision="float32"):
    import dask.array as da  # dask and distributed are slow to import; only clusters need them
    from distributed import as_completed

    cs = store.chunk_size
    arr = da.from_zarr(str(Path(store.path) / "images"))
    if len(arr.chunks[0]) > 1 and arr.chunks[0][0] != cs:
        raise RuntimeError(f"dask chunks {arr.chunks[0][0]} differ from the zarr chunks {cs}")
    probs = arr.map_blocks(_dask_block, str(model_path), int(batch_size), tf_threads,
                           precision, drop_axis=[2, 3], chunks=(arr.chunks[0], (len(columns),)),
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


@contextlib.contextmanager
def _dask_client(scheduler, workers, tf_threads):
    """Yield ``(client, tf_threads)`` for ``scheduler``; ``(None, None)`` for this process."""
    if scheduler is None:
        yield None, None
        return
    from distributed import Client  # slow to import; only clusters need it

    cluster = None
    own = True
    if isinstance(scheduler, str) and scheduler == "local":
        workers = int(workers or runtime.available_cpus())
        if tf_threads is None:
            tf_threads = max(1, runtime.available_cpus() // workers)
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
    log = logging.getLogger("distributed.nanny")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        cluster.close()
    finally:
        log.setLevel(level)

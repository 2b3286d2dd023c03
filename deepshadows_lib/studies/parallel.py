"""Independent trainings side by side: local worker processes, or a Dask cluster."""

import concurrent.futures
import multiprocessing
import os
import tempfile
import threading

import numpy as np
from tqdm.auto import tqdm

from .. import bn_stats, training
from ..errors import InputError
from .labels import _clear


def train_and_predict(images, labels, *, train_idx, val_idx, test_idx, epochs, seed=0,
                      batch_size=64, learning_rate=0.1, n_classes=1, bn_reestimate=False,
                      progress=True, ema_momentum=None):
    """Train the CNN once and predict the test rows (one training of a study).

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like
        (N,) training targets (possibly noisy; only ``train_idx`` and ``val_idx`` are used).
    train_idx, val_idx, test_idx : array_like of int
        The split.
    epochs, seed, batch_size, learning_rate, n_classes, progress, ema_momentum : optional
        As in :func:`deepshadows_lib.training.train_cnn`.
    bn_reestimate : bool, optional
        After training, re-estimate the batch-norm statistics on the training images
        (:func:`deepshadows_lib.bn_stats.reestimate_batch_norm`); ``p`` then comes from
        the re-estimated model and ``p_moving`` from the model as trained.

    Returns
    -------
    dict
        ``p`` (test predictions of the model kept), ``p_moving`` (with the training's
        moving statistics), ``p_reestimated`` (with re-estimated ones, computed on a copy
        when ``bn_reestimate`` is off), ``bn_reestimated``, ``history`` and ``model``.
    """
    _clear()
    model, history = training.train_cnn(
        images, labels, train_idx=train_idx, val_idx=val_idx, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, seed=int(seed),
        n_classes=n_classes, progress=progress, ema_momentum=ema_momentum)
    p_moving = training.predict(model, images, indices=test_idx)
    # both ways always: the paper's procedure reports the re-estimated numbers beside
    target = model if bn_reestimate else training.copy_model(model)
    bn_stats.reestimate_batch_norm(target, images, indices=train_idx)
    p_re = training.predict(target, images, indices=test_idx)
    return {"p": p_re if bn_reestimate else p_moving, "p_moving": p_moving,
            "p_reestimated": p_re, "bn_reestimated": bool(bn_reestimate),
            "history": history, "model": model}


_WORKER = {}
# one training at a time per process: Keras' session, seeds and names are process-wide,
# so two trainings in threads of one Dask worker would disturb each other
_TRAINING_LOCK = threading.Lock()


def _worker_init(images_path, threads):
    # several trainings share a GPU: each takes the memory it needs, not all of it at
    # once (TensorFlow's default), before TensorFlow starts in this fresh process
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    training.configure_threads(intra_op=threads, inter_op=1)
    _WORKER["images"] = np.load(images_path, mmap_mode="r")


def _train_task(images, **task):
    """One training of a study without its model (the result travels between processes)."""
    res = train_and_predict(images, progress=False, **task)
    res.pop("model")
    return res


def _worker_call(job):
    fn, task = job
    images = np.asarray(_WORKER["images"])  # memory-mapped: pages shared by the workers
    return fn(images, **task)


def _worker_call_pickled(job):
    import pickle
    return _worker_call(pickle.loads(job))


def _worker_train(task):
    return _worker_call((_train_task, task))


def _dask_call(fn, images, task, key):
    """Run one training for a Dask worker, in a child process of the worker's own.

    Keras draws its default seeds from Python's global ``random``, which a Dask worker's
    event loop draws from too (heartbeat jitter, every fraction of a second): a training
    in the worker's own threads would get other seeds than the same training elsewhere.
    So each worker process keeps one spawned child (TensorFlow threads: the worker's
    thread count), which holds the images memory-mapped from a file written once per
    call of :func:`map_trainings` (``key``) and runs the trainings one at a time.
    """
    from distributed import get_worker  # Dask is imported only when a cluster is used

    with _TRAINING_LOCK:
        if _WORKER.get("key") != key:
            _close_child()
            try:
                nthreads = int(get_worker().state.nthreads)
            except (AttributeError, ValueError):
                nthreads = 1
            tmp = tempfile.TemporaryDirectory(prefix="deepshadows-dask-")
            path = os.path.join(tmp.name, "images.npy")
            np.save(path, np.asarray(images))
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init, initargs=(path, max(1, nthreads)))
            # Dask's worker processes are daemonic, and multiprocessing refuses children
            # to daemons (so that none is orphaned); this child exits with its worker
            # (its task pipe closes), so the flag is lifted while it starts
            config = multiprocessing.current_process()._config
            daemon = config.get("daemon")
            config["daemon"] = False
            try:
                pool.submit(int).result()  # starts the child now
            finally:
                config["daemon"] = daemon
            _WORKER.update(key=key, child=pool, tmp=tmp)
        import cloudpickle  # comes with Dask: functions Dask itself shipped by value
        job = cloudpickle.dumps((fn, task))
        return _WORKER["child"].submit(_worker_call_pickled, job).result()


def _close_child():
    if _WORKER.get("child") is not None:
        _WORKER.pop("child").shutdown()
        _WORKER.pop("tmp").cleanup()
    _WORKER.pop("key", None)


def _dask_release(key):
    with _TRAINING_LOCK:
        if _WORKER.get("key") == key:
            _close_child()
    return True


#: seconds to reach a scheduler before giving up with one line (``scheduler_client``)
CONNECT_TIMEOUT = 10


def scheduler_client(scheduler):
    """A ``distributed.Client`` for ``scheduler`` and whether the caller must close it.

    Parameters
    ----------
    scheduler : str, distributed.Client, distributed.deploy.Cluster or None
        A scheduler address (``"tcp://host:8786"``), a scheduler file (a path ending
        in ``.json``, as written by ``dask scheduler --scheduler-file``), a client, or a
        cluster object (e.g. ``distributed.LocalCluster``).

    Returns
    -------
    (distributed.Client, bool) or (None, False)

    Raises
    ------
    InputError
        In one line, when no scheduler answers at that address within
        :data:`CONNECT_TIMEOUT` seconds (or the address does not parse).
    """
    if scheduler is None or (isinstance(scheduler, str) and not scheduler.strip()):
        return None, False
    from distributed import Client  # Dask is imported only when a cluster is used

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        if isinstance(scheduler, (str, os.PathLike)) and str(scheduler).endswith(".json"):
            if not os.path.exists(scheduler):
                raise FileNotFoundError(f"no scheduler file {str(scheduler)!r}")
            return Client(scheduler_file=str(scheduler), timeout=CONNECT_TIMEOUT), True
        return Client(scheduler, timeout=CONNECT_TIMEOUT), True
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        # one line, before anything is trained or written (a scheduler that is down, a
        # typo in its address), not Dask's traceback after its default 30 s
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot reach the Dask scheduler {str(scheduler)!r} ({reason}); "
                         "give the address of a running scheduler (tcp://HOST:8786) or "
                         "none to train in local processes") from None


def map_trainings(fn, images, tasks, *, workers=1, scheduler=None, progress=True,
                  desc="trainings"):
    """Run ``fn(images, **task)`` for every task: here, in local processes or on Dask.

    The general runner of independent trainings (the studies' random splits and noise
    conditions; the ``plus`` seeds through the same call).  Results come back in the
    order of ``tasks``; each training seeds itself, so they equal a sequential run's.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to other processes) taking the images
        and a task's keyword arguments and returning something picklable.
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8, read into memory once and shared: memory-mapped by the
        local processes, scattered once to every Dask worker.
    tasks : list of dict
        Keyword arguments of ``fn``.
    workers : int, optional
        Local processes (spawned, each with ``cores / workers`` TensorFlow threads);
        1 runs the trainings one after the other in this process.  Ignored with a
        scheduler.
    scheduler : str or distributed.Client, optional
        Run on this Dask cluster (:func:`scheduler_client`): one task per training,
        at most one training at a time in each worker process (give workers one
        thread each, or as many TensorFlow threads as they have cores).
    progress : bool, optional
        A progress bar over the trainings.
    desc : str, optional
        Its label.

    Returns
    -------
    list
        ``fn``'s results, in the order of ``tasks``.
    """
    tasks = list(tasks)
    if not tasks:
        return []
    client, own = scheduler_client(scheduler)
    if client is not None:
        try:
            return _map_dask(client, fn, images, tasks, progress=progress, desc=desc)
        finally:
            if own:
                client.close()
    workers = max(1, min(int(workers), len(tasks)))
    if workers == 1:
        return [fn(images, **t) for t in tasks]
    threads = max(1, training.available_cpus() // workers)
    with tempfile.TemporaryDirectory(prefix="deepshadows-") as tmp:
        path = os.path.join(tmp, "images.npy")
        np.save(path, training.read_images(images))
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=ctx, initializer=_worker_init,
                initargs=(path, threads)) as pool:
            futures = [pool.submit(_worker_call, (fn, t)) for t in tasks]
            if progress:
                for _ in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                              desc=f"{desc} ({workers} processes)", unit="run"):
                    pass
            return [f.result() for f in futures]


def _map_dask(client, fn, images, tasks, *, progress, desc):
    from distributed import as_completed  # Dask is imported only when a cluster is used

    # hash=False: a key of its own per call (a shared key would be released by the
    # clean-up of an earlier call with the same images)
    data = client.scatter(training.read_images(images), broadcast=True, hash=False)
    key = data.key
    futures = [client.submit(_dask_call, fn, data, t, key, pure=False) for t in tasks]
    n_workers = len(client.scheduler_info().get("workers", {}))
    if progress:
        for _ in tqdm(as_completed(futures), total=len(futures),
                      desc=f"{desc} (Dask, {n_workers} workers)", unit="run"):
            pass
    try:
        return client.gather(futures)
    finally:
        client.cancel(futures + [data])
        client.run(_dask_release, key)  # the children and their image files go


def train_many(images, tasks, *, workers=1, scheduler=None, progress=True):
    """Run several trainings (:func:`train_and_predict`), concurrently when asked.

    With ``workers > 1`` the trainings run in that many local processes, with a
    ``scheduler`` on a Dask cluster (:func:`map_trainings`); results come back in the
    order of ``tasks`` and equal those of a sequential run (each training is seeded and
    deterministic whatever its threads).  Models stay in the workers.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    tasks : list of dict
        Keyword arguments of :func:`train_and_predict` (everything but ``images``).
    workers : int, optional
        Concurrent local trainings; 1 runs them one after the other in this process
        (and keeps the models).
    scheduler : str or distributed.Client, optional
        A Dask scheduler (:func:`scheduler_client`); the trainings run on its workers.

    Returns
    -------
    list of dict
        :func:`train_and_predict`'s results (``model`` only when run here one by one).
    """
    if scheduler is None and max(1, min(int(workers), len(tasks))) == 1:
        return [train_and_predict(images, progress=progress, **t) for t in tasks]
    return map_trainings(_train_task, images, tasks, workers=workers, scheduler=scheduler,
                         progress=progress)

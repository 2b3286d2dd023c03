"""The studies of the paper, as functions that return plain results.

* :func:`baseline_models` -- SVM and random forest on catalog features (Section 4, Table 2);
* :func:`run_random_splits` -- the CNN trained on six random splits (Section 7.1, Table 4);
* :func:`run_label_noise` -- training labels flipped at random or in one direction
  (Section 7.2, Table 5), with :func:`flip_labels` and :func:`scaled_count`;
* :func:`hsc_transfer` -- the DES model on HSC, before and after fine-tuning (Section 6);
* :func:`run_three_class` -- LSBGs vs type-1 vs type-2 artifacts (Appendix A);
* :func:`hsc_feature_cv` -- a check on real data that runs offline: SVM and random forest
  on the HSC catalog measurements, stratified k-fold cross-validation.

The independent trainings of a study (random splits, label-noise conditions) run
concurrently (:func:`map_trainings`): in local processes (``workers``), or on a Dask
cluster when given its scheduler (``scheduler=``, an address such as
``"tcp://10.0.0.5:8786"`` or a ``distributed.Client``), so that the paper profile's
dozen trainings spread over a cluster's nodes or GPUs.  Each training is seeded and
deterministic, so the results equal those of the sequential run on the same machine.

Every result is a dict of numbers and numpy arrays (metrics from
:mod:`deepshadows_lib.evaluate`, ROC curves on :data:`~deepshadows_lib.evaluate.FPR_GRID`,
test labels and predictions, training histories), which :func:`results_frame` turns into
a table and :func:`save_results` into JSON.  Trained Keras models are returned only when
asked (``keep_models=True``) or when they are the point (``hsc_transfer``,
``run_three_class``), under the key ``model``.
"""

import concurrent.futures
import json
import multiprocessing
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, train_test_split
from tqdm.auto import tqdm

from . import bn_stats, catalogs, evaluate, training
from ._io import atomic_write_json, json_ready
from .models import baseline_pipelines, baseline_scores
from .errors import InputError
from .paper import PAPER_N_TRAIN

__all__ = ["DIRECTIONS", "PAPER_N_TRAIN", "flip_labels", "scaled_count", "evaluate_scores",
           "train_and_predict", "train_many", "map_trainings", "scheduler_client", "cnn_run",
           "load_run", "baseline_models", "run_random_splits", "run_label_noise",
           "hsc_transfer", "run_three_class", "hsc_feature_cv", "results_frame",
           "save_results"]

#: directions of label noise: both ways at random, LSBGs called artifacts, artifacts
#: called LSBGs
DIRECTIONS = ("both", "1->0", "0->1")

#: training-set size of the paper (the noise counts 300 ... 10,000 refer to it)


# --------------------------------------------------------------------------- helpers
def flip_labels(labels, *, n, direction="both", seed=0, return_indices=False):
    """Flip ``n`` binary labels, chosen at random without replacement.

    Parameters
    ----------
    labels : array_like of int
        Binary labels (1 = LSBG, 0 = artifact).
    n : int
        Number of labels to flip.
    direction : {"both", "1->0", "0->1"}, optional
        ``both``: any label may flip, in either direction (the paper's random noise);
        ``1->0``: ``n`` LSBGs relabelled as artifacts; ``0->1``: ``n`` artifacts
        relabelled as LSBGs (the paper's biased noise).
    seed : int or numpy.random.Generator, optional
        Which labels flip.
    return_indices : bool, optional
        Also return the sorted indices of the flipped labels.

    Returns
    -------
    numpy.ndarray
        A copy of ``labels`` with ``n`` labels flipped (same dtype); and the indices if
        ``return_indices``.

    Raises
    ------
    ValueError
        For an unknown direction, labels that are not 0/1, or more flips than candidates.
    """
    labels = np.asarray(labels)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("flip_labels needs binary labels (0 or 1)")
    if direction == "both":
        candidates = np.arange(labels.size)
    else:
        candidates = np.flatnonzero(labels == int(direction[0]))
    n = int(n)
    if n < 0 or n > candidates.size:
        raise ValueError(f"cannot flip {n} labels: {candidates.size} candidates for "
                         f"direction {direction!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    chosen = np.sort(rng.choice(candidates, size=n, replace=False))
    out = labels.copy()
    out[chosen] = 1 - out[chosen]
    return (out, chosen) if return_indices else out


def scaled_count(paper_count, *, n_train, paper_n_train=PAPER_N_TRAIN):
    """A count of the paper scaled to another training-set size.

    The paper flips 300, 1,500, 3,000 and 10,000 of 30,000 training labels; on a
    training set of ``n_train`` objects the same fractions are
    ``round(paper_count * n_train / paper_n_train)``.

    Examples
    --------
    >>> scaled_count(1500, n_train=3000)
    150
    """
    if paper_n_train <= 0 or n_train < 0 or paper_count < 0:
        raise ValueError("counts must be non-negative and paper_n_train positive")
    return int(round(paper_count * n_train / paper_n_train))


def evaluate_scores(y_true, p, *, threshold=0.5):
    """Binary metrics and the ROC curve on the fixed FPR grid of one set of scores.

    Returns
    -------
    dict
        ``metrics`` (:func:`evaluate.binary_metrics`), ``tpr`` (interpolated on
        :data:`evaluate.FPR_GRID`), ``y_true`` and ``p``.
    """
    y_true = np.asarray(y_true).astype(int)
    p = np.asarray(p, dtype=float)
    out = {"metrics": evaluate.binary_metrics(y_true, p, threshold=threshold),
           "y_true": y_true, "p": p}
    out["tpr"] = (evaluate.roc_interp(y_true, p) if len(np.unique(y_true)) == 2
                  else np.full(len(evaluate.FPR_GRID), np.nan))
    return out


def _split_of(split, n):
    missing = {"train", "validation", "test"} - set(split)
    if missing:
        raise InputError(f"split lacks {sorted(missing)} (expected the dict of "
                         "catalogs.random_split or catalogs.baseline_split)")
    out = {k: np.asarray(split[k], dtype=np.int64) for k in ("train", "validation", "test")}
    for k, idx in out.items():
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise InputError(f"split[{k!r}] indexes beyond the {n} objects")
    return out


def _clear():
    import keras  # TensorFlow starts only when a training does
    keras.backend.clear_session()  # free the previous run's graph and weights


# --------------------------------------------------------------------------- trainings
def train_and_predict(images, labels, *, train_idx, val_idx, test_idx, epochs, seed=0,
                      batch_size=64, learning_rate=0.1, n_classes=1, bn_reestimate=False,
                      progress=True):
    """Train the CNN once and predict the test rows (one training of a study).

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like
        (N,) training targets (possibly noisy; only ``train_idx`` and ``val_idx`` are used).
    train_idx, val_idx, test_idx : array_like of int
        The split.
    epochs, seed, batch_size, learning_rate, n_classes, progress : optional
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
        n_classes=n_classes, progress=progress)
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
    """
    if scheduler is None or (isinstance(scheduler, str) and not scheduler.strip()):
        return None, False
    from distributed import Client  # Dask is imported only when a cluster is used

    if isinstance(scheduler, Client):
        return scheduler, False
    if isinstance(scheduler, (str, os.PathLike)) and str(scheduler).endswith(".json"):
        return Client(scheduler_file=str(scheduler)), True
    return Client(scheduler), True


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


# --------------------------------------------------------------------------- baselines
def baseline_models(features_train, y_train, features_test, y_test, *, seed=0,
                    models=("SVM", "Random forest")):
    """Fit the paper's SVM and random forest on features and score the test set.

    Parameters
    ----------
    features_train, features_test : pandas.DataFrame or array_like
        (n, n_features), e.g. :func:`deepshadows_lib.features.paper_features` of the
        training and test catalogs.
    y_train, y_test : array_like of int
        Binary labels.
    seed : int, optional
        Random state of the models.
    models : sequence of str, optional
        Which of ``"SVM"`` and ``"Random forest"``.

    Returns
    -------
    dict
        ``name -> {"metrics", "tpr", "y_true", "p", "model"}``; ``p`` are scores in
        [0, 1] (:func:`deepshadows_lib.models.baseline_scores`).

    Raises
    ------
    InputError
        If the features hold NaN or infinite values (the message names the column).
    """
    for name, f in (("features_train", features_train), ("features_test", features_test)):
        arr = np.asarray(f, dtype=float)
        if not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr).all(axis=0))
            cols = list(getattr(f, "columns", range(arr.shape[1])))
            raise InputError(f"{name} has NaN or infinite values; drop or impute them "
                             "first", column=str(cols[bad[0]]))
    pipes = baseline_pipelines(seed=seed)
    out = {}
    for name in models:
        if name not in pipes:
            raise ValueError(f"unknown baseline {name!r}; choose from {list(pipes)}")
        pipe = pipes[name].fit(features_train, np.asarray(y_train).astype(int))
        res = evaluate_scores(y_test, baseline_scores(pipe, features_test))
        res["model"] = pipe
        out[name] = res
    return out


# --------------------------------------------------------------------------- CNN studies
def _same_split(run, split):
    return all(np.array_equal(np.sort(np.asarray(run[f"{part}_idx"])), np.sort(split[part]))
               for part in ("train", "test"))


def _known_run(run, split):
    """A stored run's predictions in the order of ``split["test"]``."""
    order = np.argsort(np.asarray(run["test_idx"]))
    where = np.searchsorted(np.asarray(run["test_idx"])[order], split["test"])
    return {k: np.asarray(run[k])[order][where] for k in ("p", "p_moving", "p_reestimated")} \
        | {"history": run.get("history")}


def cnn_run(p, p_moving, p_reestimated, *, seed, train_idx, test_idx, history=None,
            run=None):
    """A training's test predictions as a study result that other studies can reuse
    (``known=`` of :func:`run_random_splits`, ``clean=`` of :func:`run_label_noise`).

    ``run`` identifies the run that made it (:meth:`deepshadows_lib.pipeline.RunConfig.run_id`).
    """
    return {"seed": int(seed), "p": np.asarray(p), "p_moving": np.asarray(p_moving),
            "p_reestimated": np.asarray(p_reestimated),
            "train_idx": np.asarray(train_idx), "test_idx": np.asarray(test_idx),
            "history": history, "run": run}


def run_random_splits(images, labels, *, seeds, epochs, batch_size=64, learning_rate=0.1,
                      progress=True, keep_models=False, bn_reestimate=False, workers=1,
                      known=None, scheduler=None):
    """Train and test the CNN on the paper's random split for each seed (Table 4, Fig. 8).

    Each seed is the ``random_state`` of :func:`deepshadows_lib.catalogs.random_split`
    (75 % training, 12.5 % validation, 12.5 % test) and also seeds the network's
    initial weights, dropout and shuffling.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like
        (N,) binary labels.
    seeds : sequence of int
        The paper: 1, 3, 18, 33, 42, 96 (:data:`deepshadows_lib.profiles.PAPER_SEEDS`).
    epochs, batch_size, learning_rate : optional
        Training settings (the paper: 100, 64, 0.1).
    progress : bool, optional
        Progress bars.
    keep_models : bool, optional
        Keep each trained model under ``model`` (the trainings then run in this process).
    bn_reestimate : bool, optional
        Re-estimate batch-norm statistics after each training (:func:`train_and_predict`);
        the metrics of the model as trained are kept under ``metrics_moving``.
    workers : int, optional
        Trainings run concurrently in local processes (:func:`train_many`).
    scheduler : str or distributed.Client, optional
        Run the trainings on this Dask cluster instead (:func:`map_trainings`).
    known : dict, optional
        ``seed -> run`` (:func:`cnn_run`) of trainings already made with the same
        split, seed and settings (the main notebook's model): reused, not retrained.

    Returns
    -------
    list of dict
        One per seed: ``seed``, ``metrics`` (the model kept), ``metrics_moving`` and
        ``metrics_reestimated`` (both choices of batch-norm statistics), ``tpr``,
        ``y_true``, ``p`` (test set), ``test_idx``, ``train_idx``, ``history``.
    """
    labels = np.asarray(labels)
    splits = [catalogs.random_split(len(labels), seed=int(seed)) for seed in seeds]
    known = {int(k): v for k, v in (known or {}).items()}
    for seed, sp in zip(seeds, splits):
        if int(seed) in known and not _same_split(known[int(seed)], sp):
            raise InputError(f"the known run of seed {seed} used another split")
    todo = [(seed, sp) for seed, sp in zip(seeds, splits) if int(seed) not in known]
    tasks = [{"labels": labels, "train_idx": sp["train"], "val_idx": sp["validation"],
              "test_idx": sp["test"], "epochs": epochs, "seed": int(seed),
              "batch_size": batch_size, "learning_rate": learning_rate,
              "bn_reestimate": bn_reestimate} for seed, sp in todo]
    trained = dict(zip([int(seed) for seed, _ in todo],
                       train_many(images, tasks, workers=1 if keep_models else workers,
                                  scheduler=None if keep_models else scheduler,
                                  progress=progress)))
    runs = [trained.get(int(seed)) or _known_run(known[int(seed)], sp)
            for seed, sp in zip(seeds, splits)]
    results = []
    for seed, sp, run in zip(seeds, splits, runs):
        y_test = labels[sp["test"]]
        res = {"seed": int(seed), **evaluate_scores(y_test, run["p"]),
               "p_moving": run["p_moving"], "p_reestimated": run["p_reestimated"],
               "metrics_moving": evaluate.binary_metrics(y_test, run["p_moving"]),
               "metrics_reestimated": evaluate.binary_metrics(y_test, run["p_reestimated"]),
               "test_idx": sp["test"], "train_idx": sp["train"], "history": run["history"]}
        if keep_models:
            res["model"] = run["model"]
        results.append(res)
    return results


def _noise_conditions(n_train, fractions, biased_fractions):
    conds = [("both", f) for f in fractions]
    conds += [(d, f) for d in ("1->0", "0->1") for f in biased_fractions]
    return [(d, f, int(round(f * n_train))) for d, f in conds]


def run_label_noise(images, labels, *, split, epochs, fractions=(0.01, 0.05, 0.10, 1 / 3),
                    biased_fractions=(0.01, 0.05, 0.10), include_clean=True, seed=0,
                    batch_size=64, learning_rate=0.1, progress=True, keep_models=False,
                    bn_reestimate=False, workers=1, clean=None, scheduler=None):
    """Train the CNN with a fraction of the training labels flipped (Table 5, Fig. 8).

    Only training labels are flipped; validation and test keep the true labels.  The
    number flipped is ``round(fraction * n_train)``: the paper's 300, 1,500, 3,000 and
    10,000 of 30,000 at random (both directions) and 300, 1,500, 3,000 in one direction
    (LSBGs called artifacts, ``1->0``, and artifacts called LSBGs, ``0->1``).  Every
    condition trains from the same seed, so the runs differ only in their labels.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like
        (N,) binary labels.
    split : dict
        ``train``, ``validation``, ``test`` index arrays (e.g.
        :func:`deepshadows_lib.catalogs.random_split`).
    epochs : int
        Training epochs.
    fractions : sequence of float, optional
        Fractions flipped at random in both directions.
    biased_fractions : sequence of float, optional
        Fractions flipped in each single direction.
    include_clean : bool, optional
        Also train without noise (fraction 0), the reference.
    seed : int, optional
        Seeds training; the flips of condition ``k`` use ``default_rng([seed, k])``.
    batch_size, learning_rate, progress, keep_models, bn_reestimate, workers, scheduler : optional
        As in :func:`run_random_splits`.
    clean : dict, optional
        A result of the same training without noise (same split, same seed), e.g. the
        random split of the same seed from :func:`run_random_splits`: used as the
        noise-free condition instead of training it again.

    Returns
    -------
    list of dict
        One per condition: ``direction`` ("none", "both", "1->0", "0->1"), ``fraction``,
        ``n_flipped``, ``metrics``, ``metrics_moving``, ``tpr``, ``y_true``, ``p``,
        ``history``.
    """
    labels = np.asarray(labels)
    split = _split_of(split, len(labels))
    train_idx = split["train"]
    conds = _noise_conditions(len(train_idx), fractions, biased_fractions)
    if include_clean:
        conds = [("none", 0.0, 0)] + conds
    # the flips of condition k depend only on k, whether or not the clean run is reused
    tasks, keep = [], []
    for k, (direction, fraction, n_flip) in enumerate(conds):
        if direction == "none" and clean is not None:
            if not _same_split(clean, split):
                raise InputError("the clean result given was trained or tested on another "
                                 "split")
            continue
        noisy = labels.copy()
        if n_flip:
            noisy[train_idx] = flip_labels(labels[train_idx], n=n_flip, direction=direction,
                                           seed=np.random.default_rng([int(seed), k]))
        tasks.append({"labels": noisy, "train_idx": train_idx,
                      "val_idx": split["validation"], "test_idx": split["test"],
                      "epochs": epochs, "seed": int(seed), "batch_size": batch_size,
                      "learning_rate": learning_rate, "bn_reestimate": bn_reestimate})
        keep.append(k)
    runs = dict(zip(keep, train_many(images, tasks, workers=1 if keep_models else workers,
                                     scheduler=None if keep_models else scheduler,
                                     progress=progress)))
    y_test = labels[split["test"]]
    results = []
    for k, (direction, fraction, n_flip) in enumerate(conds):
        run = runs[k] if k in runs else _known_run(clean, split)  # else: the clean run given
        moving = evaluate.binary_metrics(y_test, run["p_moving"])
        reest = evaluate.binary_metrics(y_test, run["p_reestimated"])
        res = {"direction": direction, "fraction": float(fraction), "n_flipped": int(n_flip),
               **evaluate_scores(y_test, run["p"]), "metrics_moving": moving,
               "metrics_reestimated": reest, "history": run["history"]}
        if keep_models and "model" in run:
            res["model"] = run["model"]
        results.append(res)
    return results


def hsc_transfer(model, hsc_images, hsc_labels, *, n_finetune=320, epochs=30, batch_size=16,
                 learning_rate=0.005, seed=0, progress=True, bn_reestimate=False):
    """The DES model on HSC cutouts, before and after fine-tuning (Section 6, Table 6).

    ``n_finetune`` objects (stratified by class, drawn with ``seed``) fine-tune a copy
    of the model -- every layer, Adadelta at the new learning rate; the original model
    is left untouched -- and the remaining objects test both models.

    Parameters
    ----------
    model : keras.Model
        The model trained on DES.
    hsc_images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8 HSC cutouts.
    hsc_labels : array_like
        (N,) binary labels.
    n_finetune : int, optional
        Fine-tuning objects (the paper: 320 of 1,280).
    epochs, batch_size, learning_rate : optional
        The paper: 30, 16, 0.005.
    seed : int, optional
        Seeds the choice of the fine-tuning objects and the fine-tuning.
    progress : bool, optional
        Progress bar.
    bn_reestimate : bool, optional
        Re-estimate the fine-tuned copy's batch-norm statistics on the fine-tuning
        images (:func:`deepshadows_lib.bn_stats.reestimate_batch_norm`).

    Returns
    -------
    dict
        ``before`` and ``after``: results on the test objects (``metrics``, ``tpr``,
        ``y_true``, ``p``); ``after_moving`` and ``after_reestimated``: the fine-tuned
        copy with its moving statistics and with re-estimated ones; ``before_all``: the untouched model on every HSC object;
        ``finetune_idx``, ``test_idx``, ``history`` and ``model`` (the fine-tuned copy).
    """
    labels = np.asarray(hsc_labels).astype(int)
    n = len(labels)
    if not 0 < int(n_finetune) < n:
        raise InputError(f"n_finetune must be between 1 and {n - 1} (the HSC sample has "
                         f"{n} objects), got {n_finetune}")
    counts = np.bincount(labels, minlength=2)
    stratify = labels if counts.min() >= 2 else None
    ft_idx, test_idx = train_test_split(np.arange(n), train_size=int(n_finetune),
                                        random_state=int(seed), stratify=stratify)
    ft_idx, test_idx = np.sort(ft_idx), np.sort(test_idx)
    p_all = training.predict(model, hsc_images)
    tuned, history = training.fine_tune(model, hsc_images, labels, indices=ft_idx,
                                        epochs=epochs, batch_size=batch_size,
                                        learning_rate=learning_rate, seed=seed,
                                        progress=progress)
    p_moving = training.predict(tuned, hsc_images, indices=test_idx)
    target = tuned if bn_reestimate else training.copy_model(tuned)
    bn_stats.reestimate_batch_norm(target, hsc_images, indices=ft_idx)
    p_re = training.predict(target, hsc_images, indices=test_idx)
    p_after = p_re if bn_reestimate else p_moving
    return {"before": evaluate_scores(labels[test_idx], p_all[test_idx]),
            "after": evaluate_scores(labels[test_idx], p_after),
            "after_moving": evaluate_scores(labels[test_idx], p_moving),
            "after_reestimated": evaluate_scores(labels[test_idx], p_re),
            "before_all": evaluate_scores(labels, p_all),
            "finetune_idx": ft_idx, "test_idx": test_idx, "history": history,
            "model": tuned}


def run_three_class(images, class_index, *, split, epochs, seed=0, batch_size=64,
                    learning_rate=0.1, progress=True, bn_reestimate=False):
    """Train the three-class model: type-2 artifacts, LSBGs, type-1 artifacts (Appendix A).

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    class_index : array_like of int
        (N,) ``class_index`` (artifact2 = 0, lsbg = 1, artifact1 = 2).
    split : dict
        ``train``, ``validation``, ``test`` index arrays (the paper: 45,000 / 7,500 /
        7,500).
    epochs, seed, batch_size, learning_rate, progress : optional
        As in :func:`deepshadows_lib.training.train_cnn`.
    bn_reestimate : bool, optional
        As in :func:`train_and_predict`; ``metrics_moving`` then holds the metrics of
        the model as trained.

    Returns
    -------
    dict
        ``metrics`` (:func:`evaluate.multiclass_metrics`: accuracy, 3x3 ``confusion``,
        per-class recall and precision, ``reduced_confusion`` LSBG vs artifact and
        ``reduced_accuracy``), ``confusion``, ``reduced_confusion``, ``proba`` (test
        set, (n, 3)), ``y_true``, ``test_idx``, ``history`` and ``model``.
    """
    y = np.asarray(class_index).astype(int)
    split = _split_of(split, len(y))
    n_classes = max(3, int(y.max()) + 1)
    run = train_and_predict(images, y, train_idx=split["train"], val_idx=split["validation"],
                            test_idx=split["test"], epochs=epochs, seed=seed,
                            batch_size=batch_size, learning_rate=learning_rate,
                            n_classes=n_classes, bn_reestimate=bn_reestimate,
                            progress=progress)
    model, history, proba = run["model"], run["history"], run["p"]
    metrics = evaluate.multiclass_metrics(y[split["test"]], proba)
    moving = evaluate.multiclass_metrics(y[split["test"]], run["p_moving"])
    reest = evaluate.multiclass_metrics(y[split["test"]], run["p_reestimated"])
    return {"metrics": metrics, "metrics_moving": moving, "metrics_reestimated": reest,
            "confusion": metrics["confusion"],
            "reduced_confusion": metrics["reduced_confusion"], "proba": proba,
            "y_true": y[split["test"]], "test_idx": split["test"], "history": history,
            "model": model}


# --------------------------------------------------------------------------- real data
def hsc_feature_cv(*, n_splits=5, seed=0, n_bootstrap=1000, features=None, labels=None):
    """SVM and random forest on the real HSC catalog measurements, cross-validated.

    The 781 HSC LSBGs of Greco et al. (2018) against the 641 HSC artifacts, on the
    measurements both catalogs share (mu_0, m_tot, r_e, n, ell, g-i, g-r), with the
    paper's two baselines.  Stratified ``n_splits``-fold cross-validation gives an
    out-of-fold score for every object; accuracy and AUC are computed on the pooled
    out-of-fold scores, with percentile bootstrap intervals (95 %) over the objects, and
    also per fold (mean and standard deviation).  No image, no network, no download.

    Parameters
    ----------
    n_splits : int, optional
        Folds.
    seed : int, optional
        Seeds the folds, the models and the bootstrap.
    n_bootstrap : int, optional
        Bootstrap resamples.
    features, labels : optional
        Other data in the same form (default:
        :func:`deepshadows_lib.catalogs.load_hsc_features`).

    Returns
    -------
    pandas.DataFrame
        Index ``model`` (SVM, Random forest); columns ``accuracy``, ``accuracy_lo``,
        ``accuracy_hi``, ``auc``, ``auc_lo``, ``auc_hi``, ``accuracy_fold_mean``,
        ``accuracy_fold_std``, ``auc_fold_mean``, ``auc_fold_std``, ``n``,
        ``n_splits``.  ``attrs["scores"]`` holds the out-of-fold scores per model and
        ``attrs["y"]`` the labels.
    """
    if features is None or labels is None:
        features, labels = catalogs.load_hsc_features()
    X = np.asarray(features, dtype=float)
    y = np.asarray(labels).astype(int)
    folds = list(StratifiedKFold(n_splits=int(n_splits), shuffle=True,
                                 random_state=int(seed)).split(X, y))
    rows, scores = {}, {}
    for name, pipe in baseline_pipelines(seed=seed).items():
        oof = np.empty(len(y))
        fold_acc, fold_auc = [], []
        for train, test in folds:
            fitted = clone(pipe).fit(X[train], y[train])
            oof[test] = baseline_scores(fitted, X[test])
            m = evaluate.binary_metrics(y[test], oof[test])
            fold_acc.append(m["accuracy"])
            fold_auc.append(m["auc"])
        boot = evaluate.bootstrap(y, oof, n_resamples=n_bootstrap, seed=seed)
        m = evaluate.binary_metrics(y, oof)
        rows[name] = {
            "accuracy": m["accuracy"], "accuracy_lo": boot.intervals["accuracy"][0],
            "accuracy_hi": boot.intervals["accuracy"][1],
            "auc": m["auc"], "auc_lo": boot.intervals["auc"][0],
            "auc_hi": boot.intervals["auc"][1],
            "accuracy_fold_mean": float(np.mean(fold_acc)),
            "accuracy_fold_std": float(np.std(fold_acc, ddof=1)),
            "auc_fold_mean": float(np.mean(fold_auc)),
            "auc_fold_std": float(np.std(fold_auc, ddof=1)),
            "n": int(len(y)), "n_splits": int(n_splits)}
        scores[name] = oof
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    table.attrs["scores"] = scores
    table.attrs["y"] = y
    return table


# --------------------------------------------------------------------------- output
_KEYS = ("seed", "direction", "fraction", "n_flipped")


def results_frame(results):
    """One row per run of a study: its keys (seed, noise condition) and its metrics.

    Parameters
    ----------
    results : list of dict or dict
        The output of :func:`run_random_splits` or :func:`run_label_noise` (a list), or
        a dict ``name -> result`` (:func:`baseline_models`, :func:`hsc_transfer`'s
        ``before``/``after``).

    Returns
    -------
    pandas.DataFrame
    """
    if isinstance(results, dict):
        items = [({"name": k}, v) for k, v in results.items()
                 if isinstance(v, dict) and "metrics" in v]
    else:
        items = [({k: r[k] for k in _KEYS if k in r}, r) for r in results]
    rows = []
    for keys, r in items:
        metrics = {k: v for k, v in r["metrics"].items() if np.ndim(v) == 0}
        rows.append({**keys, **metrics})
    return pd.DataFrame(rows)


def _is_model(key, value):
    return key == "model" or hasattr(value, "fit")


def load_run(path, *, run=None):
    """A run saved with :func:`save_results` (:func:`cnn_run`), arrays as numpy; None when
    the file does not exist or, with ``run``, was made by another run."""
    path = Path(path)
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    if run is not None and saved.get("run") != run:
        return None
    run = saved
    for k in ("p", "p_moving", "p_reestimated", "train_idx", "test_idx"):
        run[k] = np.asarray(run[k])
    return run


def save_results(results, path):
    """Write a study's results to JSON atomically (models left out, arrays as lists).

    NaN becomes ``null``.

    Returns
    -------
    pathlib.Path
    """
    atomic_write_json(path, json_ready(results, drop=_is_model))
    return Path(path)

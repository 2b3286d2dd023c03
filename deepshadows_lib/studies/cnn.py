"""The CNN studies of the paper: random splits, label noise, HSC transfer, three classes."""

import numpy as np
from sklearn.model_selection import train_test_split

from .. import bn_stats, catalogs, evaluate, training
from ..errors import InputError
from .labels import _split_of, evaluate_scores, flip_labels
from .parallel import train_and_predict, train_many


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
                      known=None, scheduler=None, ema_momentum=None):
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
    ema_momentum : float, optional
        Average the weights (:func:`deepshadows_lib.training.train_cnn`); None: the paper.
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
              "bn_reestimate": bn_reestimate, "ema_momentum": ema_momentum}
             for seed, sp in todo]
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
                    bn_reestimate=False, workers=1, clean=None, scheduler=None,
                    ema_momentum=None):
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
    batch_size, learning_rate, progress, keep_models, bn_reestimate : optional
        As in :func:`run_random_splits`.
    workers, scheduler, ema_momentum : optional
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
                      "learning_rate": learning_rate, "bn_reestimate": bn_reestimate,
                      "ema_momentum": ema_momentum})
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
                    learning_rate=0.1, progress=True, bn_reestimate=False,
                    ema_momentum=None):
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
    epochs, seed, batch_size, learning_rate, progress, ema_momentum : optional
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
                            progress=progress, ema_momentum=ema_momentum)
    model, history, proba = run["model"], run["history"], run["p"]
    metrics = evaluate.multiclass_metrics(y[split["test"]], proba)
    moving = evaluate.multiclass_metrics(y[split["test"]], run["p_moving"])
    reest = evaluate.multiclass_metrics(y[split["test"]], run["p_reestimated"])
    return {"metrics": metrics, "metrics_moving": moving, "metrics_reestimated": reest,
            "confusion": metrics["confusion"],
            "reduced_confusion": metrics["reduced_confusion"], "proba": proba,
            "y_true": y[split["test"]], "test_idx": split["test"], "history": history,
            "model": model}

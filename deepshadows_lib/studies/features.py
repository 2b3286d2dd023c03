"""The feature baselines (SVM, random forest) and the HSC feature check on real data."""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from .. import catalogs, evaluate
from ..baselines import baseline_pipelines, baseline_scores
from ..errors import InputError
from .labels import evaluate_scores


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

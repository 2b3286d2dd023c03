"""The command line's training and evaluation jobs: a store in, a run directory out.

``deepshadows train`` (:func:`train_store`) and ``deepshadows evaluate``
(:func:`evaluate_store`) chain the library's parts (store, split, network, metrics,
provenance) and write their results atomically.  This is the top layer: it may use any
module; nothing in the library imports it but :mod:`deepshadows_lib.cli`.
"""

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import catalogs, evaluate, nn, schema
from ._io import atomic_path, atomic_write_json
from .bn_stats import reestimate_batch_norm
from .errors import InputError
from .profiles import get_profile
from .provenance import make_provenance, write_sidecar
from .store import open_store

__all__ = ["train_store", "evaluate_store", "CHECKPOINT_DIR"]

#: the per-epoch state of ``deepshadows train`` inside OUT
CHECKPOINT_DIR = nn.CHECKPOINT_DIR


def _store_targets(store, n_classes):
    """The targets of a store's catalog, or a one-line InputError naming what is missing."""
    col = "label" if n_classes == 1 else "class_index"
    cat = store.catalog
    if col not in cat.columns:
        raise InputError(f"store has no labels (catalog column '{col}'); train and evaluate "
                         "need a labelled store (deepshadows simulate, or a catalog with "
                         "labels)", path=store.path, column=col)
    values = cat[col]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputError(f"store has objects without a label ({int(values.isna().sum())} "
                         f"missing)", path=store.path, row=row + 1, column=col)
    y = values.to_numpy()
    k = 2 if n_classes == 1 else n_classes
    if not np.isin(y, np.arange(k)).all():
        raise InputError(f"labels must be integers 0..{k - 1}", path=store.path, column=col)
    return y.astype(np.int64)


def _predictions_frame(catalog, p):
    """The predictions table of a store: its identifiers, then the probabilities.

    Columns as :func:`deepshadows_lib.schema.prediction_columns` orders them; the
    probability columns are :func:`deepshadows_lib.schema.probability_columns`.
    """
    out = pd.DataFrame({c: catalog[c].to_numpy() for c in schema.ID_COLUMNS
                        if c in catalog.columns and c != "row"})
    p = p.reshape(len(p), -1)
    for k, name in enumerate(schema.probability_columns(p.shape[1])):
        out[name] = p[:, k]
    return out[schema.prediction_columns(out.columns)]


def _metrics_of(y_binary, p, *, y_class=None, n_bootstrap=0, seed=0):
    """JSON-ready metrics of one set of predictions (binary view, plus three-class)."""
    p_lsbg = p if p.ndim == 1 else p[:, 1]
    out = {"n": int(len(p_lsbg))}
    if len(p_lsbg) == 0:
        return out
    out.update(evaluate.binary_metrics(y_binary, p_lsbg))
    if n_bootstrap and len(np.unique(y_binary)) == 2:
        boot = evaluate.bootstrap(y_binary, p_lsbg, n_resamples=n_bootstrap, seed=seed)
        out["bootstrap"] = {"n_resamples": int(n_bootstrap), "ci": boot.ci,
                            "intervals": {k: list(v) for k, v in boot.intervals.items()}}
    if p.ndim == 2 and y_class is not None:
        m = evaluate.multiclass_metrics(y_class, p)
        out["multiclass"] = {k: (np.asarray(v).tolist() if np.ndim(v) else float(v))
                             for k, v in m.items()}
    for k, v in list(out.items()):
        if isinstance(v, float) and not np.isfinite(v):
            out[k] = None
    return out


def _run_info(store):
    import keras  # imported by nn already when a job runs; see nn.runtime
    tf = nn.runtime.tf()
    return {"cutouts": str(store.path), "store_sha256": store.attrs.get("content_sha256"),
            "simulated": store.simulated, "survey": store.attrs.get("survey"),
            "tensorflow": tf.__version__, "keras": keras.__version__}


def train_store(cutouts, out, *, profile="default", epochs=None, seed=0, split="auto",
                n_classes=1, progress=True, restart=False):
    """Train the CNN on a labelled store and write model, history, metrics, predictions.

    The command ``deepshadows train``.  Writes, each file atomically::

        OUT/model.keras          the model of the last epoch
        OUT/model.json           its sidecar: recipe, profile, data hash, split, test
                                 metrics, library versions, SHA-256 (provenance)
        OUT/history.json         loss and accuracy per epoch (training and validation)
        OUT/metrics.json         metrics on each split (bootstrap intervals on the test set)
        OUT/predictions.parquet  ra, dec, label, p_lsbg (and class probabilities), split

    While training, ``OUT/checkpoint/`` holds the state of the last finished epoch
    (:class:`deepshadows_lib.nn.TrainingCheckpoint`): the same command run again after
    a kill resumes from there, says so, and ends with the weights of an uninterrupted
    run.  It is removed once every file above is written.  A checkpoint that the
    command cannot resume (another seed, split, data or settings, more finished epochs
    than asked, a damaged file) is refused with one line rather than replaced:
    ``restart`` (``--restart``) discards it.

    Parameters
    ----------
    cutouts : str or path-like
        A cutout store with ``label`` (binary) or ``class_index`` (three classes).
    out : str or path-like
        Output directory.
    profile : str, optional
        Run profile: epochs (or its step budget, ``train_steps``), batch size, learning
        rate, weight averaging (``ema_momentum``), batch-norm re-estimation after
        training (``bn_reestimate``) and bootstrap resamples -- the recipe of the
        profile's notebooks, so that ``deepshadows train --profile default`` gives the
        model notebook 2 would on the same objects and split.
    epochs : int, optional
        Override the profile's epochs (and its step budget).
    seed : int, optional
        Seeds the random split and the training.
    split : {"auto", "random", "baseline"}, optional
        ``random``: the paper's 75 / 12.5 / 12.5 random split with ``seed``;
        ``baseline``: the paper's baseline split matched by position (the paper's own
        objects only); ``auto``: baseline when every baseline position matches, else
        random (:func:`deepshadows_lib.catalogs.paper_split`).
    n_classes : int, optional
        1 (binary) or 3 (three-class, Appendix A).
    progress : bool, optional
        Progress bars.
    restart : bool, optional
        Discard a checkpoint in ``OUT`` and train from the first epoch.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.

    Raises
    ------
    InputError
        A missing or incomplete store, a store without labels, an unknown split, a
        checkpoint in ``OUT`` that this training cannot resume.
    """
    prof = get_profile(profile)
    st = open_store(cutouts, lazy=True)
    y = _store_targets(st, n_classes)
    y_bin = (y if n_classes == 1 else (y == 1)).astype(np.int64)
    if split == "random":
        parts = catalogs.random_split(len(y), seed=seed)
        parts["kind"] = "random"
    elif split == "baseline":
        parts = catalogs.baseline_split(st.catalog)
        parts["kind"] = "baseline"
    elif split == "auto":
        parts = catalogs.paper_split(st.catalog, seed=seed)
    else:
        raise InputError(f"unknown split {split!r}: choose auto, random or baseline")
    if len(parts["train"]) == 0:
        raise InputError("the split leaves no training objects", path=st.path)
    epochs = int(epochs or prof.epochs_for(len(parts["train"])))
    out = Path(out)
    checkpoint = out / CHECKPOINT_DIR
    if restart:
        nn.TrainingCheckpoint(checkpoint).remove()
    t0 = time.perf_counter()
    model, history = nn.train_cnn(st.images, y, train_idx=parts["train"],
                               val_idx=parts["validation"], epochs=epochs,
                               batch_size=prof.batch_size, learning_rate=prof.learning_rate,
                               seed=seed, n_classes=n_classes, progress=progress,
                               # strict: a checkpoint of another run is refused,
                               # not silently replaced (--restart discards it)
                               checkpoint=nn.TrainingCheckpoint(checkpoint, strict=True),
                               ema_momentum=prof.ema_momentum)
    if prof.bn_reestimate:
        reestimate_batch_norm(model, st.images, indices=parts["train"])
    train_s = time.perf_counter() - t0
    p = nn.predict(model, st.images, progress=progress)

    out.mkdir(parents=True, exist_ok=True)
    nn.save_model(model, out / "model.keras")
    atomic_write_json(out / "history.json", history)
    frame = _predictions_frame(st.catalog, p)
    which = np.full(len(y), "unused", dtype=object)
    for name in ("train", "validation", "test"):
        which[np.asarray(parts[name], dtype=np.int64)] = name
    frame["split"] = which.astype(str)
    with atomic_path(out / "predictions.parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    metrics = {"splits": {}}
    for name in ("train", "validation", "test"):
        idx = np.asarray(parts[name], dtype=np.int64)
        metrics["splits"][name] = _metrics_of(
            y_bin[idx], p[idx], y_class=y[idx] if n_classes > 1 else None,
            n_bootstrap=prof.n_bootstrap if name == "test" else 0, seed=seed)
    metrics.update({"split": parts.get("kind", split), "seed": int(seed), "epochs": epochs,
                    "batch_size": prof.batch_size, "learning_rate": prof.learning_rate,
                    "ema_momentum": prof.ema_momentum,
                    "bn_reestimated": bool(prof.bn_reestimate), "profile": prof.name, "n_classes": 3 if n_classes > 1 else 2,
                    "n_params": int(model.count_params()), "train_seconds": train_s,
                    **_run_info(st)})
    atomic_write_json(out / "metrics.json", metrics)
    # the model's sidecar, now that its metrics are known (the file itself is unchanged)
    write_sidecar(out / "model.keras", make_provenance(
        recipe="paper", profile=prof.name, data=st, split={**parts, "kind": metrics["split"]},
        metrics={"test": {k: v for k, v in metrics["splits"]["test"].items()
                          if k in ("accuracy", "precision", "recall", "auc", "n")}},
        seed=seed, epochs=epochs, n_classes=metrics["n_classes"],
        ema_momentum=prof.ema_momentum, bn_reestimated=bool(prof.bn_reestimate)))
    # every result is written: the per-epoch state is no longer needed
    nn.TrainingCheckpoint(checkpoint).remove()
    return metrics


def evaluate_store(model, cutouts, out, *, batch_size=256, n_bootstrap=1000, seed=0,
                   progress=True):
    """Evaluate a trained model on every object of a labelled store.

    The command ``deepshadows evaluate``.  Writes ``OUT/metrics.json`` (accuracy,
    precision, recall, AUC, confusion counts, bootstrap intervals; the three-class
    matrices for a three-class model) and ``OUT/predictions.parquet`` (ra, dec, label,
    p_lsbg and, for a three-class model, the class probabilities).

    Parameters
    ----------
    model : str, path-like or keras.Model
        A ``.keras`` file (loaded in safe mode) or a model.
    cutouts : str or path-like
        A labelled cutout store.
    out : str or path-like
        Output directory.
    batch_size : int, optional
        Images per forward pass.
    n_bootstrap : int, optional
        Bootstrap resamples for the intervals (0: none).
    seed : int, optional
        Seed of the bootstrap.
    progress : bool, optional
        Progress bar.

    Returns
    -------
    dict
        The metrics written.
    """
    model_path = None
    if isinstance(model, (str, os.PathLike)):
        model_path = str(model)
        model = nn.load_model(model)
    n_out = int(model.output_shape[-1])
    if n_out not in (1, schema.N_CLASSES):
        raise InputError(f"a DeepShadows model has 1 or {schema.N_CLASSES} outputs, this one "
                         f"{n_out}", path=model_path)
    st = open_store(cutouts, lazy=True)
    n_classes = 1 if n_out == 1 else n_out
    y = _store_targets(st, n_classes)
    y_bin = (y if n_classes == 1 else (y == 1)).astype(np.int64)
    p = nn.predict(model, st.images, batch_size=batch_size, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "predictions.parquet") as tmp:
        _predictions_frame(st.catalog, p).to_parquet(tmp, index=False)
    metrics = _metrics_of(y_bin, p, y_class=y if n_classes > 1 else None,
                          n_bootstrap=n_bootstrap, seed=seed)
    metrics.update({"model": model_path, "n_classes": 3 if n_classes > 1 else 2,
                    **_run_info(st)})
    atomic_write_json(out / "metrics.json", metrics)
    return metrics

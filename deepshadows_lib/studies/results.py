"""The studies' results as a table and as JSON."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_write_json, json_ready


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

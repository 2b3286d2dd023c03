"""A run's metrics in the shape of the paper's tables, beside the paper's numbers."""

import numpy as np
import pandas as pd

from ..errors import InputError
from ..paper import PAPER_TABLE2
from ._counts import THRESHOLD_METRICS
from .metrics import binary_metrics

__all__ = ["metrics_table", "compare_with_paper"]


def metrics_table(results, *, threshold=0.5):
    """Metrics of several models on their test sets, in the shape of the paper's Table 2.

    Parameters
    ----------
    results : dict
        ``model name -> (y_true, p)``.
    threshold : float, optional
        Decision threshold.

    Returns
    -------
    pandas.DataFrame
        One row per model (index ``model``, in the order given), columns accuracy,
        recall, precision, auc.
    """
    if not results:
        raise InputError("metrics_table needs at least one model")
    rows = {}
    for name, pair in results.items():
        try:
            y_true, p = pair
        except (TypeError, ValueError):
            raise InputError(f"results[{name!r}] must be a pair (y_true, p)") from None
        m = binary_metrics(y_true, p, threshold=threshold)
        rows[name] = {k: m[k] for k in THRESHOLD_METRICS}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


_ALIASES = {"svm": "SVM", "rf": "Random forest", "random forest": "Random forest",
            "random_forest": "Random forest", "randomforest": "Random forest",
            "cnn": "DeepShadows", "deepshadows": "DeepShadows"}


def compare_with_paper(table, *, paper=PAPER_TABLE2):
    """Put a run's table beside the paper's numbers.

    Parameters
    ----------
    table : pandas.DataFrame
        E.g. from :func:`metrics_table`; rows are matched to ``paper`` by name
        (case-insensitive; ``rf``, ``cnn`` and similar aliases are understood).
    paper : pandas.DataFrame, optional
        The paper's table (:data:`PAPER_TABLE2`).

    Returns
    -------
    pandas.DataFrame
        Columns ``(metric, "this run")`` and ``(metric, "paper")`` for every metric the
        two share; paper values are NaN for models the paper does not have.
    """
    lookup = {str(k).lower(): k for k in paper.index}

    def match(name):
        key = str(name).strip().lower()
        key = _ALIASES.get(key, key)
        return lookup.get(str(key).lower())

    metrics = [c for c in table.columns if c in paper.columns]
    cols = {}
    for m in metrics:
        cols[(m, "this run")] = table[m].astype(float)
        cols[(m, "paper")] = pd.Series(
            [paper.at[match(i), m] if match(i) is not None else np.nan for i in table.index],
            index=table.index, dtype=float)
    out = pd.DataFrame(cols)
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["metric", "source"])
    return out

"""Synthetic cutouts of the figure's classes beside the real ones: table and AUC."""

from ..errors import InputError
from .classifier import classifier_auc
from .figure import figure_round_trip
from .statistics import compare, image_statistics, load_real_statistics


def realism_report(images, catalog=None, *, real=None, seed=0, round_trip=True):
    """The side-by-side table and the classifier AUC for synthetic cutouts.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 64, 64, 3) synthetic cutouts, of the figure's classes (LSBGs and type-2
        artifacts, best in equal numbers).
    catalog : pandas.DataFrame, optional
        Unused except for its length check (kept for symmetry with stores).
    real : pandas.DataFrame, optional
        Real statistics; default: the shipped file.
    seed : int
    round_trip : bool
        Measure the synthetic cutouts after :func:`figure_round_trip`, as the real ones
        were measured (the default; False measures them as stored).

    Returns
    -------
    dict
        ``table`` (:func:`compare`), ``auc`` (:func:`classifier_auc`), ``synthetic``
        (the per-image statistics) and ``real``.
    """
    if catalog is not None and len(catalog) != len(images):
        raise InputError(f"{len(images)} images but {len(catalog)} catalog rows")
    real = load_real_statistics() if real is None else real
    syn = image_statistics(figure_round_trip(images) if round_trip else images)
    return {"table": compare(real, syn), "auc": classifier_auc(real, syn, seed=seed),
            "synthetic": syn, "real": real}

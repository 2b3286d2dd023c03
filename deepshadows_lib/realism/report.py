"""Synthetic cutouts of the figure's classes beside the real ones: table and AUC."""

import numpy as np

from ..errors import InputError
from .classifier import FOLDS, classifier_auc
from .figure import FIGURE_LAYOUT, figure_round_trip
from .statistics import SIZE, compare, image_statistics, load_real_statistics

#: the issue's goal for the real-vs-synthetic classifier: cross-validated AUC at most this
AUC_GOAL = 0.75
#: the classes of the real cutouts (the paper's Fig. 6: LSBGs and type-2 artifacts)
FIGURE_CLASSES = tuple(dict.fromkeys(cls for _, cls, _, _ in FIGURE_LAYOUT))


def realism_report(images, catalog=None, *, real=None, seed=0, round_trip=True):
    """The side-by-side table and the classifier AUC for synthetic cutouts.

    The goal (issue 14): each statistic's synthetic median inside the real interquartile
    range, and a cross-validated real-vs-synthetic classifier on the statistics at AUC
    <= :data:`AUC_GOAL`.  With 36 real cutouts (chosen for the figure by the CNN's
    verdicts) the AUC is uncertain by about 0.05: it can show that these statistics tell
    the two sets apart, or fail to; it cannot show that no other property would.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 64, 64, 3) uint8 synthetic cutouts, of the figure's classes (LSBGs and type-2
        artifacts, best in equal numbers; at least :data:`FOLDS`).
    catalog : pandas.DataFrame, optional
        One row per image with ``class_name``: only the cutouts of the figure's classes
        (:data:`FIGURE_CLASSES`) are compared, and each of them must be there.  Without
        it every image is compared.
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
        (the per-image statistics), ``real``, ``goal`` (``inside_iqr``: every median
        inside the real IQR; ``auc_max``; ``auc_ok``) and ``passes`` (both).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (SIZE, SIZE, 3):
        raise InputError(f"expected (N, {SIZE}, {SIZE}, 3) cutouts, got {images.shape}")
    if images.dtype != np.uint8:
        # the stored cutouts' 0-255 units, in which the statistics and the real file are
        raise InputError(f"expected uint8 cutouts (0-255), got {images.dtype}")
    if catalog is not None:
        if len(catalog) != len(images):
            raise InputError(f"{len(images)} images but {len(catalog)} catalog rows")
        if "class_name" not in catalog.columns:
            raise InputError("the catalog has no class_name column", column="class_name")
        names = catalog["class_name"].to_numpy()
        missing = [c for c in FIGURE_CLASSES if not (names == c).any()]
        if missing:
            raise InputError(f"no synthetic cutouts of {', '.join(missing)}: the real "
                             f"cutouts are {' and '.join(FIGURE_CLASSES)}")
        images = images[np.isin(names, FIGURE_CLASSES)]
    if len(images) < FOLDS:
        raise InputError(f"{len(images)} synthetic cutouts of the figure's classes: the "
                         f"{FOLDS}-fold cross-validation needs at least {FOLDS}")
    real = load_real_statistics() if real is None else real
    syn = image_statistics(figure_round_trip(images) if round_trip else images)
    table, auc = compare(real, syn), classifier_auc(real, syn, seed=seed)
    goal = {"inside_iqr": bool(table.inside_iqr.all()), "auc_max": AUC_GOAL,
            "auc_ok": bool(auc["auc"] <= AUC_GOAL)}
    return {"table": table, "auc": auc, "synthetic": syn, "real": real, "goal": goal,
            "passes": goal["inside_iqr"] and goal["auc_ok"]}

"""Label noise and the helpers every study shares: flipped labels, scaled counts, metrics."""

import numpy as np

from .. import evaluate
from ..errors import InputError
from ..paper import PAPER_N_TRAIN


#: directions of label noise: both ways at random, LSBGs called artifacts, artifacts
#: called LSBGs
DIRECTIONS = ("both", "1->0", "0->1")

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

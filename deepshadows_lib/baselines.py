"""The feature-based baselines of the paper (Section 4): an RBF SVM and a random forest.

Both are scikit-learn Pipelines on the 16 catalog features of
:data:`deepshadows_lib.features.PAPER_FEATURES`: a standard scaler followed by an RBF
support-vector machine or a random forest, with the numbers of
:mod:`deepshadows_lib.paper` (``SVM_C``, ``SVM_GAMMA``, ``RF_TREES``,
``RF_MIN_SAMPLES_SPLIT``).
"""

import numpy as np
from scipy.special import expit
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from . import paper

__all__ = ["svm_pipeline", "random_forest_pipeline", "baseline_pipelines", "baseline_scores"]


#: libsvm's kernel cache of the SVM, in MB (scikit-learn's default: 200).  With the
#: paper's C = 10^4 on 30,000 objects the solver revisits most kernel rows many times;
#: a larger cache only saves recomputing them: the fitted model is the same
#: (tests/test_baselines.py), only the fit is faster.
SVM_CACHE_MB = 2048


def svm_pipeline(*, C=paper.SVM_C, gamma=paper.SVM_GAMMA, seed=0, cache_size=SVM_CACHE_MB):
    """The paper's support-vector machine: standard scaler + RBF SVC (the paper's C, gamma).

    ``probability`` is off: Platt scaling would run an internal five-fold
    cross-validation (five more fits), and its probabilities can disagree with the
    decision rule.  :func:`baseline_scores` turns the decision function into a score
    in (0, 1) whose 0.5 threshold is exactly the SVM's own decision.

    Parameters
    ----------
    C, gamma : float, optional
        Regularisation and kernel width (the paper's values by default).
    seed : int, optional
        Random state (used by the solver's shuffling only).
    cache_size : float, optional
        libsvm's kernel cache in MB (:data:`SVM_CACHE_MB`): speed only.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    return Pipeline([("scale", StandardScaler()),
                     ("svm", SVC(kernel="rbf", C=C, gamma=gamma, random_state=seed,
                                 cache_size=cache_size))])


def random_forest_pipeline(*, n_estimators=paper.RF_TREES,
                           min_samples_split=paper.RF_MIN_SAMPLES_SPLIT, seed=0, n_jobs=None):
    """The paper's random forest: standard scaler + RandomForestClassifier (its trees, split).

    The scaler changes nothing for a forest; it is there so that both baselines see the
    same standardised features, as in the paper.

    Parameters
    ----------
    n_estimators, min_samples_split : int, optional
        The paper's values by default.
    seed : int, optional
        Random state of the forest.
    n_jobs : int, optional
        Parallel jobs of the forest (scikit-learn's meaning).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    return Pipeline([("scale", StandardScaler()),
                     ("rf", RandomForestClassifier(n_estimators=n_estimators,
                                                   min_samples_split=min_samples_split,
                                                   random_state=seed, n_jobs=n_jobs))])


def baseline_pipelines(*, seed=0):
    """Both baselines, unfitted: ``{"SVM": ..., "Random forest": ...}`` (Table 2's names).

    The forest runs in one job: with several, its probabilities are summed over the
    trees in whatever order the threads finish, and differ in the last bits from run to
    run.
    """
    return {"SVM": svm_pipeline(seed=seed), "Random forest": random_forest_pipeline(seed=seed)}


def baseline_scores(pipeline, features):
    """LSBG scores in [0, 1] of a fitted baseline, for ROC curves and a 0.5 threshold.

    For a classifier with ``predict_proba`` (the forest) this is the probability of
    class 1.  For the SVM it is the logistic function of the decision function: a
    monotonic map, so ROC and AUC are those of the decision function, and score > 0.5
    exactly when the SVM predicts 1.

    Parameters
    ----------
    pipeline : sklearn estimator
        A fitted binary classifier (labels 0 and 1).
    features : array_like or pandas.DataFrame
        (N, n_features).

    Returns
    -------
    numpy.ndarray
        (N,) float64.
    """
    classes = list(getattr(pipeline, "classes_", [0, 1]))
    if hasattr(pipeline, "predict_proba"):
        try:
            return np.asarray(pipeline.predict_proba(features))[:, classes.index(1)]
        except AttributeError:  # SVC(probability=False) exposes the method but refuses it
            pass
    d = np.asarray(pipeline.decision_function(features), dtype=float)
    # decision_function is positive for classes_[1]
    return expit(d) if classes[1] == 1 else expit(-d)

"""Verdicts from what the studies return, so that a notebook cell computes nothing itself."""

from .. import evaluate
from ..errors import InputError
from .claims import (cnn_accuracy, cnn_auc, hsc_finetune, noise_cost, noise_monotonic,
                     random_splits, three_class)

__all__ = ["model_verdicts", "seed_verdict", "noise_verdicts", "transfer_verdict",
           "three_class_verdict"]


def _need(mapping, keys, what):
    """Stop with the names of the missing studies, not a bare KeyError in a notebook."""
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise InputError(f"{what}: no result for {', '.join(map(repr, missing))} "
                         f"(got {', '.join(map(repr, mapping)) or 'none'})")


def model_verdicts(scores):
    """``cnn_accuracy`` and ``cnn_auc`` from Table 2's scores ``{model: (y_test, p)}``
    (models SVM, Random forest, DeepShadows)."""
    _need(scores, ("DeepShadows", "SVM", "Random forest"), "the CNN-vs-baselines verdicts")
    m = {name: evaluate.binary_metrics(y, p) for name, (y, p) in scores.items()}
    return (cnn_accuracy(cnn=m["DeepShadows"]["accuracy"], svm=m["SVM"]["accuracy"],
                         rf=m["Random forest"]["accuracy"]),
            cnn_auc(cnn=m["DeepShadows"]["auc"], svm=m["SVM"]["auc"],
                    rf=m["Random forest"]["auc"]))


def seed_verdict(runs):
    """``random_splits`` from the random-split runs (each with ``metrics``)."""
    return random_splits([r["metrics"]["accuracy"] for r in runs])


def noise_verdicts(runs, *, n_test):
    """``noise_monotonic`` and ``noise_cost`` from the label-noise runs: the noise-free
    run and those with labels flipped at random (not the one-direction ones); ``n_test``
    objects in the common test set set the tolerance (one standard error)."""
    random_noise = [r for r in runs if r["direction"] in ("none", "both")]
    fractions = [r["fraction"] for r in random_noise]
    accuracies = [r["metrics"]["accuracy"] for r in random_noise]
    return (noise_monotonic(fractions, accuracies, [r["metrics"]["auc"] for r in random_noise],
                            tolerance="se", n_test=n_test),
            noise_cost(fractions, accuracies))


def transfer_verdict(transfer):
    """``hsc_finetune`` from an HSC transfer (``before`` and ``after`` with ``metrics``)."""
    _need(transfer, ("before", "after"), "the HSC fine-tuning verdict")
    before, after = transfer["before"]["metrics"], transfer["after"]["metrics"]
    return hsc_finetune(before_accuracy=before["accuracy"], after_accuracy=after["accuracy"],
                        before_auc=before["auc"], after_auc=after["auc"])


def three_class_verdict(result, binary_predictions):
    """``three_class`` from the three-class run and the binary CNN's test predictions
    (a DataFrame with ``label`` and ``p_lsbg``, notebook 2's)."""
    binary = evaluate.binary_metrics(binary_predictions["label"],
                                     binary_predictions["p_lsbg"])["accuracy"]
    return three_class(reduced_accuracy=result["metrics"]["reduced_accuracy"],
                       binary_accuracy=binary, overall_accuracy=result["metrics"]["accuracy"])

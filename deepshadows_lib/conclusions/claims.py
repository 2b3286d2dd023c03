"""The claims of the paper and the test of each on a run's numbers (:class:`Verdict`)."""

import dataclasses

import numpy as np

from .._io import json_ready
from ..errors import InputError

__all__ = ["Claim", "CLAIMS", "Verdict", "cnn_accuracy", "cnn_auc", "random_splits",
           "noise_monotonic", "noise_cost", "hsc_finetune", "three_class", "gradcam_centre",
           "gradcam_verdict", "MAP_NAMES", "NOT_RUN"]

NOT_RUN = "not run"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper: what it says, the paper's number, the test applied."""

    key: str
    claim: str
    paper: str
    test: str
    notebook: str


CLAIMS = {c.key: c for c in (
    Claim("cnn_accuracy", "the CNN beats SVM and RF in accuracy",
          "0.920 vs 0.819 / 0.797", "CNN accuracy >= max(SVM, RF) + 0.05", "02_deepshadows"),
    Claim("cnn_auc", "the CNN beats SVM and RF in AUC", "0.974 vs 0.894 / 0.872",
          "CNN AUC > max(SVM, RF)", "02_deepshadows"),
    Claim("random_splits", "random splits agree", "0.912-0.920 (spread 0.008)",
          "max - min accuracy <= 0.02", "03_uncertainty"),
    Claim("noise_monotonic", "accuracy and AUC fall as more labels are flipped",
          "accuracy 0.920, 0.918, 0.914, 0.909, 0.883; AUC 0.974, 0.974, 0.970, 0.969, "
          "0.950 (0, 1, 5, 10, 33%)",
          "accuracy and AUC non-increasing with the fraction, each step up by at most "
          "the tolerance", "03_uncertainty"),
    Claim("noise_cost", "33% label noise costs little", "-0.037 accuracy",
          "accuracy(0) - accuracy(33%) <= 0.06", "03_uncertainty"),
    Claim("hsc_finetune", "fine-tuning on HSC raises accuracy and AUC",
          "accuracy 0.821 -> 0.876, AUC 0.902 -> 0.936",
          "accuracy and AUC after > before", "02_deepshadows"),
    Claim("three_class", "three-class accuracy near the binary one",
          "about 0.88 (binary 0.920)",
          "reduced (LSBG vs artifact) accuracy within 0.03 of the binary CNN's",
          "05_three_class"),
    Claim("gradcam_centre", "Grad-CAM of confident true positives sits on the galaxy",
          "yes (Fig. 6)",
          "median share of the map within 12 px of the centre >= 3 x the disc's share",
          "04_gradcam"),
)}


@dataclasses.dataclass
class Verdict:
    """The outcome of one claim's test on this run.

    Attributes
    ----------
    key : str
        A key of :data:`CLAIMS`.
    this_run : str
        This run's numbers, as the table shows them.
    holds : bool
    values : dict
        The numbers the test used (JSON-ready).
    test : str, optional
        The test with this run's thresholds, when they differ from the claim's text.
    note : str, optional
        Why the row cannot hold, or how the numbers were obtained.
    """

    key: str
    this_run: str
    holds: bool
    values: dict = dataclasses.field(default_factory=dict)
    test: str = ""
    note: str = ""

    def as_dict(self):
        return {"key": self.key, "this_run": self.this_run, "holds": bool(self.holds),
                "values": json_ready(self.values), "test": self.test, "note": self.note}


def _finite(*values):
    return all(v is not None and np.isfinite(float(v)) for v in values)


def _num(value):
    """A number as the table shows it; a study that gave none says ``missing``."""
    return "missing" if value is None else f"{float(value):.3f}"


# --------------------------------------------------------------------------- the tests
def cnn_accuracy(*, cnn, svm, rf, margin=0.05):
    """The CNN's accuracy is at least ``margin`` above both baselines'."""
    holds = _finite(cnn, svm, rf) and cnn >= max(svm, rf) + margin - 1e-12
    return Verdict("cnn_accuracy", f"{_num(cnn)} vs {_num(svm)} / {_num(rf)}", bool(holds),
                   {"cnn": cnn, "svm": svm, "rf": rf, "margin": margin},
                   test=f"CNN accuracy >= max(SVM, RF) + {margin:g}")


def cnn_auc(*, cnn, svm, rf):
    """The CNN's AUC is above both baselines'."""
    holds = _finite(cnn, svm, rf) and cnn > max(svm, rf)
    return Verdict("cnn_auc", f"{_num(cnn)} vs {_num(svm)} / {_num(rf)}", bool(holds),
                   {"cnn": cnn, "svm": svm, "rf": rf})


def random_splits(accuracies, *, max_spread=0.02):
    """The accuracies of the random splits spread (max - min) by at most ``max_spread``."""
    acc = np.asarray(accuracies, dtype=float)
    if acc.size < 2:
        raise InputError("the random-split verdict needs at least two splits")
    spread = float(acc.max() - acc.min())
    holds = bool(np.isfinite(acc).all() and spread <= max_spread + 1e-12)
    return Verdict("random_splits",
                   f"{acc.min():.3f}-{acc.max():.3f} (spread {spread:.3f}, {acc.size} splits)",
                   holds, {"accuracies": acc.tolist(), "spread": spread,
                           "max_spread": max_spread},
                   test=f"max - min accuracy <= {max_spread:g}")


def _by_fraction(fractions, values):
    f = np.asarray(fractions, dtype=float)
    v = np.asarray(values, dtype=float)
    if f.shape != v.shape or f.size < 2:
        raise InputError("label-noise verdicts need one value per fraction, at least two "
                         "fractions (the noise-free run included)")
    if not np.isclose(f, 0.0).any():
        raise InputError("label-noise verdicts need the noise-free run (fraction 0) beside "
                         f"the runs with flipped labels; got fractions "
                         f"{', '.join(f'{x:g}' for x in f)}")
    order = np.argsort(f, kind="stable")
    return f[order], v[order]


def noise_monotonic(fractions, accuracies, aucs, *, tolerance=0.0, n_test=None):
    """Accuracy and AUC do not rise with the fraction of flipped labels.

    Parameters
    ----------
    fractions : sequence of float
        Fractions flipped at random (0 for the noise-free run).
    accuracies, aucs : sequence of float
        Test metrics, one per fraction.
    tolerance : float or "se", optional
        A step to a larger fraction may raise a metric by at most this much; 0: no rise
        at all.  ``"se"``: one standard error of the noise-free run's test accuracy,
        ``sqrt(a (1 - a) / n_test)`` -- a rise smaller than the test set can resolve.
    n_test : int, optional
        Test objects (for ``tolerance="se"``).
    """
    f, acc = _by_fraction(fractions, accuracies)
    _, auc = _by_fraction(fractions, aucs)
    if tolerance == "se":
        if not n_test:
            raise InputError("tolerance='se' needs n_test")
        tolerance = float(np.sqrt(acc[0] * (1 - acc[0]) / int(n_test)))
    rise_acc = float(np.max(np.diff(acc), initial=-np.inf))
    rise_auc = float(np.max(np.diff(auc), initial=-np.inf))
    holds = bool(np.isfinite(acc).all() and np.isfinite(auc).all()
                 and rise_acc <= tolerance + 1e-12 and rise_auc <= tolerance + 1e-12)
    pct = ", ".join(f"{100 * x:.0f}" for x in f)
    text = (f"accuracy {', '.join(f'{a:.3f}' for a in acc)}; AUC "
            f"{', '.join(f'{a:.3f}' for a in auc)} ({pct}%)")
    test = ("accuracy and AUC non-increasing with the fraction"
            + (f" (a rise below one standard error of the test accuracy, {tolerance:.3f}, "
               "allowed)" if tolerance else ""))
    return Verdict("noise_monotonic", text, holds,
                   {"fractions": f.tolist(), "accuracies": acc.tolist(),
                    "aucs": auc.tolist(), "largest_rise_accuracy": rise_acc,
                    "largest_rise_auc": rise_auc, "tolerance": tolerance}, test=test)


def noise_cost(fractions, accuracies, *, fraction=1 / 3, max_cost=0.06):
    """Flipping ``fraction`` of the labels costs at most ``max_cost`` accuracy."""
    f, acc = _by_fraction(fractions, accuracies)
    clean = np.flatnonzero(np.isclose(f, 0.0))
    # the run whose fraction rounds to the same percent (a profile may say 0.33 or 1/3)
    distance = np.abs(f - fraction)
    noisy = np.flatnonzero((distance < 0.005) & (distance == distance.min()))
    if clean.size == 0 or noisy.size == 0:
        raise InputError(f"the label-noise cost needs runs at 0 and {fraction:.3f} flipped "
                         f"(got {', '.join(f'{x:g}' for x in f)})")
    cost = float(acc[clean[0]] - acc[noisy[0]])
    holds = bool(np.isfinite(cost) and cost <= max_cost + 1e-12)
    return Verdict("noise_cost", f"{-cost:+.3f} accuracy ({acc[clean[0]]:.3f} -> "
                                 f"{acc[noisy[0]]:.3f})", holds,
                   {"clean": float(acc[clean[0]]), "noisy": float(acc[noisy[0]]),
                    "fraction": fraction, "cost": cost, "max_cost": max_cost},
                   test=f"accuracy(0) - accuracy({100 * fraction:.0f}%) <= {max_cost:g}")


def hsc_finetune(*, before_accuracy, after_accuracy, before_auc, after_auc):
    """Fine-tuning on HSC raises both accuracy and AUC."""
    holds = (_finite(before_accuracy, after_accuracy, before_auc, after_auc)
             and after_accuracy > before_accuracy and after_auc > before_auc)
    return Verdict("hsc_finetune", f"accuracy {_num(before_accuracy)} -> "
                                   f"{_num(after_accuracy)}, AUC {_num(before_auc)} -> "
                                   f"{_num(after_auc)}", bool(holds),
                   {"before_accuracy": before_accuracy, "after_accuracy": after_accuracy,
                    "before_auc": before_auc, "after_auc": after_auc})


def three_class(*, reduced_accuracy, binary_accuracy, overall_accuracy=None, tolerance=0.03):
    """The three-class model's LSBG-vs-artifact accuracy is within ``tolerance`` of the
    binary CNN's."""
    holds = _finite(reduced_accuracy, binary_accuracy)
    gap = float(reduced_accuracy - binary_accuracy) if holds else float("nan")
    holds = holds and abs(gap) <= tolerance + 1e-12
    text = f"reduced {_num(reduced_accuracy)} vs binary {_num(binary_accuracy)}"
    if overall_accuracy is not None:
        text += f" (three-class {_num(overall_accuracy)})"
    return Verdict("three_class", text, bool(holds),
                   {"reduced_accuracy": reduced_accuracy, "binary_accuracy": binary_accuracy,
                    "overall_accuracy": overall_accuracy, "gap": gap,
                    "tolerance": tolerance},
                   test=f"reduced (LSBG vs artifact) accuracy within {tolerance:g} of the "
                        f"binary CNN's")


def gradcam_centre(shares, *, disc_share, factor=3.0, method="Grad-CAM", beside=None):
    """The median central share of the maps is at least ``factor`` x the disc's share.

    Parameters
    ----------
    shares : sequence of float
        :func:`deepshadows_lib.gradcam.central_share` of each confident true positive's
        map (NaN for an all-zero map: it counts as no share, 0).
    disc_share : float
        The disc's share of the image (:func:`deepshadows_lib.gradcam.disc_share`).
    factor : float, optional
        How many times the disc's share the median must reach.
    method : str, optional
        Name of the map tested (shown in the table).
    beside : dict, optional
        ``name -> median share`` of other maps of the same examples, shown beside.
    """
    s = np.nan_to_num(np.asarray(shares, dtype=float), nan=0.0)
    # a disc share of 0 (or missing, NaN) would let any map pass: no evidence, no claim
    disc_ok = _finite(disc_share) and 0 < float(disc_share) < 1
    extra = "".join(f"; {k} {v:.2f}" for k, v in (beside or {}).items())
    if s.size == 0:
        return Verdict("gradcam_centre", "no confident true positive", False,
                       {"n": 0, "disc_share": disc_share, "factor": factor})
    median = float(np.median(s))
    holds = disc_ok and median >= factor * float(disc_share) - 1e-12
    disc_text = f"{float(disc_share):.2f}" if disc_ok else f"{disc_share!r}: not a share"
    return Verdict("gradcam_centre",
                   f"{method}: median share {median:.2f} ({s.size} maps; disc "
                   f"{disc_text}){extra}",
                   bool(holds), {"median_share": median, "n": int(s.size),
                                 "disc_share": disc_share, "factor": factor,
                                 "method": method, "beside": beside or {}},
                   test=f"median share of the {method} map within 12 px >= {factor:g} x "
                        + (f"{float(disc_share):.3f}" if disc_ok else "the disc's share"))


#: names of the map methods of :func:`deepshadows_lib.gradcam.gradcam_maps`
MAP_NAMES = {"gradcam": "Grad-CAM", "hirescam": "HiResCAM"}


def gradcam_verdict(evidence, *, method="gradcam"):
    """:func:`gradcam_centre` on :func:`deepshadows_lib.gradcam.centre_evidence`'s result,
    testing the ``method`` map and showing the other maps' medians beside."""
    if method not in MAP_NAMES or f"{method}_share" not in evidence:
        found = [k for k in MAP_NAMES if f"{k}_share" in evidence]
        raise InputError(f"the Grad-CAM verdict: no {method!r} maps in the evidence "
                         f"(maps: {', '.join(found) or 'none'})")
    beside = {MAP_NAMES[k]: float(np.nanmedian(evidence[f"{k}_share"]))
              for k in MAP_NAMES if k != method and len(evidence.get(f"{k}_share", []))}
    if len(evidence.get("occlusion_share", [])):
        beside["occlusion"] = float(np.nanmedian(evidence["occlusion_share"]))
    return gradcam_centre(evidence[f"{method}_share"], disc_share=evidence["disc_share"],
                          method=MAP_NAMES[method], beside=beside)

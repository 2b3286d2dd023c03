"""The paper's tables, and the inputs of its figures, from the results of the studies.

Each function turns what :mod:`deepshadows_lib.studies` and :mod:`deepshadows_lib.evaluate`
return into one table of the paper (this run's numbers beside the paper's) or into the
curves that a :mod:`deepshadows_lib.plots` function draws.  Nothing here trains; the
bootstrap is the vectorised one of :func:`deepshadows_lib.evaluate.bootstrap`.
"""

import numpy as np
import pandas as pd

from . import bn_stats, evaluate, paper, schema
from ._io import atomic_path

__all__ = ["roc_entry", "roc_curves_with_bands", "ROC_NAMES", "test_scores", "plus_scores",
           "table2", "table3", "table4", "table5", "table6", "three_class_table",
           "three_class_bn_table", "transfer_bn_table", "plus_test_metrics",
           "hsc_transfer_panels", "seed_curves", "noise_curves", "uncertainty_curves",
           "FIG8_PANELS", "noise_ratios", "save_predictions", "load_predictions",
           "NOISE_LABELS", "THRESHOLD"]

#: The paper's decision threshold: an object is an LSBG when its score is above it.
THRESHOLD = 0.5


def roc_entry(y_true, p, *, n_bootstrap=1000, seed=0):
    """A ROC curve on :data:`~deepshadows_lib.evaluate.FPR_GRID` with its bootstrap band.

    Returns
    -------
    entry : dict
        ``{"fpr", "tpr", "auc", "band"}`` for :func:`deepshadows_lib.plots.draw_roc_curves`.
    boot : deepshadows_lib.evaluate.BootstrapResult
        The bootstrap itself (for Table 3).
    """
    boot = evaluate.bootstrap(y_true, p, n_resamples=n_bootstrap, seed=seed)
    return boot.curve(zero_start=True), boot


#: Legend names of Fig. 4 for the models of Table 2.
ROC_NAMES = {"DeepShadows": "CNN", "SVM": "SVM", "Random forest": "RF"}


def roc_curves_with_bands(scores, *, n_bootstrap=1000, seed=0):
    """Fig. 4 and Table 3 inputs for several models at once.

    Parameters
    ----------
    scores : dict
        ``{model: (y_true, p)}`` as for :func:`table2`.

    Returns
    -------
    curves : dict
        ``{legend name: entry}`` (DeepShadows first, as "CNN") for
        :func:`deepshadows_lib.plots.draw_roc_curves`.
    boots : dict
        ``{model: BootstrapResult}`` for :func:`table3`.
    """
    order = sorted(scores, key=lambda m: list(ROC_NAMES).index(m) if m in ROC_NAMES else 99)
    curves, boots = {}, {}
    for model in order:
        curves[ROC_NAMES.get(model, model)], boots[model] = roc_entry(
            *scores[model], n_bootstrap=n_bootstrap, seed=seed)
    return curves, boots


def test_scores(y_test, *, baselines, cnn):
    """The scores of Table 2 and Fig. 4: ``{model: (y_test, p)}``.

    Parameters
    ----------
    y_test : array-like
        Labels of the test set.
    baselines : dict
        :func:`deepshadows_lib.studies.baseline_models`' result (``{name: {"p": ...}}``).
    cnn : array-like
        The CNN's scores of the same objects.
    """
    scores = {name: (y_test, result["p"]) for name, result in baselines.items()}
    scores["DeepShadows"] = (y_test, cnn)
    return scores


def plus_scores(ablation, *, paper="paper CNN", plus=None):
    """``{model: (y_test, p)}`` of the paper's CNN and of plus from an ablation's scores
    (``plus``: the ablation's full ``plus`` row unless named)."""
    plus = plus or ablation.get("plus_row", "+ temperature scaling (plus)")
    return {"DeepShadows": ablation["scores"][paper],
            "DeepShadows plus": ablation["scores"][plus]}


def table2(scores):
    """Table 2: accuracy, recall, precision, AUC of each model on the test set.

    Parameters
    ----------
    scores : dict
        ``{model: (y_true, p)}`` with models named SVM, Random forest, DeepShadows.
    """
    return evaluate.compare_with_paper(evaluate.metrics_table(scores))


def table3(boots):
    """Table 3: bootstrap 95% intervals of each model's metrics.

    Parameters
    ----------
    boots : dict
        ``{model: BootstrapResult}``.
    """
    rows = []
    for name, b in boots.items():
        for metric in evaluate.THRESHOLD_METRICS:
            lo, hi = b.intervals[metric]
            ref = paper.PAPER_BOOTSTRAP.get(metric) if name == "DeepShadows" else None
            rows.append({"model": name, "metric": metric, "estimate": b.estimate[metric],
                         "low": lo, "high": hi,
                         "low (paper)": ref[0] if ref else np.nan,
                         "high (paper)": ref[1] if ref else np.nan})
    out = pd.DataFrame(rows).set_index(["model", "metric"])
    out.attrs["n_resamples"] = next(iter(boots.values())).n_resamples if boots else 0
    return out


def table4(results):
    """Table 4: the CNN on the random splits, one row per seed, with the paper's range."""
    rows = [{"seed": r["seed"], **{m: r["metrics"][m] for m in evaluate.THRESHOLD_METRICS}}
            for r in results]
    out = pd.DataFrame(rows).set_index("seed")
    lo, hi = paper.PAPER_SEEDS_ACCURACY
    out.loc["min"] = out.min()
    out.loc["max"] = out.max()
    out["accuracy (paper range)"] = [f"{lo:.3f}-{hi:.3f}"] * len(out)
    return out


#: How each label-noise condition is named in tables and legends.
NOISE_LABELS = {"none": "No noise", "both": "Noise {pct}", "1->0": "LSBG->artifact {pct}",
                "0->1": "artifact->LSBG {pct}"}


def _noise_name(r):
    pct = f"{100 * r['fraction']:.0f}%"
    return NOISE_LABELS[r["direction"]].format(pct=pct)


def table5(results):
    """Table 5: the CNN with flipped training labels, beside the paper's accuracy and AUC."""
    rows = []
    for r in results:
        ref = None
        if r["direction"] == "both":
            diffs = np.abs(paper.PAPER_LABEL_NOISE.index.to_numpy() - r["fraction"])
            if diffs.min() < 1e-6:
                ref = paper.PAPER_LABEL_NOISE.iloc[int(diffs.argmin())]
        elif r["direction"] == "none":
            ref = paper.PAPER_TABLE2.loc["DeepShadows"]
        rows.append({"condition": _noise_name(r), "direction": r["direction"],
                     "fraction": r["fraction"], "flipped": r["n_flipped"],
                     "accuracy": r["metrics"]["accuracy"], "auc": r["metrics"]["auc"],
                     "accuracy (paper)": np.nan if ref is None else ref["accuracy"],
                     "auc (paper)": np.nan if ref is None else ref["auc"]})
    return pd.DataFrame(rows).set_index("condition")


def table6(transfer):
    """Table 6: HSC before and after fine-tuning, beside the paper's numbers."""
    table = pd.DataFrame({
        name: {m: transfer[key]["metrics"][m] for m in evaluate.THRESHOLD_METRICS}
        for name, key in (("before fine-tuning", "before"), ("after fine-tuning", "after"))
    }).T.rename_axis("model")
    return evaluate.compare_with_paper(table, paper=paper.PAPER_HSC)


def three_class_table(result):
    """Appendix A: three-class accuracy, per-class recall, and the reduced accuracy."""
    m = result["metrics"]
    rows = {"overall accuracy": (m["accuracy"], paper.PAPER_THREE_CLASS_ACCURACY),
            "LSBG vs artifact accuracy (reduced)": (m["reduced_accuracy"], np.nan)}
    for i, name in enumerate(schema.CLASSES[:len(m["recall"])]):
        rows[f"recall {name}"] = (m["recall"][i], np.nan)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["this run", "paper"])


def three_class_bn_table(result):
    """The three-class model's accuracy with the moving averages of batch normalisation
    and with the statistics re-estimated after training."""
    return pd.DataFrame({kind: {"accuracy": result[f"metrics_{kind}"]["accuracy"],
                                "reduced accuracy": result[f"metrics_{kind}"]["reduced_accuracy"]}
                         for kind in ("moving", "reestimated")}).T.rename_axis("statistics")


def transfer_bn_table(transfer, *, bn_reestimate):
    """The fine-tuned HSC model with the moving averages of its fine-tuning and with
    statistics re-estimated on the fine-tuning objects; ``bn_reestimate`` marks the one
    the figures use (:func:`deepshadows_lib.bn_stats.effect_table`)."""
    names = {"after_moving": "moving averages of fine-tuning",
             "after_reestimated": "re-estimated after fine-tuning"}
    used = names["after_reestimated" if bn_reestimate else "after_moving"]
    return bn_stats.effect_table({name: transfer[key]["metrics"] for key, name in names.items()},
                                 used=used)


def plus_test_metrics(ablation, *, row=None, metrics=("accuracy", "auc", "ece", "brier")):
    """Test metrics of plus from an ablation's table, as floats (for its provenance;
    ``row``: the ablation's full ``plus`` row unless named)."""
    full = ablation["table"].loc[row or ablation.get("plus_row", "+ temperature scaling (plus)")]
    return {k: float(full[k]) for k in metrics}


def hsc_transfer_panels(transfer, *, threshold=THRESHOLD):
    """Fig. 7 inputs from an HSC transfer: the confusion matrices and ROC curves.

    Parameters
    ----------
    transfer : dict
        :func:`deepshadows_lib.studies.hsc_transfer`'s result: ``before`` and ``after``
        each with ``y_true``, ``p``, ``tpr`` (on the common FPR grid) and ``metrics``.

    Returns
    -------
    dict
        ``matrices``: ``{title with accuracy: 2x2 counts}``; ``curves``: ``{name: {"fpr",
        "tpr", "auc"}}`` for :func:`deepshadows_lib.plots.draw_hsc_transfer`.
    """
    matrices, curves = {}, {}
    for key, title in (("before", "Before fine-tuning"), ("after", "After fine-tuning")):
        r = transfer[key]
        cm = evaluate.binary_confusion(np.asarray(r["y_true"]).astype(int), r["p"],
                                       threshold=threshold)
        matrices[f"{title} (acc. {r['metrics']['accuracy']:.3f})"] = cm
        curves[title] = {"fpr": np.linspace(0, 1, len(r["tpr"])), "tpr": r["tpr"],
                         "auc": r["metrics"]["auc"]}
    return {"matrices": matrices, "curves": curves}


def seed_curves(results, *, reference_seed=None):
    """Fig. 8 (left): ``(reference name, reference curve, {name: curve})`` for the seeds.

    The reference is the run with ``reference_seed`` (the notebook's own split, the
    paper's "baseline split"), or the first run when that seed was not run.
    """
    curves = {f"seed {r['seed']}": {"fpr": evaluate.FPR_GRID, "tpr": r["tpr"]}
              for r in results}
    ref_key = f"seed {reference_seed}"
    if ref_key not in curves:  # the run's own split is not among the seeds
        ref_key = next(iter(curves))
    ref = curves.pop(ref_key)
    return (f"Reference split ({ref_key})", ref, curves)


def noise_curves(results, *, directions=("both",)):
    """Fig. 8 (right): the no-noise curve and the noisy ones of the given directions."""
    ref = next(r for r in results if r["direction"] == "none")
    others = {_noise_name(r): {"fpr": evaluate.FPR_GRID, "tpr": r["tpr"]}
              for r in results if r["direction"] in directions}
    return ("No noise", {"fpr": evaluate.FPR_GRID, "tpr": ref["tpr"]}, others)


#: the panels of Fig. 8: title -> the label-noise directions it shows (None: the seeds)
FIG8_PANELS = {"ROC curves - Different random seeds": None,
               "ROC curves - Different label noise levels": ("both",),
               "ROC curves - Biased label noise": ("1->0", "0->1")}


def uncertainty_curves(seed_runs, noise_runs, *, reference_seed=None):
    """Fig. 8: the panels of :func:`deepshadows_lib.plots.draw_roc_families`.

    The random splits (:func:`seed_curves`), the labels flipped at random, and the
    labels flipped in one direction (:func:`noise_curves`).  A noise panel whose
    directions were not run (a profile without biased noise) is left out rather than
    drawn with its reference curve alone.

    Parameters
    ----------
    seed_runs, noise_runs : list of dict
        Results of :func:`deepshadows_lib.studies.run_random_splits` and
        :func:`~deepshadows_lib.studies.run_label_noise`.
    reference_seed : int, optional
        The seed of the reference split (the run's own).

    Returns
    -------
    dict
        ``{panel title: (reference name, reference curve, {name: curve})}``.
    """
    panels = {}
    for title, directions in FIG8_PANELS.items():
        if directions is None:
            panels[title] = seed_curves(seed_runs, reference_seed=reference_seed)
        elif any(r["direction"] in directions for r in noise_runs):
            panels[title] = noise_curves(noise_runs, directions=directions)
    return panels


def noise_ratios(results):
    """Fig. 9: TPR of each noisy model over the no-noise model's, on the common grid.

    Every condition is tested on the same test set, so the ratio is taken at equal
    false-positive rate.
    """
    ref = next(r for r in results if r["direction"] == "none")
    out = {}
    for r in results:
        if r["direction"] == "none":
            continue
        _, ratio = evaluate.tpr_ratio(ref["y_true"], r["p"], ref["p"])
        out[_noise_name(r)] = ratio
    return evaluate.FPR_GRID, out


def save_predictions(path, catalog, rows, y_true, p, *, model="DeepShadows", split="test"):
    """Write predictions (ra, dec, row, label, p_lsbg, model, split) to Parquet atomically."""
    df = pd.DataFrame({"row": np.asarray(rows), "ra": catalog["ra"].to_numpy()[rows],
                       "dec": catalog["dec"].to_numpy()[rows], "label": np.asarray(y_true),
                       "p_lsbg": np.asarray(p, float), "model": model, "split": split})
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return df


def load_predictions(path):
    """Predictions written by :func:`save_predictions`."""
    return pd.read_parquet(path)

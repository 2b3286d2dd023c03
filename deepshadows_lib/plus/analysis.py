"""What ``plus`` gains and how it behaves: the ablation, calibration, uncertainty, seeds,
Grad-CAM, the issue's targets.

See :mod:`deepshadows_lib.plus` for the recipe.
"""

import numpy as np
import pandas as pd

from .. import evaluate, gradcam, paper
from ..calibration import (calibration_metrics, expected_calibration_error,
                           fit_temperature, reliability_curve)
from ..errors import InputError
from ..nn import read_images
from ..predict import Predictor
from .ensemble import CALIBRATIONS, fit_calibration, train_plus

__all__ = ["ablation", "plus_row", "ablation_table", "seed_spread", "calibration_table",
           "uncertainty_table", "spread_seeds", "head_decision", "gradcam_examples",
           "targets", "reliability_panels"]


def _row(name, y, p, *, n_bootstrap, seed, unc=None):
    boot = evaluate.bootstrap(y, p, n_resamples=n_bootstrap, seed=seed)
    row = {"model": name, "accuracy": boot.estimate["accuracy"],
           "accuracy_low": boot.intervals["accuracy"][0],
           "accuracy_high": boot.intervals["accuracy"][1],
           "auc": boot.estimate["auc"], "auc_low": boot.intervals["auc"][0],
           "auc_high": boot.intervals["auc"][1]}
    cal = calibration_metrics(y, p)
    row.update({"ece": cal["ece"], "brier": cal["brier"], "nll": cal["nll"]})
    if unc is not None:
        row["mean_uncertainty"] = float(np.nanmean(unc)) if np.isfinite(unc).any() else None
    return row, boot


def plus_row(result):
    """The name of the full ``plus`` row of an :func:`ablation` (its last calibration)."""
    return result.get("plus_row", "+ temperature scaling (plus)")


def _paper_row(result):
    # the paper CNN calibrated the way plus is, so that the two are compared like for like
    return result.get("paper_row", "paper CNN + temperature scaling")


def ablation(plus, images, labels, *, test_idx, val_idx, paper_model=None, gap=None,
             n_bootstrap=1000, seed=0):
    """Each addition of ``plus`` on the same test set, with bootstrap intervals.

    Rows, each adding one step to the previous one:

    * ``paper CNN`` (``paper_model``, if given): no augmentation, one view, one network;
      then the same calibrated on the validation set: ``paper CNN + temperature
      scaling`` and, when ``plus`` is calibrated another way, ``paper CNN + Platt
      scaling`` or ``paper CNN + isotonic calibration`` as well, so that calibration's
      share of any gain is not credited to ``plus``;
    * ``+ augmentation``: member 0 of the ensemble, one view;
    * ``+ test-time augmentation``: member 0, mean of the eight views;
    * ``+ ensemble (K)``: all members, eight views;
    * ``+ temperature scaling``: the same, calibrated (the full ``plus``, named ``+
      temperature scaling (plus)``); with ``plus.calibration`` ``"platt"`` or
      ``"isotonic"`` a further row ``+ Platt scaling (plus)`` or ``+ isotonic
      calibration (plus)`` is the full ``plus``;
    * ``GAP head (...)``: with ``gap`` (a :class:`PlusModel` with ``head="gap"``), the
      same recipe with the lighter head, K and the calibration of its own.

    Parameters
    ----------
    plus : PlusModel
    images, labels : array_like
        All cutouts and labels of the problem.
    test_idx, val_idx : array_like of int
        The test rows (assessed) and the validation rows (the paper CNN's calibration,
        and ``plus``'s temperature alone when it is calibrated otherwise).
    paper_model : keras.Model, optional
    gap : PlusModel, optional
    n_bootstrap, seed : int, optional
        Bootstrap resamples of the test set and their seed.

    Returns
    -------
    dict
        ``table`` (a DataFrame, one row per model: accuracy, AUC and their 95%
        intervals, ECE, Brier, NLL, mean uncertainty), ``scores`` (``{name: (y, p)}``
        for ROC curves), ``boots`` (bootstrap results), ``raw`` (the (n, 8, K) test
        probabilities of ``plus``), ``uncertainty`` and ``p_plus`` (per test object),
        ``plus_row`` (the name of the full ``plus`` row, :func:`plus_row`), ``paper_row``
        (the paper CNN calibrated as ``plus``), ``calibrations`` (``{row: (temperature,
        bias)}`` of every calibrated row), ``methods`` (``{row: calibration}``) and, when
        ``paper_model`` is given, ``paper_temperature``.
    """
    y_all = np.asarray(labels)
    test_idx = np.asarray(test_idx, dtype=np.int64)
    val_idx = np.asarray(val_idx, dtype=np.int64)
    y = y_all[test_idx]
    x = read_images(images, test_idx)
    method = getattr(plus, "calibration", "temperature")
    label = CALIBRATIONS[method]
    rows, scores, boots = [], {}, {}
    out = {"calibrations": {}, "methods": {}}

    def add(name, p, unc=None, calibration=None, how=None):
        row, boot = _row(name, y, p, n_bootstrap=n_bootstrap, seed=seed, unc=unc)
        rows.append(row)
        scores[name] = (y, p)
        boots[name] = boot
        if calibration is not None:
            out["calibrations"][name] = tuple(float(v) for v in calibration)
            out["methods"][name] = how

    def calibrated(p_test, fitted, name, how):
        pred = Predictor(paper_model, temperature=fitted["temperature"], bias=fitted["bias"],
                         isotonic=fitted["isotonic"])
        add(name, pred.calibrate(p_test), calibration=(fitted["temperature"],
                                                       fitted["bias"]), how=how)

    if paper_model is not None:
        paper_cnn = Predictor(paper_model, tta=False)
        p_paper = paper_cnn.predict(x)[0]
        add("paper CNN", p_paper)
        p_val = paper_cnn.predict(read_images(images, val_idx))[0]
        fitted = fit_calibration("temperature", y_all[val_idx], p_val)
        out["paper_temperature"] = fitted["temperature"]
        calibrated(p_paper, fitted, "paper CNN + temperature scaling", "temperature")
        out["paper_row"] = "paper CNN + temperature scaling"
        if method != "temperature":
            out["paper_row"] = f"paper CNN + {label}"
            calibrated(p_paper, fit_calibration(method, y_all[val_idx], p_val),
                       out["paper_row"], method)
    full = plus.predictor(tta=True, calibrated=False)
    raw = full.member_probabilities(x)  # (n, 8, K)
    out["raw"] = raw
    add("+ augmentation", raw[:, 0, 0])
    add("+ test-time augmentation", raw[:, :, 0].mean(axis=1))
    k = raw.shape[2]
    p_ens, unc_ens = full.combine(raw)
    add(f"+ ensemble ({k})", p_ens, unc_ens)
    if method != "temperature":
        val_raw = plus.raw_validation
        if val_raw is None:
            val_raw = full.member_probabilities(read_images(images, val_idx))
        full.temperature = fit_temperature(y_all[val_idx],
                                           val_raw.reshape(len(val_raw), -1).mean(axis=1))
        p_t, unc_t = full.combine(raw)
        add("+ temperature scaling", p_t, unc_t, calibration=(full.temperature, 0.0),
            how="temperature")
    name = f"+ {label} (plus)"
    full = plus.predictor(tta=True)
    p_plus, unc_plus = full.combine(raw)
    add(name, p_plus, unc_plus, calibration=(plus.temperature, plus.bias), how=method)
    out["plus_row"] = name
    out["uncertainty"] = unc_plus
    out["plus_temperature"] = plus.temperature
    out["plus_bias"] = plus.bias
    out["p_plus"] = p_plus
    if gap is not None:
        g = gap.predictor(tta=True)
        p_gap, unc_gap = g.predict(x)
        add(f"plus with GAP head ({len(gap.members)})", p_gap, unc_gap)
    table = pd.DataFrame(rows).set_index("model")
    out.update({"table": table, "scores": scores, "boots": boots, "y": y})
    return out


def ablation_table(result):
    """The ablation as shown: accuracy and AUC with their 95% intervals, ECE, Brier."""
    t = result["table"]
    fmt = lambda v, lo, hi: f"{v:.3f} [{lo:.3f}, {hi:.3f}]"  # noqa: E731
    return pd.DataFrame({
        "accuracy [95% CI]": [fmt(*r) for r in t[["accuracy", "accuracy_low",
                                                    "accuracy_high"]].to_numpy()],
        "AUC [95% CI]": [fmt(*r) for r in t[["auc", "auc_low", "auc_high"]].to_numpy()],
        "ECE (15 bins)": t["ece"].round(4).to_numpy(),
        "Brier": t["brier"].round(4).to_numpy(),
    }, index=t.index)


def calibration_table(result):
    """ECE, Brier score and NLL of the paper CNN and ``plus``, before and after
    calibration, with each row's calibration and its temperature and bias (1 and 0:
    none; an isotonic map has neither)."""
    t = result["table"]
    names = [n for n in t.index if n.startswith("paper CNN")]
    names += [n for n in t.index if n.startswith("+ ensemble") or n == plus_row(result)
              or n == "+ temperature scaling"]
    out = t.loc[names, ["accuracy", "ece", "brier", "nll"]].copy()
    cal = result.get("calibrations", {})
    if not cal:  # an ablation made before the calibrations were recorded
        cal = {"paper CNN + temperature scaling": (result.get("paper_temperature"), 0.0),
               plus_row(result): (result.get("plus_temperature"), 0.0)}
    methods = result.get("methods", {})
    out["calibration"] = [methods.get(n, "temperature" if n in cal else "none")
                          for n in names]
    out["temperature"] = [cal.get(n, (1.0, 0.0))[0] for n in names]
    out["bias"] = [cal.get(n, (1.0, 0.0))[1] for n in names]
    return out


def uncertainty_table(y, p, uncertainty, *, n_bins=4):
    """Accuracy of the test objects in bins of their uncertainty (quantiles).

    An uncertainty worth reporting ranks the objects: the most uncertain bin should be
    the least accurate.
    """
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    u = np.asarray(uncertainty, dtype=float)
    edges = np.unique(np.quantile(u, np.linspace(0, 1, int(n_bins) + 1)))
    idx = np.clip(np.searchsorted(edges[1:-1], u, side="right"), 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        sel = idx == b
        if sel.any():
            rows.append({"uncertainty_low": edges[b], "uncertainty_high": edges[b + 1],
                         "objects": int(sel.sum()),
                         "accuracy": float(np.mean((p[sel] > 0.5) == (y[sel] == 1)))})
    return pd.DataFrame(rows)


def seed_spread(images, labels, *, split, seeds, epochs, batch_size=paper.BATCH_SIZE,
                learning_rate=paper.LEARNING_RATE, n_members=5, head="flatten", first=None,
                first_predictions=None, progress=True, bn_reestimate=False, workers=1,
                scheduler=None, ema_momentum=None, calibration="temperature"):
    """Test accuracy of ``plus`` trained with several seeds, and their spread.

    Parameters
    ----------
    first : tuple, optional
        ``(seed, PlusModel)`` already trained (reused, not retrained).
    first_predictions : array_like, optional
        Its calibrated test probabilities, already computed (e.g. ``p_plus`` of
        :func:`ablation` on the same test rows): used instead of predicting again.
    bn_reestimate, ema_momentum : optional
        See :func:`train_member`.
    workers, scheduler : optional
        Train each ensemble's members side by side (see :func:`train_plus`).
    calibration : {"temperature", "platt", "isotonic"}, optional
        See :func:`train_plus`.

    Returns
    -------
    pandas.DataFrame
        One row per seed: accuracy, AUC, ECE; ``attrs["spread"]`` is max - min accuracy.
    """
    test = np.asarray(split["test"], dtype=np.int64)
    y = np.asarray(labels)[test]
    given = None
    if first is not None and first_predictions is not None:
        given = np.asarray(first_predictions, dtype=np.float64)
        if given.shape != y.shape:  # before any training, not after
            raise InputError(f"first_predictions has {given.size} values for {y.size} test "
                             "objects")
    x = read_images(images, test)
    rows = []
    for s in seeds:
        p = None
        if first is not None and int(s) == int(first[0]):
            plus, p = first[1], given
        else:
            plus = train_plus(images, labels, train_idx=split["train"],
                              val_idx=split["validation"], epochs=epochs,
                              batch_size=batch_size, learning_rate=learning_rate, seed=s,
                              n_members=n_members, head=head, progress=progress,
                              bn_reestimate=bn_reestimate, workers=workers,
                              scheduler=scheduler, ema_momentum=ema_momentum,
                              calibration=calibration)
        if p is None:
            p, _ = plus.predictor().predict(x)
        m = evaluate.binary_metrics(y, p)
        rows.append({"seed": int(s), "accuracy": m["accuracy"], "auc": m["auc"],
                     "ece": expected_calibration_error(y, p)})
    table = pd.DataFrame(rows).set_index("seed")
    table.attrs["spread"] = float(table["accuracy"].max() - table["accuracy"].min())
    return table


def spread_seeds(seed, seeds, n):
    """The seeds of the seed-spread study: ``seed`` first, then the others of ``seeds``."""
    out = [int(seed)] + [int(s) for s in seeds if int(s) != int(seed)]
    return out[:int(n)]


def head_decision(result):
    """Keep the GAP head only if it helps: ``"gap"`` when its row of the ablation beats
    the single flatten network with test-time augmentation on accuracy and AUC at once,
    else ``"flatten"`` (also when the ablation has no GAP row)."""
    t = result["table"]
    gap = [n for n in t.index if n.startswith("plus with GAP head")]
    if not gap:
        return "flatten"
    a, b = t.loc[gap[0]], t.loc["+ test-time augmentation"]
    if int(gap[0].rsplit("(", 1)[1].rstrip(")")) > 1:  # a GAP ensemble: compare ensembles
        b = t.loc[plus_row(result)]
    return "gap" if (a["accuracy"] > b["accuracy"] and a["auc"] >= b["auc"]) else "flatten"


def gradcam_examples(plus, images, y_true, p, *, n=4, high=0.8, low=0.2, seed=0,
                     method="gradcam"):
    """Grad-CAM of ``plus``: high-confidence TP, TN, FP, FN of the ensemble's probability,
    each map the mean of the members' maps (each min-max scaled), on view 0.

    ``method`` is that of :func:`deepshadows_lib.gradcam.gradcam_maps` (``"gradcam"`` or
    ``"hirescam"``), so that notebook 06 shows the map the profile uses for Fig. 6.

    Returns the structure of :func:`deepshadows_lib.gradcam.gradcam_examples`.
    """
    sel = gradcam.select_examples(y_true, p, n=n, high=high, low=low, seed=seed)
    q = np.asarray(p, dtype=float).ravel()
    out = {}
    for name in gradcam.CATEGORIES:
        idx = sel[name]
        imgs = np.stack([np.asarray(images[int(i)]) for i in idx]) if len(idx) else \
            np.zeros((0,) + tuple(images.shape[1:]), np.uint8)
        if len(idx):
            maps = np.mean([gradcam.gradcam_maps(m, imgs, method=method)
                            for m in plus.members], axis=0)
        else:
            maps = np.zeros(imgs.shape[:3], np.float32)
        out[name] = {"index": idx, "image": imgs, "map": maps, "p": q[idx]}
    return out


def targets(result, seeds_table=None):
    """The issue's targets beside what this run measured (a DataFrame).

    ``plus`` beats the paper's CNN by >= 3 points of accuracy with non-overlapping 95%
    bootstrap intervals; AUC >= 0.98; ECE <= 0.02 after calibration; accuracy spread
    over 3 seeds <= 0.01.  When ``plus`` is calibrated otherwise than by a temperature,
    its gain over the paper's CNN calibrated the same way is shown too (not a target: it
    says how much of the gain is the calibration's).
    """
    t = result["table"]
    full = t.loc[plus_row(result)]
    rows = []
    if "paper CNN" in t.index:
        base = t.loc["paper CNN"]
        gain = full["accuracy"] - base["accuracy"]
        rows.append({"target": "accuracy gain over the paper CNN >= 0.03",
                     "measured": f"{gain:+.3f}", "met": bool(gain >= 0.03)})
        apart = bool(full["accuracy_low"] > base["accuracy_high"])
        rows.append({"target": "95% bootstrap intervals of accuracy do not overlap",
                     "measured": f"plus [{full['accuracy_low']:.3f}, "
                                 f"{full['accuracy_high']:.3f}] vs paper "
                                 f"[{base['accuracy_low']:.3f}, {base['accuracy_high']:.3f}]",
                     "met": apart})
        same = _paper_row(result)
        if same != "paper CNN + temperature scaling" and same in t.index:
            gain_same = full["accuracy"] - t.loc[same, "accuracy"]
            rows.append({"target": "(for reference) gain over the paper CNN with the same "
                                   + same.split(" + ", 1)[1],
                         "measured": f"{gain_same:+.3f}", "met": None})
    rows.append({"target": "AUC >= 0.98", "measured": f"{full['auc']:.4f}",
                 "met": bool(full["auc"] >= 0.98)})
    rows.append({"target": "ECE (15 bins) <= 0.02 after calibration",
                 "measured": f"{full['ece']:.4f}", "met": bool(full["ece"] <= 0.02)})
    if seeds_table is not None and len(seeds_table) >= 2:
        spread = seeds_table.attrs["spread"]
        rows.append({"target": f"accuracy spread over {len(seeds_table)} seeds <= 0.01",
                     "measured": f"{spread:.4f}",
                     "met": bool(spread <= 0.01) if len(seeds_table) >= 3 else None})
    elif seeds_table is not None:
        # one seed has no spread: say where it is measured rather than show 0.0000
        rows.append({"target": "accuracy spread over 3 seeds <= 0.01",
                     "measured": f"not in this run: {SPREAD_ELSEWHERE}", "met": None})
    return pd.DataFrame(rows).set_index("target")


#: where the seed spread is measured when a profile retrains ``plus`` with one seed only
SPREAD_ELSEWHERE = ("1 seed in this profile (n_plus_seeds); "
                    "`bench/bench_plus.py --n-seeds 3` measures it")


def seeds_caption(seeds_table):
    """Caption of the seed-spread table: its seeds and their accuracy spread.

    With a single seed there is no spread to show; the caption says where it is
    measured instead of printing a spread of zero.
    """
    n = len(seeds_table)
    if n < 2:
        return f"plus with this run's seed only ({SPREAD_ELSEWHERE})"
    return (f"plus retrained with {n} seeds (accuracy spread "
            f"{seeds_table.attrs['spread']:.4f})")


def reliability_panels(result):
    """Inputs of :func:`deepshadows_lib.plots.reliability_diagram` from :func:`ablation`:
    one panel per model (the paper CNN, ``plus``), before and after calibration (the
    same kind for both: temperature, or Platt scaling when ``plus`` uses it)."""
    scores = result["scores"]
    names = list(scores)

    def entry(name):
        y, p = scores[name]
        return reliability_curve(y, p), expected_calibration_error(y, p)

    panels = {}
    if "paper CNN" in scores:
        panels["Paper CNN"] = {"before scaling": entry("paper CNN"),
                               "after scaling": entry(_paper_row(result))}
    ens = [n for n in names if n.startswith("+ ensemble")][0]
    panels["DeepShadows plus"] = {"before scaling": entry(ens),
                                  "after scaling": entry(plus_row(result))}
    return panels

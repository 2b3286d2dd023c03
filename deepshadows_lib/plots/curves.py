"""Curves: training (Fig. 3), ROC (Figs. 4, 8), TPR ratios (Fig. 9), output
probabilities (Fig. 5) and reliability diagrams."""

import numpy as np

from ._style import COLORS, LINESTYLES, _finish, _roc_axes, style

__all__ = ["draw_training_curves", "draw_roc_curves", "draw_probability_histogram",
           "draw_roc_families", "draw_tpr_ratio", "draw_reliability_diagram"]


# --------------------------------------------------------------------------- Fig. 3
def draw_training_curves(history, *, simulated=False):
    """Fig. 3: training and validation loss and accuracy per epoch.

    Parameters
    ----------
    history : dict
        Keras history: ``loss``, ``val_loss``, ``accuracy``, ``val_accuracy`` lists.
    """
    epochs = np.arange(1, len(history["loss"]) + 1)
    with style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key, label in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
            ax.plot(epochs, history[key], color="tab:blue", label="Training")
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], color="tab:orange", ls="--",
                        label="Validation")
            ax.set_xlabel("Epoch")
            ax.set_ylabel(label)
            ax.legend()
        # The L2 terms (0.13, 0.12) dominate the early loss by two orders of magnitude:
        # a log axis keeps the late epochs readable.
        losses = np.concatenate([np.asarray(history[k], float) for k in ("loss", "val_loss")
                                 if k in history])
        if losses.size and losses.min() > 0 and losses.max() / losses.min() > 20:
            axes[0].set_yscale("log")
        axes[0].set_title("Loss")
        axes[1].set_title("Accuracy")
        return _finish(fig, simulated)


# --------------------------------------------------------------------------- Fig. 4
def draw_roc_curves(curves, *, ax=None, title=None, simulated=False):
    """Fig. 4 (left): ROC curves with bootstrap bands.

    Parameters
    ----------
    curves : dict
        ``{name: {"fpr": grid, "tpr": tpr, "auc": auc, "band": (lo, hi)}}``; ``band`` is
        optional (e.g. the 2.5 and 97.5 percentiles of bootstrap curves on the grid).
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.
    """
    with style() as plt:
        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 5))
        for name, c in curves.items():
            color = COLORS.get(name)
            line, = ax.plot(c["fpr"], c["tpr"], color=color, ls=LINESTYLES.get(name, "-"),
                            lw=1.3, label=f"{name} (AUC = {c['auc']:.3f})")
            if c.get("band") is not None:
                lo, hi = c["band"]
                ax.fill_between(c["fpr"], lo, hi, color=line.get_color(), alpha=0.35, lw=0)
        _roc_axes(ax)
        ax.legend(loc="lower right")
        if title:
            ax.set_title(title)
        return _finish(fig, simulated) if fig is not None else ax.figure


# --------------------------------------------------------------------------- Fig. 5
def draw_probability_histogram(y_true, p, *, bins=25, simulated=False):
    """Fig. 5: distribution of the CNN's output probability for each true class."""
    y_true = np.asarray(y_true).astype(int)
    p = np.asarray(p, float)
    with style() as plt:
        fig, ax = plt.subplots(figsize=(6, 4.2))
        edges = np.linspace(0, 1, bins + 1)
        ax.hist(p[y_true == 1], bins=edges, histtype="stepfilled", alpha=0.45,
                color="tab:blue", label=f"LSBGs ({(y_true == 1).sum()})")
        ax.hist(p[y_true == 0], bins=edges, histtype="stepfilled", alpha=0.45,
                color="tab:red", label=f"Artifacts ({(y_true == 0).sum()})")
        ax.axvline(0.5, color="k", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel(r"$P_{\rm out}$ (probability of being an LSBG)")
        ax.set_ylabel("Number of objects")
        ax.legend(loc="upper center")
        return _finish(fig, simulated)


# --------------------------------------------------------------------------- Fig. 8
def _roc_family(ax, reference, others, title, inset):
    fpr = np.asarray(reference[1]["fpr"])
    ax.plot(fpr, reference[1]["tpr"], color="coral", lw=2, label=reference[0], zorder=3)
    shades = ["lightskyblue", "deepskyblue", "dodgerblue", "steelblue", "royalblue", "navy",
              "teal", "slateblue"]
    lss = ["--", "-", "-.", ":", "-", "--", "-.", ":"]
    for k, (name, c) in enumerate(others.items()):
        ax.plot(c["fpr"], c["tpr"], color=shades[k % len(shades)], ls=lss[k % len(lss)], lw=1,
                label=name)
    _roc_axes(ax)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=9)
    if inset:
        ins = ax.inset_axes([0.45, 0.3, 0.45, 0.45])
        ins.plot(fpr, reference[1]["tpr"], color="coral", lw=2)
        for k, (name, c) in enumerate(others.items()):
            ins.plot(c["fpr"], c["tpr"], color=shades[k % len(shades)], ls=lss[k % len(lss)],
                     lw=1)
        # Zoom on the top-left corner as the paper does (TPR 0.8-1 at FPR < 0.2), widened
        # downwards when a curve lies lower there, so that no curve leaves the inset.
        at = [np.interp(0.05, np.asarray(c["fpr"]), np.asarray(c["tpr"]))
              for c in [reference[1], *others.values()]]
        low = min(0.8, np.floor(10 * min(at)) / 10)
        ins.set_xlim(0, 0.2)
        ins.set_ylim(low, 1.0)
        ins.tick_params(labelsize=7)
        ax.indicate_inset_zoom(ins, edgecolor="gray")


def draw_roc_families(panels, *, inset=True, simulated=False):
    """Fig. 8: families of ROC curves (random seeds; label-noise levels), with zoomed insets.

    Parameters
    ----------
    panels : dict
        ``{panel title: (reference_name, reference_curve, {name: curve})}`` where a curve is
        ``{"fpr": grid, "tpr": tpr}``.
    """
    items = list(panels.items())
    with style() as plt:
        fig, axes = plt.subplots(1, len(items), figsize=(6 * len(items), 5.6), squeeze=False)
        for ax, (title, (ref_name, ref, others)) in zip(axes.flat, items):
            _roc_family(ax, (ref_name, ref), others, title, inset)
        return _finish(fig, simulated)


# --------------------------------------------------------------------------- Fig. 9
def draw_tpr_ratio(fpr, ratios, *, bands=None, title=None, ylabel=None, xlim=(0, 1),
              simulated=False):
    """Fig. 9: ratio of true-positive rates against false-positive rate.

    Parameters
    ----------
    fpr : array_like
        The common false-positive-rate grid.
    ratios : dict
        ``{name: ratio}``, each the TPR of a model divided by the TPR of a reference.
    bands : dict, optional
        ``{name: (lo, hi)}`` bootstrap bands.
    """
    fpr = np.asarray(fpr)
    with style() as plt:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for name, r in ratios.items():
            line, = ax.plot(fpr, r, lw=1.3, label=name, color=COLORS.get(name.split()[0]))
            if bands and name in bands:
                ax.fill_between(fpr, *bands[name], color=line.get_color(), alpha=0.25, lw=0)
        ax.axhline(1, color="k", lw=0.8, ls="--")
        ax.set_xlim(*xlim)
        ax.set_xlabel("False Positive Rate")
        ax.set_ylabel(ylabel or "Ratio of True Positive Rates")
        if title:
            ax.set_title(title)
        ax.legend()
        return _finish(fig, simulated)


def draw_reliability_diagram(panels, *, simulated=False):
    """Reliability diagrams: observed fraction of LSBGs against predicted probability.

    Parameters
    ----------
    panels : dict
        ``{panel title: {curve label: (reliability_curve DataFrame, ece)}}``, e.g. one
        panel per model with its curves before and after temperature scaling; the
        DataFrames come from :func:`deepshadows_lib.calibration.reliability_curve`.
        Each curve is drawn at its bins' mean probabilities, with a histogram of the
        objects per bin under it.
    """
    with style() as plt:
        n = len(panels)
        fig, axes = plt.subplots(2, n, figsize=(5 * n, 6.2), squeeze=False,
                                 gridspec_kw={"height_ratios": (3, 1)}, sharex="col")
        for j, (title, curves) in enumerate(panels.items()):
            ax, hist = axes[0, j], axes[1, j]
            ax.plot([0, 1], [0, 1], "k:", lw=0.9, label="perfect calibration")
            for (label, (curve, ece)), color, marker in zip(
                    curves.items(), ("tab:gray", "tab:orange", "tab:blue", "tab:green"),
                    ("s", "o", "^", "D")):
                full = curve["count"] > 0
                ax.plot(curve.loc[full, "mean_p"], curve.loc[full, "fraction_positive"],
                        marker=marker, ms=4, color=color, lw=1.2,
                        label=f"{label} (ECE = {ece:.3f})")
                width = float(curve["bin_high"].iloc[0] - curve["bin_low"].iloc[0])
                hist.bar(curve["bin_low"] + width / 2, curve["count"], width=width * 0.9,
                         color=color, alpha=0.45)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_ylabel("Observed fraction of LSBGs")
            ax.set_title(title)
            ax.legend(loc="upper left", fontsize=8)
            hist.set_yscale("log")
            hist.set_xlabel("Predicted LSBG probability")
            hist.set_ylabel("Objects")
        return _finish(fig, simulated)

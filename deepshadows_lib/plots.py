"""One function per figure of the paper (``draw_*``); each returns a matplotlib Figure.

The functions only draw: they take numbers that :mod:`deepshadows_lib.evaluate`,
:mod:`deepshadows_lib.models` and :mod:`deepshadows_lib.gradcam` computed, never train or
resample.  Every function takes ``simulated``: when true (data from the synthetic survey)
the figure carries a visible "SIMULATED DATA" stamp, so that a figure can never be mistaken
for one made from the real survey.

Style follows the paper's figures: serif fonts, inward ticks, dashed grid, the paper's
colours (CNN orange, SVM blue, random forest red).
"""

import contextlib

import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

__all__ = ["style", "mark_simulated", "draw_cutout_grid", "draw_example_cutouts",
           "draw_architecture", "draw_training_curves", "draw_roc_curves",
           "draw_confusion_matrix", "draw_confusion_matrices", "draw_probability_histogram",
           "draw_gradcam_grid", "draw_roc_families", "draw_tpr_ratio", "draw_sky_distribution",
           "draw_hsc_transfer", "draw_reliability_diagram", "SIMULATED_TEXT"]

SIMULATED_TEXT = "SIMULATED DATA (synthetic survey, not DES/HSC images)"
COLORS = {"CNN": "tab:orange", "DeepShadows": "tab:orange", "SVM": "mediumblue",
          "RF": "red", "Random forest": "red"}
LINESTYLES = {"CNN": "-", "DeepShadows": "-", "SVM": "--", "RF": "-.", "Random forest": "-."}

_RC = {
    "font.family": "serif",
    "font.size": 11,
    "axes.grid": True,
    "grid.linestyle": "--",
    "grid.alpha": 0.6,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "legend.framealpha": 0.9,
    "savefig.dpi": 150,
    "figure.dpi": 100,
}


def _plt():
    # pyplot picks a backend when imported: choose Agg outside IPython first
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline",
                                                "inline"):
        with contextlib.suppress(Exception):
            import IPython  # noqa: F401  (inside a notebook the inline backend is fine)
            if IPython.get_ipython() is None:
                matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def style():
    """Context manager applying the paper's plot style."""
    plt = _plt()
    with plt.rc_context(_RC):
        yield plt


def mark_simulated(fig, simulated=True, *, text=SIMULATED_TEXT):
    """Stamp ``fig`` as made from simulated data (does nothing when ``simulated`` is false)."""
    if simulated:
        fig.text(0.5, 0.995, text, ha="center", va="top", fontsize=9, color="darkred",
                 weight="bold", family="sans-serif",
                 bbox=dict(boxstyle="round,pad=0.2", fc="mistyrose", ec="darkred", lw=0.8))
        fig._deepshadows_simulated = True
    return fig


def _finish(fig, simulated):
    fig.tight_layout(rect=(0, 0, 1, 0.97) if simulated else None)
    return mark_simulated(fig, simulated)


def _as_rgb(img):
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 1)
    return img


# --------------------------------------------------------------------------- Fig. 1, A10
def draw_cutout_grid(images, *, ncols=5, titles=None, suptitle=None, simulated=False,
                     size=1.6):
    """A grid of cutouts.

    Parameters
    ----------
    images : array_like
        (N, 64, 64, 3) uint8 or floats in [0, 1].
    ncols : int
        Images per row.
    titles : sequence of str, optional
        One title per image.
    suptitle : str, optional
        Title of the figure.
    simulated : bool
        Stamp the figure as made from simulated data.
    """
    images = np.asarray(images)
    n = len(images)
    nrows = max(1, -(-n // ncols))
    with style() as plt:
        fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.5),
                                 squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if k < n:
                ax.imshow(_as_rgb(images[k]), interpolation="nearest")
                if titles is not None:
                    ax.set_title(titles[k], fontsize=8)
        if suptitle:
            fig.suptitle(suptitle, y=0.97 if simulated else 0.995)
        return _finish(fig, simulated)


def draw_example_cutouts(examples, *, n_per_row=6, simulated=False, size=1.5):
    """Fig. 1 (and A10): rows of example cutouts per class.

    Parameters
    ----------
    examples : dict
        ``{row title: images}``, e.g. ``{"LSBGs": imgs, "Artifacts": imgs}``; each row shows
        up to ``n_per_row`` images.
    """
    rows = list(examples.items())
    with style() as plt:
        fig, axes = plt.subplots(len(rows), n_per_row,
                                 figsize=(size * n_per_row, size * len(rows) + 0.6),
                                 squeeze=False)
        for r, (title, imgs) in enumerate(rows):
            imgs = np.asarray(imgs)
            for c in range(n_per_row):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                if c < len(imgs):
                    ax.imshow(_as_rgb(imgs[c]), interpolation="nearest")
                else:
                    ax.set_axis_off()
            axes[r, 0].set_ylabel(title, fontsize=12)
        fig.subplots_adjust(wspace=0.04, hspace=0.04)
        return _finish(fig, simulated)


# --------------------------------------------------------------------------- Fig. 2
def draw_architecture(model, *, simulated=False):
    """Fig. 2: the network drawn from the model itself (layer by layer, output shapes).

    Parameters
    ----------
    model : keras.Model
        A built model; its layers' names, output shapes and parameter counts are read.
    """
    kinds = {"Conv2D": "wheat", "MaxPooling2D": "indianred", "BatchNormalization": "lightsteelblue",
             "Dropout": "lightgrey", "Flatten": "plum", "Dense": "orchid", "InputLayer": "white"}
    layers = []
    for layer in model.layers:
        shape = tuple(getattr(layer, "output", None).shape[1:]) if hasattr(layer, "output") else ()
        layers.append((layer.name, type(layer).__name__, shape, layer.count_params()))
    with style() as plt:
        fig, ax = plt.subplots(figsize=(max(10, 0.95 * len(layers)), 4.2))
        ax.set_axis_off()
        x = 0.0
        for name, kind, shape, nparams in layers:
            if len(shape) == 3:
                h = 0.5 + 2.5 * shape[0] / 64
                w = 0.25 + 0.35 * np.log2(max(shape[2], 1)) / 6
                label = "x".join(str(s) for s in shape)
            else:
                units = shape[0] if shape else 1
                h = 0.4 + 2.5 * np.log10(max(units, 1)) / np.log10(4096)
                w = 0.25
                label = str(units)
            ax.add_patch(Rectangle((x, -h / 2), w, h, fc=kinds.get(kind, "lightgrey"),
                                   ec="black", lw=0.8))
            ax.text(x + w / 2, -h / 2 - 0.12, f"{name}\n{label}", ha="center", va="top",
                    fontsize=7, rotation=0)
            if nparams:
                ax.text(x + w / 2, h / 2 + 0.08, f"{nparams:,}", ha="center", va="bottom",
                        fontsize=6, color="dimgray", rotation=60)
            nx = x + w + 0.35
            ax.add_patch(FancyArrowPatch((x + w, 0), (nx, 0), arrowstyle="-|>",
                                         mutation_scale=8, color="darkslategray"))
            x = nx
        total = model.count_params()
        ax.set_xlim(-0.2, x)
        ax.set_ylim(-2.4, 2.2)
        ax.set_title(f"{model.name}: {total:,} parameters (grey numbers: per layer)")
        handles = [Rectangle((0, 0), 1, 1, fc=c, ec="black") for c in kinds.values()]
        ax.legend(handles, list(kinds), loc="upper left", fontsize=7, ncol=4, frameon=False)
        return _finish(fig, simulated)


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


# --------------------------------------------------------------------------- Fig. 4, 7
def _roc_axes(ax):
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("False Positive Rate")
    ax.set_ylabel("True Positive Rate")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_aspect("equal")


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


def draw_confusion_matrix(cm, *, labels=("Artifact", "LSBG"), ax=None, title=None,
                     normalize=False, simulated=False, cmap="Blues"):
    """A confusion matrix (rows: true class, columns: predicted class), with counts.

    Parameters
    ----------
    cm : array_like
        Square matrix of counts.
    labels : sequence of str
        Class names in the matrix's order.
    normalize : bool
        Show row fractions beside the counts.
    """
    cm = np.asarray(cm)
    with style() as plt:
        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(1.6 * len(cm) + 1.6, 1.6 * len(cm) + 1.0))
        frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(frac, cmap=cmap, vmin=0, vmax=1)
        ax.grid(False)
        for i in range(len(cm)):
            for j in range(len(cm)):
                text = f"{cm[i, j]:d}" + (f"\n({frac[i, j]:.1%})" if normalize else "")
                ax.text(j, i, text, ha="center", va="center",
                        color="white" if frac[i, j] > 0.5 else "black", fontsize=11)
        ax.set_xticks(range(len(cm)), labels)
        ax.set_yticks(range(len(cm)), labels)
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("True label")
        ax.tick_params(top=False, right=False)
        if title:
            ax.set_title(title)
        return _finish(fig, simulated) if fig is not None else ax.figure


def draw_confusion_matrices(matrices, *, labels=("Artifact", "LSBG"), normalize=True,
                       simulated=False):
    """Several confusion matrices side by side (Fig. 7 before/after fine-tuning, A11).

    Parameters
    ----------
    matrices : dict
        ``{title: (cm, labels or None)}`` or ``{title: cm}``.
    """
    items = list(matrices.items())
    with style() as plt:
        fig, axes = plt.subplots(1, len(items), figsize=(4.3 * len(items), 4.2), squeeze=False)
        for ax, (title, value) in zip(axes.flat, items):
            cm, lab = value if isinstance(value, tuple) else (value, None)
            draw_confusion_matrix(cm, labels=lab or labels, ax=ax, title=title,
                                  normalize=normalize)
        return _finish(fig, simulated)


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


# --------------------------------------------------------------------------- Fig. 6
_CATEGORY_TITLES = {"TN": r"True Negatives, $P_{out} < 0.2$",
                    "FN": r"False Negatives, $P_{out} < 0.2$",
                    "FP": r"False Positives, $P_{out} > 0.8$",
                    "TP": r"True Positives, $P_{out} > 0.8$"}


def draw_gradcam_grid(images, maps=None, *, probabilities=None, ncols=3, simulated=False,
                 size=1.25, map_name="Grad-CAM"):
    """Fig. 6: cutouts and their Grad-CAM maps for TN, FN, FP and TP.

    Parameters
    ----------
    images, maps : dict
        ``{"TP": (n, 64, 64, 3), ...}`` and ``{"TP": (n, 64, 64), ...}`` for the categories
        TN, FN, FP, TP (a missing or empty category leaves its panels blank, with a note).
        Or ``images`` alone as returned by
        :func:`deepshadows_lib.gradcam.gradcam_examples` (``{"TP": {"image", "map", "p"}}``).
    probabilities : dict, optional
        ``{"TP": p, ...}`` printed on each cutout.
    ncols : int
        Cutouts per row within a category block (3 x 3 in the paper).
    map_name : str
        The kind of map, in the panel titles (``"Grad-CAM"``, ``"HiResCAM"``).
    """
    cats = ["TN", "FN", "FP", "TP"]
    if maps is None:
        examples = images
        images = {k: v["image"] for k, v in examples.items()}
        maps = {k: v["map"] for k, v in examples.items()}
        if probabilities is None:
            probabilities = {k: v["p"] for k, v in examples.items()}
    n = max([len(images.get(c, [])) for c in cats] + [1])
    nrows = max(1, -(-n // ncols))
    with style() as plt:
        fig = plt.figure(figsize=(4 * ncols * size * 1.05, 2 * nrows * size + 1.2))
        outer = fig.add_gridspec(2, 2, wspace=0.06, hspace=0.22)
        for b, cat in enumerate(cats):
            inner = outer[b // 2, b % 2].subgridspec(nrows, 2 * ncols + 1, wspace=0.05,
                                                     hspace=0.05,
                                                     width_ratios=[1] * ncols + [0.15] + [1] * ncols)
            imgs = np.asarray(images.get(cat, np.zeros((0, 64, 64, 3))))
            cams = np.asarray(maps.get(cat, np.zeros((0, 64, 64))))
            for k in range(nrows * ncols):
                r, c = divmod(k, ncols)
                ax_i = fig.add_subplot(inner[r, c])
                ax_m = fig.add_subplot(inner[r, ncols + 1 + c])
                for ax in (ax_i, ax_m):
                    ax.set_xticks([])
                    ax.set_yticks([])
                    ax.grid(False)
                if k < len(imgs):
                    ax_i.imshow(_as_rgb(imgs[k]), interpolation="nearest")
                    ax_m.imshow(cams[k], cmap="jet", vmin=0, vmax=1, interpolation="bilinear")
                    if probabilities is not None and cat in probabilities:
                        ax_i.text(2, 60, f"{probabilities[cat][k]:.2f}", color="white",
                                  fontsize=6)
                else:
                    ax_i.set_axis_off()
                    ax_m.set_axis_off()
                if r == 0 and c == ncols // 2:
                    ax_i.set_title(_CATEGORY_TITLES[cat], fontsize=9)
                    ax_m.set_title(f"{_CATEGORY_TITLES[cat].split(',')[0]}, {map_name}",
                                   fontsize=9)
            if len(imgs) == 0:
                fig.add_subplot(outer[b // 2, b % 2]).set_axis_off()
                fig.axes[-1].text(0.5, 0.5, f"no {cat} with this confidence", ha="center",
                                  va="center", transform=fig.axes[-1].transAxes)
        return mark_simulated(fig, simulated)


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


# --------------------------------------------------------------------------- data
def draw_sky_distribution(positions, *, simulated=False):
    """Sky positions of the objects of each split (the original's Training/Validation/Test maps).

    Parameters
    ----------
    positions : dict
        ``{name: DataFrame with ra, dec}``.
    """
    colors = ["red", "tab:blue", "tab:green", "tab:purple"]
    with style() as plt:
        fig = plt.figure(figsize=(9, 4.8))
        ax = fig.add_subplot(projection="mollweide")
        for k, (name, df) in enumerate(positions.items()):
            ra = np.radians(((np.asarray(df["ra"]) + 180) % 360) - 180)
            ax.scatter(-ra, np.radians(df["dec"]), s=0.5, alpha=0.4, color=colors[k % 4],
                       label=f"{name} ({len(df):,})", rasterized=True)
        ticks = np.radians(np.arange(-150, 151, 30))
        ax.set_xticks(ticks, [f"{int((-np.degrees(t)) % 360)}°" for t in ticks], fontsize=7)
        ax.set_xlabel("RA")
        ax.set_ylabel("Dec")
        ax.legend(loc="lower right", markerscale=10, fontsize=8)
        return _finish(fig, simulated)


# --------------------------------------------------------------------------- Fig. 7
def draw_hsc_transfer(panels, *, simulated=False):
    """Fig. 7: HSC confusion matrices before and after fine-tuning, and their ROC curves.

    Parameters
    ----------
    panels : dict
        :func:`deepshadows_lib.tables.hsc_transfer_panels`: ``matrices`` (``{title: 2x2
        counts}``, before then after) and ``curves`` (``{name: {"fpr", "tpr", "auc"}}``).
    """
    with style() as plt:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
        for ax, (title, cm) in zip(axes[:2], panels["matrices"].items()):
            draw_confusion_matrix(cm, ax=ax, title=title, normalize=True)
        for (name, c), color, ls in zip(panels["curves"].items(), ("tab:blue", "tab:orange"),
                                        ("--", "-")):
            axes[2].plot(c["fpr"], c["tpr"], color=color, ls=ls,
                         label=f"{name} (AUC = {c['auc']:.3f})")
        _roc_axes(axes[2])
        axes[2].legend(loc="lower right", fontsize=9)
        axes[2].set_title("HSC test objects")
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

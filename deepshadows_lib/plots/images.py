"""Cutouts (Figs. 1, A10), Grad-CAM maps (Fig. 6), the architecture (Fig. 2) and the
sky positions of the data."""

from matplotlib.patches import FancyArrowPatch, Rectangle

import numpy as np

from ._style import _finish, mark_simulated, style

__all__ = ["draw_cutout_grid", "draw_example_cutouts", "draw_gradcam_grid",
           "draw_architecture", "draw_sky_distribution"]


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

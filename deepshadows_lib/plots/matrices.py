"""Confusion matrices (Figs. 4, 7, A11) and the HSC transfer figure (Fig. 7)."""

import numpy as np

from ._style import _finish, _roc_axes, style

__all__ = ["draw_confusion_matrix", "draw_confusion_matrices", "draw_hsc_transfer"]


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

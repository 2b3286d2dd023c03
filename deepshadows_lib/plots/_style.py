"""The paper's plot style, the simulated-data stamp and helpers shared by the figures."""

import contextlib

__all__ = ["style", "mark_simulated", "SIMULATED_TEXT", "COLORS", "LINESTYLES"]

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


def _roc_axes(ax):
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("False Positive Rate")
    ax.set_ylabel("True Positive Rate")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_aspect("equal")


"""Tests of deepshadows_lib.plots: every figure function draws, and says when data are simulated."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from deepshadows_lib import plots


def _texts(fig):
    return [t.get_text() for t in fig.texts] + [
        t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.fixture
def curves():
    fpr = np.linspace(0, 1, 200)
    return {"CNN": {"fpr": fpr, "tpr": np.sqrt(fpr), "auc": 0.9,
                    "band": (np.sqrt(fpr) * 0.9, np.minimum(1, np.sqrt(fpr) * 1.1))},
            "SVM": {"fpr": fpr, "tpr": fpr ** 0.7, "auc": 0.8}}


def test_simulated_stamp_only_when_simulated(curves):
    a = plots.draw_roc_curves(curves, simulated=True)
    b = plots.draw_roc_curves(curves, simulated=False)
    assert plots.SIMULATED_TEXT in _texts(a)
    assert plots.SIMULATED_TEXT not in _texts(b)


def test_roc_legend_reports_auc(curves):
    fig = plots.draw_roc_curves(curves)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["CNN (AUC = 0.900)", "SVM (AUC = 0.800)"]


def test_confusion_matrix_prints_the_counts():
    cm = np.array([[2196, 258], [142, 2404]])
    fig = plots.draw_confusion_matrix(cm, normalize=True)
    texts = _texts(fig)
    for count in ("2196", "258", "142", "2404"):
        assert any(t.startswith(count) for t in texts)
    assert any("89.5%" in t for t in texts)  # 2196 / 2454


def test_probability_histogram_counts_each_class():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(30, int), np.zeros(20, int)]
    fig = plots.draw_probability_histogram(y, rng.uniform(size=50))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["LSBGs (30)", "Artifacts (20)"]


def test_training_curves_log_scale_for_l2_dominated_loss():
    hist = {"loss": [180, 40, 5, 1.2], "val_loss": [150, 35, 4, 1.1],
            "accuracy": [0.6, 0.7, 0.8, 0.85], "val_accuracy": [0.5, 0.6, 0.7, 0.8]}
    fig = plots.draw_training_curves(hist)
    assert fig.axes[0].get_yscale() == "log"
    assert len(fig.axes[1].lines) == 2


def test_grids_and_families_draw(curves):
    imgs = np.random.default_rng(1).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    fig = plots.draw_example_cutouts({"LSBGs": imgs, "Artifacts": imgs[:2]}, n_per_row=4)
    assert sum(1 for ax in fig.axes if ax.images) == 6
    maps = {"TP": np.random.default_rng(2).uniform(size=(2, 64, 64))}
    fig = plots.draw_gradcam_grid({"TP": imgs[:2]}, maps, probabilities={"TP": [0.9, 0.95]})
    assert sum(1 for ax in fig.axes if ax.images) == 4
    ex = {"TP": {"image": imgs[:2], "map": maps["TP"], "p": np.array([0.9, 0.95])},
          "FN": {"image": imgs[:0], "map": maps["TP"][:0], "p": np.array([])}}
    fig = plots.draw_gradcam_grid(ex)
    assert sum(1 for ax in fig.axes if ax.images) == 4
    assert any("no FN" in t for t in _texts(fig))
    ref = {"fpr": curves["CNN"]["fpr"], "tpr": curves["CNN"]["tpr"]}
    fig = plots.draw_roc_families({"seeds": ("Reference", ref, {"seed 3": ref})})
    assert len(fig.axes[0].lines) >= 3
    fig = plots.draw_tpr_ratio(ref["fpr"], {"Noise 5%": np.ones(200)})
    assert fig.axes[0].get_ylabel() == "Ratio of True Positive Rates"


def test_architecture_is_drawn_from_the_model():
    from deepshadows_lib.models import build_deepshadows
    model = build_deepshadows(1, compile=False)
    fig = plots.draw_architecture(model)
    title = fig.axes[0].get_title()
    assert f"{model.count_params():,}" in title
    assert "4,220,385" in title  # the paper's count
    texts = " ".join(_texts(fig))
    for name in ("conv1", "conv3", "dense1", "64x64x16", "8x8x64", "1024"):
        assert name in texts


def test_hsc_transfer_draws_the_panels_it_is_given():
    fpr = np.linspace(0, 1, 50)
    panels = {"matrices": {"Before (acc. 0.500)": np.array([[5, 5], [5, 5]]),
                           "After (acc. 0.900)": np.array([[9, 1], [1, 9]])},
              "curves": {"Before": {"fpr": fpr, "tpr": fpr, "auc": 0.5},
                         "After": {"fpr": fpr, "tpr": np.sqrt(fpr), "auc": 0.9}}}
    fig = plots.draw_hsc_transfer(panels)
    assert [ax.get_title() for ax in fig.axes] == ["Before (acc. 0.500)", "After (acc. 0.900)",
                                                   "HSC test objects"]
    labels = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert labels == ["Before (AUC = 0.500)", "After (AUC = 0.900)"]


def test_plot_functions_are_named_for_drawing():
    from deepshadows_lib import evaluate
    drawing = [n for n in plots.__all__ if callable(getattr(plots, n))
               and n not in ("style", "mark_simulated")]
    assert drawing and all(n.startswith("draw_") for n in drawing)
    assert not hasattr(plots, "confusion_matrix") and hasattr(evaluate, "confusion_matrix")

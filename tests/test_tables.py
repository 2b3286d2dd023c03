"""Tests of deepshadows_lib.tables: tables beside the paper's numbers, figure inputs."""

import numpy as np
import pytest

from deepshadows_lib import evaluate, tables


def _scores(n=400, seed=0, shift=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + shift * (2 * y - 1))))
    return y, p


def test_table2_has_this_run_beside_the_paper():
    y, p = _scores()
    t = tables.table2({"SVM": (y, p), "DeepShadows": (y, p)})
    assert t.loc["DeepShadows", ("accuracy", "paper")] == 0.920
    assert t.loc["SVM", ("auc", "paper")] == 0.894
    assert t.loc["SVM", ("accuracy", "this run")] == pytest.approx(
        np.mean((p > 0.5) == y))


def test_roc_entry_band_contains_the_curve():
    y, p = _scores(seed=1)
    entry, boot = tables.roc_entry(y, p, n_bootstrap=200, seed=3)
    lo, hi = entry["band"]
    inside = (entry["tpr"] >= lo - 1e-9) & (entry["tpr"] <= hi + 1e-9)
    assert inside.mean() > 0.95
    assert entry["auc"] == pytest.approx(evaluate.binary_metrics(y, p)["auc"])
    t3 = tables.table3({"DeepShadows": boot})
    assert t3.loc[("DeepShadows", "accuracy"), "low (paper)"] == 0.912
    assert t3.loc[("DeepShadows", "auc"), "low"] <= t3.loc[("DeepShadows", "auc"), "high"]


def _noise_runs():
    y, p0 = _scores(seed=2)
    _, p1 = _scores(seed=2, shift=0.7)
    runs = []
    for direction, frac, p in (("none", 0.0, p0), ("both", 0.05, p1), ("both", 1 / 3, p1),
                               ("1->0", 0.10, p1)):
        runs.append({"direction": direction, "fraction": frac, "n_flipped": int(frac * 300),
                     **{"metrics": evaluate.binary_metrics(y, p), "y_true": y, "p": p,
                        "tpr": evaluate.roc_interp(y, p)}})
    return runs


def test_table5_matches_paper_rows_by_fraction():
    t = tables.table5(_noise_runs())
    assert t.loc["Noise 5%", "accuracy (paper)"] == 0.914
    assert t.loc["Noise 33%", "auc (paper)"] == 0.950
    assert np.isnan(t.loc["LSBG->artifact 10%", "accuracy (paper)"])
    assert t.loc["No noise", "accuracy (paper)"] == 0.920


def test_noise_ratios_are_one_for_the_reference_scores():
    runs = _noise_runs()
    runs[1]["p"] = runs[0]["p"]
    fpr, ratios = tables.noise_ratios(runs)
    r = ratios["Noise 5%"]
    assert np.allclose(r[np.isfinite(r)], 1.0)
    assert "No noise" not in ratios and len(fpr) == 200


def test_seed_and_noise_curves_shapes():
    runs = [{"seed": s, "tpr": np.linspace(0, 1, 200)} for s in (1, 3, 18)]
    name, ref, others = tables.seed_curves(runs, reference_seed=3)
    assert name == "Reference split (seed 3)" and set(others) == {"seed 1", "seed 18"}
    name, ref, others = tables.noise_curves(_noise_runs(), directions=("1->0",))
    assert name == "No noise" and list(others) == ["LSBG->artifact 10%"]


def test_roc_curves_with_bands_names_and_order():
    y, p = _scores(seed=4)
    curves, boots = tables.roc_curves_with_bands(
        {"SVM": (y, p), "Random forest": (y, p), "DeepShadows": (y, p)}, n_bootstrap=50)
    assert list(curves) == ["CNN", "SVM", "RF"]
    assert set(boots) == {"SVM", "Random forest", "DeepShadows"}
    assert boots["SVM"].n_resamples == 50

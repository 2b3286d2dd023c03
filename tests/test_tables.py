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


def test_uncertainty_curves_leaves_out_the_panels_not_run():
    seeds = [{"seed": s, "tpr": np.linspace(0, 1, 200)} for s in (1, 42)]
    runs = _noise_runs()
    panels = tables.uncertainty_curves(seeds, runs, reference_seed=42)
    assert list(panels) == list(tables.FIG8_PANELS)
    assert panels["ROC curves - Different random seeds"][0] == "Reference split (seed 42)"
    assert list(panels["ROC curves - Different label noise levels"][2]) == ["Noise 5%",
                                                                            "Noise 33%"]
    assert list(panels["ROC curves - Biased label noise"][2]) == ["LSBG->artifact 10%"]
    # a profile without biased noise: no panel with the no-noise curve alone
    random_only = [r for r in runs if r["direction"] in ("none", "both")]
    panels = tables.uncertainty_curves(seeds, random_only, reference_seed=42)
    assert "ROC curves - Biased label noise" not in panels
    assert len(panels) == 2


def test_roc_curves_with_bands_names_and_order():
    y, p = _scores(seed=4)
    curves, boots = tables.roc_curves_with_bands(
        {"SVM": (y, p), "Random forest": (y, p), "DeepShadows": (y, p)}, n_bootstrap=50)
    assert list(curves) == ["CNN", "SVM", "RF"]
    assert set(boots) == {"SVM", "Random forest", "DeepShadows"}
    assert boots["SVM"].n_resamples == 50


def test_test_scores_put_the_cnn_beside_the_baselines():
    y, p = _scores(seed=4)
    s = tables.test_scores(y, baselines={"SVM": {"p": p * 0.5}, "Random forest": {"p": p}},
                           cnn=1 - p)
    assert list(s) == ["SVM", "Random forest", "DeepShadows"]
    assert np.array_equal(s["DeepShadows"][1], 1 - p) and s["SVM"][0] is y


def _transfer(y, p_before, p_after):
    out = {}
    for key, p in (("before", p_before), ("after", p_after)):
        out[key] = {"y_true": y, "p": p, "tpr": evaluate.roc_interp(y, p),
                    "metrics": evaluate.binary_metrics(y, p)}
    return out


def test_hsc_transfer_panels_count_the_confusion_matrix_by_hand():
    y, p = _scores(seed=5)
    panels = tables.hsc_transfer_panels(_transfer(y, p, np.sqrt(p)))
    (t_before, cm_before), (t_after, cm_after) = panels["matrices"].items()
    pred = p > 0.5
    expected = [[np.sum((y == 0) & ~pred), np.sum((y == 0) & pred)],
                [np.sum((y == 1) & ~pred), np.sum((y == 1) & pred)]]
    assert cm_before.tolist() == expected
    assert t_before.startswith("Before fine-tuning (acc. ") and t_after.startswith("After")
    assert f"{np.mean(pred == y):.3f}" in t_before
    assert list(panels["curves"]) == ["Before fine-tuning", "After fine-tuning"]
    assert panels["curves"]["After fine-tuning"]["auc"] == pytest.approx(
        evaluate.binary_metrics(y, np.sqrt(p))["auc"])


def test_three_class_bn_table_and_plus_helpers():
    result = {"metrics_moving": {"accuracy": 0.7, "reduced_accuracy": 0.8},
              "metrics_reestimated": {"accuracy": 0.75, "reduced_accuracy": 0.85}}
    t = tables.three_class_bn_table(result)
    assert t.loc["reestimated", "reduced accuracy"] == 0.85 and t.loc["moving", "accuracy"] == 0.7
    import pandas as pd
    ablation = {"scores": {"paper CNN": (1, 2), "+ temperature scaling (plus)": (3, 4)},
                "table": pd.DataFrame({"accuracy": [0.9], "auc": [0.95], "ece": [0.02],
                                       "brier": [0.08]},
                                      index=["+ temperature scaling (plus)"])}
    assert tables.plus_scores(ablation) == {"DeepShadows": (1, 2), "DeepShadows plus": (3, 4)}
    assert tables.plus_test_metrics(ablation) == {"accuracy": 0.9, "auc": 0.95, "ece": 0.02,
                                                  "brier": 0.08}


def test_transfer_bn_table_marks_the_statistics_in_use():
    y, p = _scores(seed=6)
    tr = _transfer(y, p, p)
    tr["after_moving"], tr["after_reestimated"] = tr["before"], tr["after"]
    t = tables.transfer_bn_table(tr, bn_reestimate=True)
    assert t.loc["re-estimated after fine-tuning", "used in figures"] == "yes"
    assert t.loc["moving averages of fine-tuning", "used in figures"] == "no"

"""Tests of deepshadows_lib.conclusions: the verdicts on fixed numbers, the table."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import conclusions
from deepshadows_lib.errors import InputError


# --------------------------------------------------------------------------- verdicts
def test_paper_numbers_hold_every_claim():
    # the paper's own numbers pass the tests the table applies
    assert conclusions.cnn_accuracy(cnn=0.920, svm=0.819, rf=0.797).holds
    assert conclusions.cnn_auc(cnn=0.974, svm=0.894, rf=0.872).holds
    assert conclusions.random_splits([0.912, 0.920, 0.915, 0.918, 0.913, 0.916]).holds
    f = [0, 0.01, 0.05, 0.10, 1 / 3]
    assert conclusions.noise_monotonic(f, [0.920, 0.918, 0.914, 0.909, 0.883],
                                       [0.974, 0.974, 0.970, 0.969, 0.950]).holds
    assert conclusions.noise_cost(f, [0.920, 0.918, 0.914, 0.909, 0.883]).holds
    assert conclusions.hsc_finetune(before_accuracy=0.821, after_accuracy=0.876,
                                    before_auc=0.902, after_auc=0.936).holds
    assert conclusions.three_class(reduced_accuracy=0.90, binary_accuracy=0.92).holds
    assert conclusions.gradcam_centre([0.5, 0.6, 0.4], disc_share=0.11).holds


def test_the_issue_default_run_breaks_the_claims_it_broke():
    # the numbers of the default run at 1f80ae0 (issue 15): each of these says no
    assert not conclusions.cnn_accuracy(cnn=0.749, svm=0.773, rf=0.797).holds
    assert not conclusions.random_splits([0.624, 0.749, 0.717]).holds
    assert not conclusions.noise_cost([0, 0.05, 1 / 3], [0.749, 0.728, 0.599]).holds
    assert not conclusions.three_class(reduced_accuracy=0.822, binary_accuracy=0.741).holds
    assert not conclusions.gradcam_centre([0.01, 0.0, 0.02, 0.01], disc_share=0.109).holds


@pytest.mark.parametrize("cnn, holds", [(0.849, True), (0.8489, False), (0.85, True)])
def test_cnn_accuracy_needs_five_points_over_the_better_baseline(cnn, holds):
    assert conclusions.cnn_accuracy(cnn=cnn, svm=0.799, rf=0.70).holds is holds


def test_cnn_auc_must_beat_both_strictly():
    assert not conclusions.cnn_auc(cnn=0.90, svm=0.90, rf=0.80).holds
    assert not conclusions.cnn_auc(cnn=0.90, svm=0.80, rf=0.91).holds
    assert not conclusions.cnn_auc(cnn=float("nan"), svm=0.80, rf=0.8).holds


def test_random_split_spread_at_the_limit():
    assert conclusions.random_splits([0.90, 0.92]).holds
    v = conclusions.random_splits([0.90, 0.921, 0.91])
    assert not v.holds and v.values["spread"] == pytest.approx(0.021)
    with pytest.raises(InputError):
        conclusions.random_splits([0.9])


def test_noise_that_raises_a_metric_breaks_monotonicity():
    f = [1 / 3, 0, 0.05]  # any order: sorted by fraction
    assert not conclusions.noise_monotonic(f, [0.85, 0.90, 0.905], [0.9, 0.95, 0.94]).holds
    assert not conclusions.noise_monotonic(f, [0.85, 0.90, 0.89], [0.9, 0.95, 0.96]).holds
    assert conclusions.noise_monotonic(f, [0.85, 0.90, 0.89], [0.9, 0.95, 0.94]).holds
    # a tolerance lets a rise within it pass, and only within it
    assert conclusions.noise_monotonic(f, [0.85, 0.90, 0.905], [0.9, 0.95, 0.94],
                                       tolerance=0.01).holds
    assert not conclusions.noise_monotonic(f, [0.85, 0.90, 0.915], [0.9, 0.95, 0.94],
                                           tolerance=0.01).holds


def test_noise_cost_reads_the_clean_and_the_third():
    v = conclusions.noise_cost([0, 0.05, 1 / 3], [0.90, 0.89, 0.84])
    assert v.holds and v.values["cost"] == pytest.approx(0.06)
    assert not conclusions.noise_cost([0, 0.05, 1 / 3], [0.90, 0.89, 0.839]).holds
    with pytest.raises(InputError, match="0.333"):
        conclusions.noise_cost([0, 0.05], [0.9, 0.8])


def test_finetuning_must_raise_both_metrics():
    assert not conclusions.hsc_finetune(before_accuracy=0.80, after_accuracy=0.85,
                                        before_auc=0.90, after_auc=0.89).holds
    assert not conclusions.hsc_finetune(before_accuracy=0.80, after_accuracy=0.80,
                                        before_auc=0.90, after_auc=0.95).holds


def test_three_class_within_three_points_either_way():
    assert conclusions.three_class(reduced_accuracy=0.95, binary_accuracy=0.92).holds
    assert not conclusions.three_class(reduced_accuracy=0.951, binary_accuracy=0.92).holds
    assert not conclusions.three_class(reduced_accuracy=0.889, binary_accuracy=0.92).holds


def test_gradcam_median_against_three_discs():
    disc = 0.1
    assert conclusions.gradcam_centre([0.0, 0.3, 0.9], disc_share=disc).holds
    assert not conclusions.gradcam_centre([0.0, 0.29, 0.9], disc_share=disc).holds
    # all-zero maps (NaN share) count as no evidence on the centre
    assert not conclusions.gradcam_centre([np.nan, np.nan, 0.9], disc_share=disc).holds
    assert not conclusions.gradcam_centre([], disc_share=disc).holds


# --------------------------------------------------------------------------- the table
def test_table_has_every_claim_in_order_with_not_run_rows(tmp_path):
    path = tmp_path / "conclusions.json"
    conclusions.record(path, conclusions.cnn_auc(cnn=0.9, svm=0.8, rf=0.7), run="r1")
    conclusions.record(path, conclusions.random_splits([0.5, 0.9]), run="r1")
    table = conclusions.verdict_table(path, run="r1")
    assert list(table.index) == [c.claim for c in conclusions.CLAIMS.values()]
    holds = table["holds"].to_dict()
    assert holds["the CNN beats SVM and RF in AUC"] == "yes"
    assert holds["random splits agree"] == "no"
    assert holds["the CNN beats SVM and RF in accuracy"] == conclusions.NOT_RUN
    assert set(table.columns) >= {"paper", "this run", "test", "holds"}


def test_rows_of_another_run_are_not_shown_as_this_runs(tmp_path):
    path = tmp_path / "conclusions.json"
    conclusions.record(path, conclusions.cnn_auc(cnn=0.9, svm=0.8, rf=0.7), run="old")
    table = conclusions.verdict_table(path, run="new")
    assert table.loc["the CNN beats SVM and RF in AUC", "holds"] == conclusions.NOT_RUN
    assert conclusions.run_id({"a": 1}, "x") != conclusions.run_id({"a": 2}, "x")
    assert conclusions.run_id({"a": 1}, "x") == conclusions.run_id({"a": 1}, "x")


def test_check_complete_names_missing_verdicts(tmp_path):
    records = {k: conclusions.Verdict(k, "x", True).as_dict()
               for k in conclusions.CLAIMS if k != "gradcam_centre"}
    conclusions.verdict_table(records).to_csv(tmp_path / "conclusions.csv")
    with pytest.raises(InputError, match="Grad-CAM"):
        conclusions.check_complete(tmp_path)
    records["gradcam_centre"] = conclusions.Verdict("gradcam_centre", "y", False).as_dict()
    conclusions.verdict_table(records).to_csv(tmp_path / "conclusions.csv")
    table = conclusions.check_complete(tmp_path)
    assert (table["holds"] == "yes").sum() == len(conclusions.CLAIMS) - 1


def test_check_complete_without_a_table(tmp_path):
    with pytest.raises(InputError, match="missing"):
        conclusions.check_complete(tmp_path)


def test_unknown_claim_is_refused(tmp_path):
    with pytest.raises(InputError, match="unknown claim"):
        conclusions.record(tmp_path / "c.json", conclusions.Verdict("nope", "", True))


def test_corrupt_record_file_is_named(tmp_path):
    path = tmp_path / "conclusions.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="conclusions.json"):
        conclusions.load_records(path)


def test_table_round_trips_through_csv(tmp_path):
    records = {"cnn_auc": conclusions.cnn_auc(cnn=0.9, svm=0.8, rf=0.7).as_dict()}
    conclusions.verdict_table(records).to_csv(tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", index_col=0, keep_default_na=False)
    assert back.loc["the CNN beats SVM and RF in AUC", "this run"] == "0.900 vs 0.800 / 0.700"


def test_noise_tolerance_of_one_standard_error():
    f = [0, 0.05, 1 / 3]
    # clean accuracy 0.9 on 900 objects: standard error 0.01
    ok = conclusions.noise_monotonic(f, [0.90, 0.909, 0.85], [0.95, 0.955, 0.9],
                                     tolerance="se", n_test=900)
    assert ok.holds and ok.values["tolerance"] == pytest.approx(0.01)
    assert not conclusions.noise_monotonic(f, [0.90, 0.911, 0.85], [0.95, 0.95, 0.9],
                                           tolerance="se", n_test=900).holds
    with pytest.raises(InputError, match="n_test"):
        conclusions.noise_monotonic(f, [0.9, 0.9, 0.8], [0.9, 0.9, 0.8], tolerance="se")


def test_verdicts_from_results_match_the_verdicts_from_numbers():
    import numpy as np
    import pandas as pd
    from deepshadows_lib import evaluate
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    good = np.clip(y * 0.8 + rng.uniform(0, 0.3, 300), 0, 1)
    bad = rng.uniform(size=300)
    scores = {"SVM": (y, bad), "Random forest": (y, bad[::-1].copy()), "DeepShadows": (y, good)}
    acc, auc = conclusions.model_verdicts(scores)
    m = {k: evaluate.binary_metrics(*v) for k, v in scores.items()}
    assert acc == conclusions.cnn_accuracy(cnn=m["DeepShadows"]["accuracy"],
                                           svm=m["SVM"]["accuracy"],
                                           rf=m["Random forest"]["accuracy"])
    assert auc.holds is True and acc.holds is True
    runs = [{"direction": "none", "fraction": 0.0, "metrics": {"accuracy": 0.92, "auc": 0.97}},
            {"direction": "both", "fraction": 0.05, "metrics": {"accuracy": 0.91, "auc": 0.96}},
            {"direction": "1->0", "fraction": 0.05, "metrics": {"accuracy": 0.99, "auc": 0.99}},
            {"direction": "both", "fraction": 1 / 3, "metrics": {"accuracy": 0.88, "auc": 0.94}}]
    mono, cost = conclusions.noise_verdicts(runs, n_test=5000)
    assert mono == conclusions.noise_monotonic([0.0, 0.05, 1 / 3], [0.92, 0.91, 0.88],
                                               [0.97, 0.96, 0.94], tolerance="se",
                                               n_test=5000)
    assert cost == conclusions.noise_cost([0.0, 0.05, 1 / 3], [0.92, 0.91, 0.88])
    assert conclusions.seed_verdict([{"metrics": {"accuracy": a}} for a in (0.91, 0.95)]) \
        .holds is False
    tr = {"before": {"metrics": {"accuracy": 0.8, "auc": 0.9}},
          "after": {"metrics": {"accuracy": 0.85, "auc": 0.93}}}
    assert conclusions.transfer_verdict(tr).holds is True
    three = {"metrics": {"reduced_accuracy": 0.9, "accuracy": 0.85}}
    pred = pd.DataFrame({"label": y, "p_lsbg": good})
    v = conclusions.three_class_verdict(three, pred)
    assert v == conclusions.three_class(reduced_accuracy=0.9,
                                        binary_accuracy=m["DeepShadows"]["accuracy"],
                                        overall_accuracy=0.85)


# --------------------------------------------------------------------------- audit: each claim broken
def _paper_verdicts(**broken):
    """The verdicts of a run with the paper's numbers, each claim named in ``broken``
    computed from numbers that break it instead."""
    f = [0, 0.01, 0.05, 0.10, 1 / 3]
    acc = [0.920, 0.918, 0.914, 0.909, 0.883]
    auc = [0.974, 0.974, 0.970, 0.969, 0.950]
    made = {
        "cnn_accuracy": lambda b: conclusions.cnn_accuracy(
            cnn=0.860 if b else 0.920, svm=0.819, rf=0.797),           # 4.1 points
        "cnn_auc": lambda b: conclusions.cnn_auc(
            cnn=0.974, svm=0.894, rf=0.980 if b else 0.872),          # RF above
        "random_splits": lambda b: conclusions.random_splits(
            [0.912, 0.920, 0.933 if b else 0.915]),                    # spread 0.021
        "noise_monotonic": lambda b: conclusions.noise_monotonic(
            f, acc, [0.974, 0.974, 0.970, 0.975 if b else 0.969, 0.950]),  # AUC rises at 10%
        "noise_cost": lambda b: conclusions.noise_cost(
            f, [0.920, 0.918, 0.914, 0.909, 0.859 if b else 0.883]),   # costs 0.061
        "hsc_finetune": lambda b: conclusions.hsc_finetune(
            before_accuracy=0.821, after_accuracy=0.876, before_auc=0.902,
            after_auc=0.900 if b else 0.936),                          # AUC falls
        "three_class": lambda b: conclusions.three_class(
            reduced_accuracy=0.88 if b else 0.90, binary_accuracy=0.92),  # 0.04 below
        "gradcam_centre": lambda b: conclusions.gradcam_centre(
            [0.2, 0.3, 0.32] if b else [0.4, 0.5, 0.6], disc_share=0.109),  # 0.30 < 0.327
    }
    assert set(made) == set(conclusions.CLAIMS)
    assert conclusions.noise_monotonic(f, acc, auc).holds
    return {k: make(k in broken).as_dict() for k, make in made.items()}


@pytest.mark.parametrize("key", list(conclusions.CLAIMS))
def test_a_run_that_breaks_one_claim_says_no_on_that_row_only(key):
    table = conclusions.verdict_table(_paper_verdicts(**{key: True}))
    holds = table["holds"]
    assert holds[conclusions.CLAIMS[key].claim] == "no"
    assert (holds.drop(conclusions.CLAIMS[key].claim) == "yes").all()


@pytest.mark.parametrize("kwargs", [dict(cnn=None, svm=0.8, rf=0.7),
                                    dict(cnn=0.95, svm=0.8, rf=None)])
def test_a_missing_number_says_no_and_shows_missing(kwargs):
    for verdict in (conclusions.cnn_accuracy(**kwargs), conclusions.cnn_auc(**kwargs)):
        assert verdict.holds is False and "missing" in verdict.this_run
    v = conclusions.three_class(reduced_accuracy=None, binary_accuracy=0.9)
    assert v.holds is False and "missing" in v.this_run
    v = conclusions.hsc_finetune(before_accuracy=0.8, after_accuracy=None, before_auc=0.8,
                                 after_auc=0.9)
    assert v.holds is False and "missing" in v.this_run


@pytest.mark.parametrize("disc", [0.0, float("nan"), None, -0.1, 1.0])
def test_gradcam_with_a_disc_share_that_is_not_a_share_says_no(disc):
    # a disc share of 0 made any map (even an all-zero one) hold
    v = conclusions.gradcam_centre([0.0, 0.0, 0.5], disc_share=disc)
    assert v.holds is False and "not a share" in v.this_run


def test_boundaries_of_the_issue_hold_exactly():
    f = [0, 0.05, 1 / 3]
    assert conclusions.noise_cost(f, [0.849, 0.80, 0.789]).holds          # cost 0.06
    assert not conclusions.noise_cost(f, [0.849, 0.80, 0.7889]).holds
    assert conclusions.random_splits([0.912, 0.932, 0.92]).holds            # spread 0.02
    assert not conclusions.random_splits([0.912, 0.9321, 0.92]).holds
    assert conclusions.three_class(reduced_accuracy=0.82, binary_accuracy=0.85).holds
    assert conclusions.three_class(reduced_accuracy=0.88, binary_accuracy=0.85).holds
    assert conclusions.gradcam_centre([0.33], disc_share=0.11).holds        # 3 x exactly


def test_noise_cost_reads_a_profile_that_writes_thirty_three_percent_as_0_33():
    v = conclusions.noise_cost([0, 0.05, 0.33], [0.90, 0.89, 0.85])
    assert v.holds and v.values["noisy"] == 0.85
    with pytest.raises(InputError, match="0.333"):
        conclusions.noise_cost([0, 0.05, 0.30], [0.90, 0.89, 0.85])


def test_noise_monotonicity_needs_the_noise_free_run():
    # without it, a fall from the clean accuracy to the first flipped run goes unseen
    with pytest.raises(InputError, match="noise-free"):
        conclusions.noise_monotonic([0.05, 1 / 3], [0.90, 0.85], [0.95, 0.90])


def test_a_missing_study_is_named_not_a_key_error():
    y, p = np.array([0, 1, 1, 0]), np.array([0.2, 0.8, 0.7, 0.1])
    with pytest.raises(InputError, match="'SVM'"):
        conclusions.model_verdicts({"DeepShadows": (y, p), "Random forest": (y, p)})
    with pytest.raises(InputError, match="'after'"):
        conclusions.transfer_verdict({"before": {"metrics": {"accuracy": 0.8, "auc": 0.9}}})
    with pytest.raises(InputError, match="'gradcam' maps"):
        conclusions.gradcam_verdict({"hirescam_share": [0.5], "disc_share": 0.1})


# --------------------------------------------------------------------------- audit: the check
def _table(**broken_with_note):
    records = _paper_verdicts(**{k: True for k in broken_with_note})
    for key, note in broken_with_note.items():
        records[key]["note"] = note
    return conclusions.verdict_table(records)


def test_check_holds_fails_a_default_run_whose_claim_says_no():
    table = _table(noise_cost="")
    with pytest.raises(InputError, match="33% label noise costs little"):
        conclusions.check_holds(table, profile="default")
    with pytest.raises(InputError, match="do not hold in this paper run"):
        conclusions.check_holds(table, profile="paper")
    # the smoke run is too small to test the paper: reported, not failed
    assert conclusions.check_holds(table, profile="smoke") == ["33% label noise costs little"]
    assert conclusions.check_holds(_table(), profile="default") == []


def test_check_holds_accepts_a_row_that_says_why_it_cannot_hold():
    table = _table(three_class="needs 40 min of training on 2 cores; holds in the paper profile")
    assert conclusions.check_holds(table, profile="default") == \
        ["three-class accuracy near the binary one"]

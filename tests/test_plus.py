"""Tests of deepshadows_lib.plus: the augmented, calibrated ensemble and its ablation."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import plus, predict, provenance

pytestmark = pytest.mark.tf  # builds or runs TensorFlow models


@pytest.fixture(scope="module")
def data():
    """64 cutouts whose label is whether a bright blob sits in the image (any position)."""
    rng = np.random.default_rng(3)
    n = 64
    images = rng.integers(0, 60, (n, 64, 64, 3), dtype=np.uint8)
    labels = np.arange(n) % 2
    for i in np.flatnonzero(labels):
        r, c = rng.integers(8, 48, 2)
        images[i, r:r + 12, c:c + 12] = 220
    split = {"train": np.arange(0, 40), "validation": np.arange(40, 52),
             "test": np.arange(52, 64), "kind": "random"}
    return images, labels, split


@pytest.fixture(scope="module")
def trained(data):
    images, labels, split = data
    return plus.train_plus(images, labels, train_idx=split["train"],
                           val_idx=split["validation"], epochs=1, batch_size=16, seed=5,
                           n_members=2, progress=False)


@pytest.fixture(scope="module")
def paper(data):
    """The paper's CNN on the same split (one epoch): the ablation's first rows."""
    from deepshadows_lib.training import train_cnn
    images, labels, split = data
    model, _ = train_cnn(images, labels, train_idx=split["train"], epochs=1, batch_size=16,
                         seed=1, progress=False)
    return model


def test_member_seeds_are_distinct_and_reproducible():
    seeds = [plus.member_seed(42, k) for k in range(5)]
    assert len(set(seeds)) == 5 and seeds == [plus.member_seed(42, k) for k in range(5)]
    assert plus.member_seed(1, 0) != plus.member_seed(42, 0)


@pytest.mark.slow
def test_train_plus_gives_independent_members_and_a_fitted_temperature(trained, data):
    images, labels, split = data
    assert len(trained.members) == 2 and len(trained.histories) == 2
    w0, w1 = (m.get_layer("conv1").get_weights()[0] for m in trained.members)
    assert not np.allclose(w0, w1)  # independently seeded
    assert trained.raw_validation.shape == (12, 8, 2)
    assert 0.05 <= trained.temperature <= 20
    from deepshadows_lib.calibration import fit_temperature
    mean = trained.raw_validation.reshape(12, -1).mean(axis=1)
    assert trained.temperature == pytest.approx(fit_temperature(labels[40:52], mean))


@pytest.mark.slow
def test_training_a_member_is_deterministic(data):
    images, labels, split = data
    a, _ = plus.train_member(images, labels, train_idx=split["train"], epochs=1,
                             batch_size=16, seed=9, head="gap", progress=False)
    b, _ = plus.train_member(images, labels, train_idx=split["train"], epochs=1,
                             batch_size=16, seed=9, head="gap", progress=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.count_params() == 24_097


@pytest.mark.slow
def test_member_batch_norm_statistics_are_reestimated_on_its_training_images(data):
    import keras

    images, labels, split = data
    kw = dict(train_idx=split["train"], epochs=1, batch_size=16, seed=9, head="gap",
              progress=False)
    moving, _ = plus.train_member(images, labels, **kw)
    fixed, _ = plus.train_member(images, labels, bn_reestimate=True, **kw)
    # the same training: only the batch-norm statistics differ
    np.testing.assert_array_equal(moving.get_layer("conv1").get_weights()[0],
                                  fixed.get_layer("conv1").get_weights()[0])
    bn = [layer for layer in fixed.layers if isinstance(layer, keras.layers.BatchNormalization)]
    first = bn[0]
    # by hand: the first batch-norm layer's input over the training images, inference mode
    upto = keras.Model(fixed.inputs, first.input)
    x = images[split["train"]].astype(np.float32) / 255.0
    a = np.asarray(upto(x, training=False), dtype=np.float64).reshape(-1, first.input.shape[-1])
    np.testing.assert_allclose(first.moving_mean.numpy(), a.mean(axis=0), rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(first.moving_variance.numpy(), a.var(axis=0), rtol=1e-3,
                               atol=1e-6)
    assert not np.allclose(moving.get_layer(first.name).moving_mean.numpy(),
                           first.moving_mean.numpy())


@pytest.mark.slow
def test_saved_plus_predicts_the_same_from_the_file(trained, data, tmp_path):
    images, labels, split = data
    path = plus.save_plus(trained, tmp_path / "plus.keras",
                          provenance={"profile": "smoke", "split": split})
    side = provenance.read_sidecar(path)
    assert side["recipe"] == "plus" and side["n_members"] == 2 and side["tta"] is True
    assert side["temperature"] == pytest.approx(trained.temperature)
    assert side["split"]["n_test"] == 12
    x = images[split["test"]]
    p_file, u_file = predict.Predictor.from_path(path).predict(x)
    p_mem, u_mem = trained.predictor().predict(x)
    np.testing.assert_allclose(p_file, p_mem, atol=1e-6)
    np.testing.assert_allclose(u_file, u_mem, atol=1e-6)


@pytest.mark.slow
def test_ablation_rows_and_intervals(trained, data, paper):
    images, labels, split = data
    res = plus.ablation(trained, images, labels, test_idx=split["test"],
                        val_idx=split["validation"], paper_model=paper, n_bootstrap=50)
    t = res["table"]
    assert list(t.index) == ["paper CNN", "paper CNN + temperature scaling",
                             "+ augmentation", "+ test-time augmentation", "+ ensemble (2)",
                             "+ temperature scaling (plus)"]
    assert (t["accuracy_low"] <= t["accuracy"]).all() and (t["accuracy"] <=
                                                            t["accuracy_high"]).all()
    # temperature scaling changes no decision and no ranking
    row = t.loc["+ ensemble (2)"]
    scaled = t.loc["+ temperature scaling (plus)"]
    assert row["accuracy"] == scaled["accuracy"] and row["auc"] == pytest.approx(scaled["auc"])
    # the first rows are single views of member 0: recomputed independently
    raw = res["raw"]
    x = images[split["test"]]
    direct = trained.members[0](x.astype("float32") / 255.0, training=False).numpy()[:, 0]
    np.testing.assert_allclose(raw[:, 0, 0], direct, atol=1e-5)
    shown = plus.ablation_table(res)
    assert shown.shape[0] == 6 and "[" in shown.iloc[0, 0]
    cal = plus.calibration_table(res)
    assert {"ece", "brier", "temperature"} <= set(cal.columns)
    unc = plus.uncertainty_table(res["y"], res["p_plus"], res["uncertainty"], n_bins=2)
    assert unc["objects"].sum() == 12


@pytest.mark.slow
@pytest.mark.cluster
def test_members_trained_in_two_processes_equal_the_sequential_ensemble(data, trained):
    images, labels, split = data
    side_by_side = plus.train_plus(images, labels, train_idx=split["train"],
                                   val_idx=split["validation"], epochs=1, batch_size=16,
                                   seed=5, n_members=2, progress=False, workers=2)
    assert side_by_side.seeds == trained.seeds
    for a, b in zip(side_by_side.members, trained.members):
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
    assert side_by_side.temperature == trained.temperature
    assert [h["loss"] for h in side_by_side.histories] == [h["loss"] for h in trained.histories]


def test_an_unknown_calibration_is_refused_before_any_training(data):
    from deepshadows_lib.errors import InputError
    images, labels, split = data
    with pytest.raises(InputError, match="calibration must be one of"):
        plus.train_plus(images, labels, train_idx=split["train"], val_idx=split["validation"],
                        epochs=1, n_members=1, calibration="beta", progress=False)


@pytest.mark.slow
def test_platt_calibrated_plus_fits_temperature_and_bias_on_validation(data, tmp_path):
    from deepshadows_lib.calibration import apply_temperature, fit_platt
    images, labels, split = data
    platt = plus.train_plus(images, labels, train_idx=split["train"],
                            val_idx=split["validation"], epochs=1, batch_size=16, seed=5,
                            n_members=2, progress=False, calibration="platt")
    mean = platt.raw_validation.reshape(12, -1).mean(axis=1)
    t, b = fit_platt(labels[40:52], mean)
    assert (platt.calibration, platt.temperature, platt.bias) == ("platt", t, b)
    # the predictor applies both: its probability is the calibrated mean of members and views
    x = images[split["test"]]
    raw = platt.predictor().member_probabilities(x)
    p, _ = platt.predictor().predict(x)
    np.testing.assert_allclose(p, apply_temperature(raw.reshape(12, -1).mean(axis=1), t,
                                                    bias=b), atol=1e-12)
    # the sidecar carries the bias, and a model loaded from the file applies it
    path = plus.save_plus(platt, tmp_path / "plus.keras", provenance={"profile": "smoke"})
    side = provenance.read_sidecar(path)
    assert side["bias"] == pytest.approx(b) and side["calibration"] == "platt"
    np.testing.assert_allclose(predict.Predictor.from_path(path).predict(x)[0], p, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_ablation_calibrates_the_paper_cnn_the_way_plus_is(trained, data, paper, method):
    import dataclasses

    from deepshadows_lib import tables
    from deepshadows_lib.calibration import fit_temperature
    images, labels, split = data
    mean = trained.raw_validation.reshape(12, -1).mean(axis=1)
    fitted = plus.fit_calibration(method, labels[40:52], mean)
    calibrated = dataclasses.replace(trained, calibration=method, **fitted)
    res = plus.ablation(calibrated, images, labels, test_idx=split["test"],
                        val_idx=split["validation"], paper_model=paper, n_bootstrap=50)
    label = plus.CALIBRATIONS[method]
    t_ = res["table"]
    assert list(t_.index) == ["paper CNN", "paper CNN + temperature scaling",
                              f"paper CNN + {label}", "+ augmentation",
                              "+ test-time augmentation", "+ ensemble (2)",
                              "+ temperature scaling", f"+ {label} (plus)"]
    row = f"+ {label} (plus)"
    assert plus.plus_row(res) == row
    y, p_plus = res["scores"][row]
    ref = predict.Predictor(trained.model, **fitted).calibrate(
        res["raw"].reshape(12, -1).mean(1))
    np.testing.assert_allclose(p_plus, ref)
    # the temperature-only row is fitted on the same validation probabilities
    assert res["calibrations"]["+ temperature scaling"] == (fit_temperature(labels[40:52],
                                                                            mean), 0.0)
    cal = plus.calibration_table(res)
    assert cal.loc[row, "bias"] == pytest.approx(fitted["bias"])
    assert cal.loc[row, "calibration"] == method and cal.loc["paper CNN", "bias"] == 0.0
    assert tables.plus_scores(res)["DeepShadows plus"][1] is p_plus
    assert tables.plus_test_metrics(res)["accuracy"] == t_.loc[row, "accuracy"]
    panels = plus.reliability_panels(res)
    assert set(panels) == {"Paper CNN", "DeepShadows plus"}
    targets = plus.targets(res)
    assert f"(for reference) gain over the paper CNN with the same {label}" in targets.index


@pytest.mark.slow
def test_isotonic_plus_applies_the_knots_fitted_on_validation_and_saves_them(trained, data,
                                                                            tmp_path):
    import dataclasses

    from deepshadows_lib.calibration import fit_isotonic
    from sklearn.isotonic import IsotonicRegression
    images, labels, split = data
    mean = trained.raw_validation.reshape(12, -1).mean(axis=1)
    knots = fit_isotonic(labels[40:52], mean)
    iso = dataclasses.replace(trained, calibration="isotonic", temperature=1.0, bias=0.0,
                              isotonic=knots)
    x = images[split["test"]]
    p, unc = iso.predictor().predict(x)
    raw = iso.predictor(calibrated=False).member_probabilities(x)
    ref = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(mean, labels[40:52])
    np.testing.assert_allclose(p, ref.predict(raw.reshape(12, -1).mean(axis=1)), atol=1e-12)
    assert iso.calibration_summary().startswith("isotonic calibration fitted on validation")
    assert f"{len(knots['x'])} isotonic knots" in iso.calibration_summary()
    path = plus.save_plus(iso, tmp_path / "plus.keras", provenance={"profile": "smoke"})
    side = provenance.read_sidecar(path)
    assert side["calibration"] == "isotonic" and side["isotonic"] == knots
    np.testing.assert_allclose(predict.Predictor.from_path(path).predict(x)[0], p, atol=1e-6)


@pytest.mark.slow
@pytest.mark.cluster
def test_ensembles_trained_together_equal_each_trained_alone(data, trained):
    images, labels, split = data
    together = plus.train_ensembles(
        images, labels, train_idx=split["train"], val_idx=split["validation"], epochs=1,
        batch_size=16, seed=5, ensembles=[{"n_members": 2, "head": "flatten"},
                                          {"n_members": 1, "head": "gap", "seed": 7}],
        progress=False, workers=2)
    gap = plus.train_plus(images, labels, train_idx=split["train"],
                          val_idx=split["validation"], epochs=1, batch_size=16, seed=7,
                          n_members=1, head="gap", progress=False)
    assert [len(e.members) for e in together] == [2, 1]
    for alone, joint in ((trained, together[0]), (gap, together[1])):
        assert (joint.seeds, joint.head) == (alone.seeds, alone.head)
        for a, b in zip(joint.members, alone.members):
            for wa, wb in zip(a.get_weights(), b.get_weights()):
                np.testing.assert_array_equal(wa, wb)
        assert joint.temperature == alone.temperature
        np.testing.assert_array_equal(joint.raw_validation, alone.raw_validation)


def test_ensembles_need_members(data):
    from deepshadows_lib.errors import InputError
    images, labels, split = data
    for bad in ({"n_members": 0}, {"head": "gap"}, {"n_members": 1, "heads": "gap"}):
        with pytest.raises(InputError, match="n_members"):
            plus.train_ensembles(images, labels, train_idx=split["train"],
                                 val_idx=split["validation"], epochs=1, ensembles=[bad],
                                 progress=False)


@pytest.mark.slow
def test_seed_spread_reuses_the_predictions_given_for_the_first_model(data, trained):
    from deepshadows_lib.errors import InputError
    images, labels, split = data
    fresh = plus.seed_spread(images, labels, split=split, seeds=[5], epochs=1,
                             first=(5, trained), progress=False)
    p, _ = trained.predictor().predict(images[split["test"]])
    reused = plus.seed_spread(images, labels, split=split, seeds=[5], epochs=1,
                              first=(5, trained), first_predictions=p, progress=False)
    assert reused.equals(fresh)
    # the numbers really come from the predictions given
    flipped = plus.seed_spread(images, labels, split=split, seeds=[5], epochs=1,
                               first=(5, trained), first_predictions=1 - p, progress=False)
    assert flipped.loc[5, "accuracy"] == pytest.approx(1 - fresh.loc[5, "accuracy"])
    with pytest.raises(InputError, match="first_predictions"):
        plus.seed_spread(images, labels, split=split, seeds=[5], epochs=1,
                         first=(5, trained), first_predictions=p[:3], progress=False)


def _seeds(accuracies):
    t = pd.DataFrame({"seed": range(len(accuracies)), "accuracy": accuracies}).set_index("seed")
    t.attrs["spread"] = float(max(accuracies) - min(accuracies))
    return t


def test_targets_and_caption_do_not_show_a_spread_of_one_seed():
    table = pd.DataFrame({"accuracy": [0.85, 0.88], "accuracy_low": [0.84, 0.87],
                          "accuracy_high": [0.86, 0.89], "auc": [0.94, 0.95],
                          "ece": [0.08, 0.015]},
                         index=["paper CNN", "+ temperature scaling (plus)"])
    result = {"table": table}
    one = plus.targets(result, _seeds([0.88]))
    row = one.loc["accuracy spread over 3 seeds <= 0.01"]
    assert row["met"] is None and "bench_plus.py --n-seeds 3" in row["measured"]
    assert "spread" not in plus.seeds_caption(_seeds([0.88])).split("(")[0]
    assert "0.0000" not in plus.seeds_caption(_seeds([0.88]))
    three = plus.targets(result, _seeds([0.88, 0.876, 0.8784]))
    assert bool(three.loc["accuracy spread over 3 seeds <= 0.01", "met"])
    assert three.loc["accuracy spread over 3 seeds <= 0.01", "measured"] == "0.0040"
    assert plus.seeds_caption(_seeds([0.88, 0.86])) == ("plus retrained with 2 seeds "
                                                        "(accuracy spread 0.0200)")
    # no seeds table at all: no spread row
    assert not any("spread" in t for t in plus.targets(result).index)

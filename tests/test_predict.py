"""Tests of deepshadows_lib.predict: the calibrated Predictor and `deepshadows predict`.

The ensemble members are small analytic Keras models (Flatten -> Dense(1), sigmoid, with
seeded weights) so that the expected probabilities of every view and member follow
independently from NumPy.
"""

import csv
import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.special import expit, logit

from deepshadows_lib import plus, predict, training
from deepshadows_lib.cli import main

SIZE = (64, 64, 3)


def _weights(k):
    rng = np.random.default_rng(100 + k)
    return rng.normal(0, 0.02, (int(np.prod(SIZE)), 1)).astype(np.float32), \
        np.array([0.3 * k - 0.2], np.float32)


def _member(k):
    import keras
    inp = keras.Input(SIZE)
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inp, dense(keras.layers.Flatten()(inp)))
    dense.set_weights(list(_weights(k)))
    return model


def _reference(images, n_members, views):
    """(N, views, members) probabilities in float64 with NumPy."""
    out = np.empty((len(images), len(views), n_members))
    for j, v in enumerate(views):
        x = np.rot90(images[:, :, ::-1] if v >= 4 else images, v % 4, axes=(1, 2))
        flat = x.reshape(len(x), -1).astype(np.float64) / 255.0
        for k in range(n_members):
            w, b = _weights(k)
            out[:, j, k] = expit(flat @ w[:, 0].astype(np.float64) + b[0])
    return out


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (20, *SIZE), dtype=np.uint8)


@pytest.fixture(scope="module")
def ensemble_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "plus.keras"
    model = plus.combine_members([_member(k) for k in range(3)])
    training.save_model(model, path, provenance={"recipe": "plus", "temperature": 1.8,
                                                 "tta": True, "n_members": 3})
    return path


def test_ensemble_with_tta_and_temperature_matches_reference(ensemble_file, images):
    pred = predict.Predictor.from_path(ensemble_file)
    assert (pred.n_members, pred.n_views, pred.temperature) == (3, 8, 1.8)
    raw = pred.member_probabilities(images)
    ref = _reference(images, 3, range(8))
    np.testing.assert_allclose(raw, ref, atol=2e-6)
    p, unc = pred.predict(images, batch_size=7)
    p_ref = expit(logit(ref.reshape(20, -1).mean(axis=1)) / 1.8)
    unc_ref = expit(logit(ref.reshape(20, -1)) / 1.8).std(axis=1, ddof=1)
    np.testing.assert_allclose(p, p_ref, atol=2e-6)
    np.testing.assert_allclose(unc, unc_ref, atol=2e-6)
    assert np.all(unc > 0)


def test_single_network_without_tta_is_the_model_output(tmp_path, images):
    path = training.save_model(_member(0), tmp_path / "one.keras")
    pred = predict.Predictor.from_path(path)
    p, unc = pred.predict(images)
    np.testing.assert_allclose(p, _reference(images, 1, [0])[:, 0, 0], atol=2e-6)
    assert np.isnan(unc).all()  # nothing to spread over


def _write_images(folder, images, *, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, img in enumerate(images):
        name = f"obj{start + i:05d}_ra{10 + i * 0.5:.4f}_dec{-5 + i * 0.1:.4f}.png"
        Image.fromarray(img).save(folder / name)
        names.append(name)
    return names


def test_predict_files_classifies_the_good_and_lists_the_bad(tmp_path, ensemble_file,
                                                             images):
    folder = tmp_path / "cutouts"
    names = _write_images(folder, images[:12])
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(images[0][..., 0]).save(folder / "grey.png")
    big = tmp_path / "big.jpg"
    Image.fromarray(np.kron(images[1], np.ones((4, 4, 1), np.uint8))).save(big, quality=95)
    out = tmp_path / "predictions.csv"
    summary = predict.predict_files(ensemble_file, [folder, big], out, batch_size=5,
                                    progress=False)
    assert (summary["n"], summary["n_ok"], summary["n_failed"]) == (15, 13, 2)
    table = pd.read_csv(out)
    assert list(table.columns) == list(predict.OUTPUT_COLUMNS)
    failed = table[table["status"] == "failed"]
    failed.index = failed["file"].map(lambda f: f.rsplit("/", 1)[-1])
    assert set(failed.index) == {"broken.jpg", "grey.png"}
    assert "colour" in failed.loc["grey.png", "reason"]
    assert failed["p_lsbg"].isna().all()
    ok = table[(table["status"] == "ok") & table["file"].str.contains("/cutouts/")]
    np.testing.assert_array_equal(ok["file"].map(lambda f: f.rsplit("/", 1)[-1]), names)
    ref = _reference(images[:12], 3, range(8)).reshape(12, -1)
    np.testing.assert_allclose(ok["p_lsbg"], expit(logit(ref.mean(axis=1)) / 1.8), atol=1e-5)
    np.testing.assert_allclose(ok["ra"], 10 + np.arange(12) * 0.5)
    np.testing.assert_allclose(ok["dec"], -5 + np.arange(12) * 0.1)
    assert (ok["coords_from"] == "name").all() and (ok["resized"] == "no").all()
    row = table[table["file"] == str(big)].iloc[0]
    assert row["original_size"] == "256x256" and row["resized"] == "nearest"
    assert np.isnan(row["ra"])


@pytest.mark.slow
def test_predict_memory_stays_flat_with_the_number_of_files(tmp_path, ensemble_file, images):
    pred = predict.Predictor.from_path(ensemble_file)
    small, large = tmp_path / "small", tmp_path / "large"
    _write_images(small, images[:4])
    for k in range(0, 200, 20):
        _write_images(large, images, start=k)
    peaks = []
    for folder in (small, large):
        predict.predict_files(pred, [folder], tmp_path / f"{folder.name}.csv", batch_size=4,
                              progress=False)  # warm up (graph tracing)
        tracemalloc.start()
        predict.predict_files(pred, [folder], tmp_path / f"{folder.name}.csv", batch_size=4,
                              progress=False, overwrite=True)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 50x the files: the peak grows by far less than holding the images would (200 x 12 kB)
    assert peaks[1] - peaks[0] < 1_000_000, peaks


def test_cli_predict_exit_codes(tmp_path, ensemble_file, images, capsys):
    folder = tmp_path / "imgs"
    _write_images(folder, images[:3])
    out = tmp_path / "p.csv"
    assert main(["predict", "--model", str(ensemble_file), "--out", str(out), "--quiet",
                 str(folder)]) == 0
    assert "3 of 3 images classified" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == 3
    (folder / "bad.png").write_bytes(b"junk")
    assert main(["predict", "--model", str(ensemble_file), "--out", str(out), "--quiet",
                 "--overwrite", str(folder)]) == 3
    err = capsys.readouterr().err
    assert "1 of 4 files could not be classified" in err and "bad.png" in err
    assert main(["predict", "--model", str(tmp_path / "none.keras"), "--out",
                 str(tmp_path / "q.csv"), str(folder)]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["predict", "--model", str(ensemble_file), "--out", str(tmp_path / "q.csv"),
                 str(tmp_path / "nothing-here")]) == 2
    assert not (tmp_path / "q.csv").exists()  # nothing half-written


@pytest.mark.slow
def test_cli_predict_runs_as_a_command(tmp_path, ensemble_file, images):
    folder = tmp_path / "imgs"
    _write_images(folder, images[:2])
    res = subprocess.run([sys.executable, "-m", "deepshadows_lib.cli", "predict", "--model",
                          str(ensemble_file), "--out", str(tmp_path / "p.csv"), str(folder)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "classifying" in res.stderr  # the progress bar
    with open(tmp_path / "p.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 2


def test_a_sidecar_bias_is_applied_after_the_temperature(tmp_path, images):
    path = tmp_path / "platt.keras"
    model = plus.combine_members([_member(k) for k in range(2)])
    training.save_model(model, path, provenance={"recipe": "plus", "temperature": 1.5,
                                                 "bias": -0.7, "tta": False, "n_members": 2})
    pred = predict.Predictor.from_path(path)
    assert (pred.temperature, pred.bias) == (1.5, -0.7)
    p, unc = pred.predict(images)
    ref = _reference(images, 2, [0])
    np.testing.assert_allclose(p, expit(logit(ref.reshape(20, -1).mean(axis=1)) / 1.5 - 0.7),
                               atol=2e-6)
    np.testing.assert_allclose(unc, expit(logit(ref.reshape(20, -1)) / 1.5 - 0.7).std(
        axis=1, ddof=1), atol=2e-6)


@pytest.mark.tf
def test_bfloat16_predictor_is_close_to_the_float32_one(tmp_path, images):
    # the paper's network (folded; the analytic members above do not fold), trained
    # weights or not: the opt-in changes the arithmetic, not the answer beyond ~1e-3
    import keras

    from deepshadows_lib.models import build_deepshadows
    keras.utils.set_random_seed(3)
    model = build_deepshadows(1, compile=False)
    path = training.save_model(model, tmp_path / "cnn.keras")
    reference = model.predict(images.astype(np.float32) / 255.0, verbose=0)[:, 0]
    exact = predict.Predictor.from_path(path)
    low = predict.Predictor.from_path(path, precision="bfloat16")
    assert (exact.precision, low.precision) == ("float32", "bfloat16")
    p, _ = exact.predict(images)
    q, _ = low.predict(images)
    np.testing.assert_allclose(p, reference, atol=1e-5)
    assert 0 < np.max(np.abs(q - reference)) < 2e-2
    # asked for per call, the other arithmetic gives the other Predictor's numbers
    np.testing.assert_array_equal(exact.predict(images, precision="bfloat16")[0], q)
    with pytest.raises(ValueError, match="precision"):
        predict.Predictor.from_path(path, precision="half")
    # image files: the table holds the bfloat16 numbers when asked for
    names = _write_images(tmp_path / "imgs", images[:6])
    predict.predict_files(path, [tmp_path / "imgs"], tmp_path / "low.csv", progress=False,
                          precision="bfloat16")
    table = pd.read_csv(tmp_path / "low.csv").set_index("file")
    got = table.loc[[str(tmp_path / "imgs" / n) for n in names], "p_lsbg"].to_numpy()
    np.testing.assert_allclose(got, q[:6], atol=1e-7)
    with pytest.raises(predict.InputError, match="precision"):
        predict.predict_files(path, [tmp_path / "imgs"], tmp_path / "bad.csv",
                              progress=False, precision="half")
    assert not (tmp_path / "bad.csv").exists()
    # and from the command line
    assert main(["predict", "--model", str(path), "--out", str(tmp_path / "cli.csv"),
                 "--quiet", "--precision", "bfloat16", str(tmp_path / "imgs")]) == 0
    cli = pd.read_csv(tmp_path / "cli.csv").set_index("file")
    np.testing.assert_allclose(cli.loc[table.index, "p_lsbg"], table["p_lsbg"], atol=1e-7)
    with pytest.raises(SystemExit):
        main(["predict", "--model", str(path), "--out", str(tmp_path / "x.csv"),
              "--precision", "half", str(tmp_path / "imgs")])


def test_sidecar_isotonic_knots_map_every_member_and_view(tmp_path, images):
    knots = {"x": [0.0, 0.4, 0.6, 1.0], "y": [0.0, 0.1, 0.9, 1.0]}
    path = tmp_path / "iso.keras"
    model = plus.combine_members([_member(k) for k in range(2)])
    training.save_model(model, path, provenance={"recipe": "plus", "isotonic": knots,
                                                 "tta": True, "n_members": 2})
    pred = predict.Predictor.from_path(path)
    p, unc = pred.predict(images)
    ref = _reference(images, 2, range(8)).reshape(20, -1)
    np.testing.assert_allclose(p, np.interp(ref.mean(axis=1), knots["x"], knots["y"]),
                               atol=1e-5)
    np.testing.assert_allclose(unc, np.interp(ref, knots["x"], knots["y"]).std(axis=1,
                                                                                ddof=1),
                               atol=1e-5)
    with pytest.raises(predict.InputError, match="knots"):
        predict.Predictor(model, isotonic={"x": [0.5, 0.1], "y": [0, 1]})


def test_a_three_class_model_is_refused_not_averaged_as_members(tmp_path, images):
    # a softmax over (artifact2, lsbg, artifact1) is not three ensemble members: averaging
    # its outputs would give p_lsbg = 1/3 for every image
    import keras
    inp = keras.Input(SIZE)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(
        keras.layers.Flatten()(inp)))
    path = training.save_model(model, tmp_path / "three.keras",
                               provenance={"n_classes": 3})
    with pytest.raises(predict.InputError, match="three.keras.*3 outputs"):
        predict.Predictor.from_path(path)
    _write_images(tmp_path / "imgs", images[:2])
    assert main(["predict", "--model", str(path), "--out", str(tmp_path / "p.csv"),
                 "--quiet", str(tmp_path / "imgs")]) == 2
    assert not (tmp_path / "p.csv").exists()


def test_rows_follow_the_order_of_the_files_failed_ones_included(tmp_path, ensemble_file,
                                                                  images):
    folder = tmp_path / "imgs"
    names = _write_images(folder, images[:5])
    (folder / f"{names[1][:-4]}_zz.png").write_bytes(b"junk")  # sorts between 1 and 2
    (folder / "zzz.jpg").write_bytes(b"")
    out = tmp_path / "p.csv"
    predict.predict_files(ensemble_file, [folder, folder / names[0]], out, batch_size=2,
                          progress=False)
    table = pd.read_csv(out)
    expected = [str(folder / n) for n in sorted(names + [f"{names[1][:-4]}_zz.png",
                                                         "zzz.jpg"])]
    assert table["file"].tolist() == expected + [str(folder / names[0])]
    assert table["status"].tolist() == ["ok", "ok", "failed", "ok", "ok", "ok", "failed",
                                        "ok"]


def test_ctrl_c_leaves_no_output_and_does_not_promise_a_resume(tmp_path, ensemble_file,
                                                                images, capsys, monkeypatch):
    _write_images(tmp_path / "imgs", images[:3])
    out = tmp_path / "p.csv"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict.Predictor, "predict", interrupted)
    assert main(["predict", "--model", str(ensemble_file), "--out", str(out), "--quiet",
                 str(tmp_path / "imgs")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "to resume" not in err and str(out) in err
    assert list(tmp_path.glob("*.csv")) == [] and list(tmp_path.glob(".p.csv*")) == []


def test_a_model_without_its_sidecar_is_flagged_in_one_line(tmp_path, ensemble_file, images,
                                                            capsys):
    # nothing to verify it against and no calibration: the user is told, once
    import shutil
    bare = tmp_path / "bare.keras"
    shutil.copy(ensemble_file, bare)
    with pytest.warns(predict.UnverifiedModelWarning, match="bare.json"):
        pred = predict.Predictor.from_path(bare)
    assert (pred.temperature, pred.tta) == (1.0, False)
    _write_images(tmp_path / "imgs", images[:2])
    assert main(["predict", "--model", str(bare), "--out", str(tmp_path / "p.csv"),
                 "--quiet", str(tmp_path / "imgs")]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "bare" in line]
    assert len(err) == 1 and "warning" in err[0] and "not calibrated" in err[0]


def test_an_output_named_as_another_format_is_refused(tmp_path, ensemble_file, images,
                                                      capsys):
    # CSV text under a .parquet name would only fail later, in the user's reader
    _write_images(tmp_path / "imgs", images[:1])
    assert main(["predict", "--model", str(ensemble_file), "--out",
                 str(tmp_path / "p.parquet"), "--quiet", str(tmp_path / "imgs")]) == 2
    err = capsys.readouterr().err
    assert "p.parquet" in err and ".csv" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.parquet").exists()


def test_an_output_that_is_a_folder_is_refused_before_any_work(tmp_path, ensemble_file,
                                                               images, capsys, monkeypatch):
    # the final rename would fail only after every image was classified
    _write_images(tmp_path / "imgs", images[:1])
    folder = tmp_path / "results"
    folder.mkdir()
    monkeypatch.setattr(predict, "read_image", lambda *a, **k: pytest.fail("read"))
    assert main(["predict", "--model", str(ensemble_file), "--out", str(folder),
                 "--overwrite", "--quiet", str(tmp_path / "imgs")]) == 2
    err = capsys.readouterr().err
    assert "results: is a folder" in err and len(err.strip().splitlines()) == 1
    assert folder.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["imgs",
                                                                              "results"]


def test_one_folder_given_alone_is_not_read_as_its_characters(tmp_path, ensemble_file,
                                                              images):
    _write_images(tmp_path / "imgs", images[:2])
    summary = predict.predict_files(ensemble_file, tmp_path / "imgs", tmp_path / "p.csv",
                                    progress=False)
    assert (summary["n"], summary["n_ok"]) == (2, 2)
    summary = predict.predict_files(ensemble_file, str(tmp_path / "imgs"),
                                    tmp_path / "q.csv", progress=False)
    assert len(pd.read_csv(tmp_path / "q.csv")) == 2

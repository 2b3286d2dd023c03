"""Tests of deepshadows_lib.jobs: ``deepshadows train`` and ``deepshadows evaluate``."""

import json

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import jobs, nn, schema, store
from deepshadows_lib.errors import InputError
from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)


def _weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_predictions_frame_follows_the_schema():
    cat = pd.DataFrame({"dec": [1.0, 2.0], "label": [0, 1], "ra": [3.0, 4.0],
                        "class_index": [0, 1], "other": ["a", "b"]})
    binary = jobs._predictions_frame(cat, np.array([0.2, 0.9]))
    assert list(binary.columns) == ["ra", "dec", "label", "class_index", "p_lsbg"]
    three = jobs._predictions_frame(cat, np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]))
    assert list(three.columns) == schema.prediction_columns(
        ["ra", "dec", "label", "class_index"] + schema.probability_columns(3))
    # probabilities under their class's name, whatever the column order
    np.testing.assert_array_equal(three["p_lsbg"], [0.2, 0.8])
    np.testing.assert_array_equal(three["p_artifact2"], [0.7, 0.1])


@pytest.mark.tf
def test_a_model_with_another_number_of_outputs_is_bad_input(tmp_path):
    import keras
    inp = keras.Input((64, 64, 3))
    five = keras.Model(inp, keras.layers.Dense(5)(keras.layers.Flatten()(inp)))
    with pytest.raises(InputError, match="1 or 3 outputs"):
        jobs.evaluate_store(five, tmp_path / "none", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- command line
@pytest.fixture
def labelled_store(tmp_path):
    images, y = easy_images(48, seed=2)
    cls = np.where(y == 1, 1, np.where(np.arange(48) % 4 == 0, 2, 0))  # some type-1
    cat = pd.DataFrame({"ra": np.linspace(10, 11, 48), "dec": np.linspace(-5, -4, 48),
                        "label": y, "class_index": cls, "simulated": True})
    return store.write_store(tmp_path / "labelled", images, cat, chunk_size=16)


@pytest.mark.slow
@pytest.mark.tf
def test_cli_train_then_evaluate(labelled_store, tmp_path, capsys):
    from deepshadows_lib import catalogs, cli, evaluate

    out = tmp_path / "run"
    rc = cli.main(["train", "--cutouts", str(labelled_store), "--out", str(out), "--profile",
                   "smoke", "--epochs", "1", "--seed", "5", "--split", "random", "--quiet"])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"model.keras", "model.json", "history.json",
                                               "metrics.json", "predictions.parquet"}
    from deepshadows_lib.provenance import read_sidecar
    side = read_sidecar(out / "model.keras")
    assert side["recipe"] == "paper" and side["profile"] == "smoke" and side["seed"] == 5
    assert side["split"]["kind"] == "random" and side["split"]["n_test"] == 6
    assert side["data"]["sha256"] and side["metrics"]["test"]["n"] == 6
    pred = pd.read_parquet(out / "predictions.parquet")
    assert list(pred.columns[:3]) == ["ra", "dec", "label"] and "p_lsbg" in pred
    split = catalogs.random_split(48, seed=5)
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(np.flatnonzero(pred["split"] == name),
                                      np.sort(split[name]))
    metrics = json.loads((out / "metrics.json").read_text())
    test = pred[pred["split"] == "test"]
    ref = evaluate.binary_metrics(test["label"], test["p_lsbg"])
    assert metrics["splits"]["test"]["accuracy"] == pytest.approx(ref["accuracy"])
    assert metrics["split"] == "random" and metrics["epochs"] == 1
    assert metrics["n_params"] == 4_220_385
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 1

    ev = tmp_path / "eval"
    rc = cli.main(["evaluate", "--model", str(out / "model.keras"), "--cutouts",
                   str(labelled_store), "--out", str(ev), "--n-bootstrap", "50", "--quiet"])
    assert rc == 0
    pred2 = pd.read_parquet(ev / "predictions.parquet")
    np.testing.assert_allclose(pred2["p_lsbg"], pred["p_lsbg"], rtol=1e-5, atol=1e-7)
    m2 = json.loads((ev / "metrics.json").read_text())
    assert m2["accuracy"] == pytest.approx(
        evaluate.binary_metrics(pred["label"], pred["p_lsbg"])["accuracy"])
    lo, hi = m2["bootstrap"]["intervals"]["accuracy"]
    assert lo <= m2["accuracy"] <= hi
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.tf
def test_train_follows_the_profiles_recipe(labelled_store, tmp_path):
    """``deepshadows train --profile smoke`` trains as the smoke notebooks do: the
    profile's epochs, weight averaging and batch-norm statistics re-estimated after."""
    from deepshadows_lib import bn_stats, catalogs, jobs, nn, profiles
    from deepshadows_lib.provenance import read_sidecar

    prof = profiles.get_profile("smoke")
    assert prof.ema_momentum and prof.bn_reestimate  # what this test is about
    out = tmp_path / "run"
    metrics = jobs.train_store(labelled_store, out, profile="smoke", seed=5, split="random",
                               progress=False)
    assert metrics["epochs"] == prof.epochs_for(36) and metrics["bn_reestimated"] is True
    assert metrics["ema_momentum"] == prof.ema_momentum
    side = read_sidecar(out / "model.keras")
    assert side["ema_momentum"] == prof.ema_momentum and side["bn_reestimated"] is True
    # the same recipe by hand, in the library
    st = store.open_store(labelled_store)
    y = st.catalog["label"].to_numpy()
    parts = catalogs.random_split(48, seed=5)
    model, _ = nn.train_cnn(st.images, y, train_idx=parts["train"],
                            val_idx=parts["validation"], epochs=prof.epochs_for(36),
                            batch_size=prof.batch_size, learning_rate=prof.learning_rate,
                            seed=5, progress=False, checkpoint=None,
                            ema_momentum=prof.ema_momentum)
    bn_stats.reestimate_batch_norm(model, st.images, indices=parts["train"])
    pred = pd.read_parquet(out / "predictions.parquet")
    np.testing.assert_allclose(pred["p_lsbg"], nn.predict(model, st.images, progress=False),
                               atol=1e-6)


@pytest.mark.slow
@pytest.mark.tf
def test_cli_train_three_classes(labelled_store, tmp_path):
    from deepshadows_lib import cli

    out = tmp_path / "three"
    assert cli.main(["train", "--cutouts", str(labelled_store), "--out", str(out),
                     "--profile", "smoke", "--epochs", "1", "--classes", "3", "--quiet"]) == 0
    pred = pd.read_parquet(out / "predictions.parquet")
    probs = pred[["p_artifact2", "p_lsbg", "p_artifact1"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    m = json.loads((out / "metrics.json").read_text())
    cm = np.array(m["splits"]["test"]["multiclass"]["confusion"])
    assert cm.shape == (3, 3) and cm.sum() == (pred["split"] == "test").sum()


@pytest.mark.tf
def test_cli_bad_input_exits_2(labelled_store, tmp_path, capsys):
    from deepshadows_lib import cli

    rc = cli.main(["train", "--cutouts", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "nope" in err
    # a store without labels
    images, _ = easy_images(8)
    bare = store.write_store(tmp_path / "bare", images,
                             pd.DataFrame({"ra": np.arange(8.0), "dec": 0.0}))
    rc = cli.main(["train", "--cutouts", str(bare), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "no labels" in err and len(err.splitlines()) == 1
    # a model file that is not a model
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"\x00garbage")
    rc = cli.main(["evaluate", "--model", str(junk), "--cutouts", str(labelled_store),
                   "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "junk.keras" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "e").exists()




def _checkpoint_epochs(path):
    try:
        with np.load(path) as z:
            return json.loads(str(z["meta"]))["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
@pytest.mark.tf
def test_cli_train_killed_with_sigkill_resumes_and_matches(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    images, y = easy_images(96, seed=4)
    cat = pd.DataFrame({"ra": np.linspace(10, 11, 96), "dec": -5.0, "label": y,
                        "simulated": True})
    store.write_store(tmp_path / "s", images, cat, chunk_size=32)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    epochs = 8

    def cmd(out):
        return [sys.executable, "-m", "deepshadows_lib.cli", "train", "--cutouts",
                str(tmp_path / "s"), "--out", str(out), "--profile", "smoke", "--epochs",
                str(epochs), "--seed", "7", "--split", "random", "--quiet"]

    ref = subprocess.run(cmd(tmp_path / "ref"), env=env, capture_output=True, text=True,
                         timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "run"
    proc = subprocess.Popen(cmd(out), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = out / jobs.CHECKPOINT_DIR / "checkpoint.npz"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None \
                and _checkpoint_epochs(ckpt) < 2:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    done = _checkpoint_epochs(ckpt)
    assert 2 <= done < epochs and not (out / "model.keras").exists()
    again = subprocess.run(cmd(out), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming training from epoch {done + 1} of {epochs}" in again.stderr
    a = nn.load_model(tmp_path / "ref" / "model.keras")
    b = nn.load_model(out / "model.keras")
    assert _weights_equal(a, b)
    h_a = json.loads((tmp_path / "ref" / "history.json").read_text())
    h_b = json.loads((out / "history.json").read_text())
    assert h_a["loss"] == h_b["loss"] and h_b["epoch"] == list(range(1, epochs + 1))
    assert not (out / jobs.CHECKPOINT_DIR).exists()  # removed once all is written


@pytest.mark.slow
@pytest.mark.tf
def test_cli_train_refuses_a_checkpoint_it_cannot_resume(labelled_store, tmp_path, capsys):
    from deepshadows_lib import cli

    out = tmp_path / "o"
    ck = out / jobs.CHECKPOINT_DIR / "checkpoint.npz"
    # hours of another training (here: other data) left in OUT by a killed run
    images, y = easy_images(32, seed=9)
    nn.train_cnn(images, y, epochs=1, batch_size=16, progress=False,
                 checkpoint=out / jobs.CHECKPOINT_DIR)
    saved = ck.read_bytes()
    argv = ["train", "--cutouts", str(labelled_store), "--out", str(out), "--profile",
            "smoke", "--epochs", "2", "--seed", "1", "--quiet"]
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "another training" in err and "--restart" in err and str(ck.parent) in err
    assert ck.read_bytes() == saved and not (out / "model.keras").exists()
    # a damaged checkpoint: one line naming it, kept for the user to decide
    ck.write_bytes(saved[:len(saved) // 3])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged" in err and str(ck) in err, err
    assert "Traceback" not in err and not (out / "model.keras").exists()
    # --restart discards it
    assert cli.main(argv + ["--restart"]) == 0
    assert (out / "model.keras").exists() and not ck.parent.exists()

"""Tests of deepshadows_lib.training: tf.data from the store, fit, predict, save/load."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import store, training
from deepshadows_lib.errors import InputError
from deepshadows_lib.models import build_deepshadows
from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture(scope="module")
def data():
    return easy_images(64)


@pytest.fixture
def lazy_store(tmp_path, data):
    images, y = data
    cat = pd.DataFrame({"ra": np.arange(len(y), dtype=float), "dec": 0.0, "label": y})
    store.write_store(tmp_path / "s", images, cat, chunk_size=10)
    return store.open_store(tmp_path / "s", lazy=True)


def _weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


# --------------------------------------------------------------------------- input
def test_read_images_lazy_equals_numpy(lazy_store, data):
    images, _ = data
    idx = np.array([33, 2, 2, 63, 10, 9, 0])  # unsorted, repeated, chunk edges
    np.testing.assert_array_equal(training.read_images(lazy_store.images, idx), images[idx])
    np.testing.assert_array_equal(training.read_images(lazy_store.images), images)
    assert training.read_images(images) is images  # no copy of an in-memory set
    with pytest.raises(ValueError, match="out of range"):
        training.read_images(images, [64])
    with pytest.raises(ValueError, match="uint8"):
        training.read_images(images.astype(np.float64))


def test_encode_labels():
    np.testing.assert_array_equal(training.encode_labels([0, 1, 1]),
                                  np.array([0, 1, 1], np.float32))
    onehot = training.encode_labels([2, 0, 1], n_classes=3)
    np.testing.assert_array_equal(onehot, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert onehot.dtype == np.float32
    with pytest.raises(ValueError):
        training.encode_labels([0, 2])
    with pytest.raises(ValueError):
        training.encode_labels([0, 3], n_classes=3)


def test_make_dataset_scales_and_aligns(data):
    images, y = data
    idx = np.array([5, 1, 60, 7, 3])
    ds = training.make_dataset(images, y, indices=idx, batch_size=2)
    xs, ys = zip(*[(x.numpy(), t.numpy()) for x, t in ds])
    assert [len(x) for x in xs] == [2, 2, 1]
    x = np.concatenate(xs)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, images[idx].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(np.concatenate(ys), y[idx])


def test_make_dataset_shuffles_each_epoch_by_seed(data):
    images, _ = data
    ident = np.arange(len(images))
    # tag each image with its row so the order can be read back
    tagged = images.copy()
    tagged[:, 0, 0, 0] = ident

    def order(ds):
        return np.concatenate([np.round(x.numpy()[:, 0, 0, 0] * 255).astype(int)
                               for x, _ in ds])

    ds = training.make_dataset(tagged, ident % 2, batch_size=16, shuffle=True, seed=7)
    e1, e2 = order(ds), order(ds)
    assert sorted(e1) == list(ident) and sorted(e2) == list(ident)  # each row once
    assert not np.array_equal(e1, e2)                                # reshuffled
    again = training.make_dataset(tagged, ident % 2, batch_size=16, shuffle=True, seed=7)
    np.testing.assert_array_equal(order(again), e1)                  # seeded
    other = training.make_dataset(tagged, ident % 2, batch_size=16, shuffle=True, seed=8)
    assert not np.array_equal(order(other), e1)


def test_make_dataset_three_class_onehot(data):
    images, _ = data
    cls = np.arange(len(images)) % 3
    _, t = next(iter(training.make_dataset(images, cls, batch_size=6, n_classes=3)))
    np.testing.assert_array_equal(t.numpy(), np.eye(3)[cls[:6]])


# --------------------------------------------------------------------------- training
def test_training_is_deterministic(data):
    images, y = data
    kw = dict(train_idx=np.arange(48), val_idx=np.arange(48, 64), epochs=1,
              batch_size=16, progress=False)
    m1, h1 = training.train_cnn(images, y, seed=3, **kw)
    m2, h2 = training.train_cnn(images, y, seed=3, **kw)
    m3, _ = training.train_cnn(images, y, seed=4, **kw)
    assert _weights_equal(m1, m2)
    assert h1["loss"] == h2["loss"]
    assert not _weights_equal(m1, m3)
    assert set(h1) >= {"loss", "accuracy", "val_loss", "val_accuracy", "epoch",
                       "epoch_time_s"}
    assert h1["epoch"] == [1] and all(isinstance(v, float) for v in h1["loss"])


def test_training_learns_and_streams_from_lazy_store(lazy_store, data):
    images, y = data
    model, hist = training.train_cnn(lazy_store.images, y, epochs=3, batch_size=16,
                                     seed=0, progress=False)
    assert hist["accuracy"][-1] > 0.9  # the glow is obvious
    assert len(hist["loss"]) == 3 and "val_loss" not in hist
    # the same training from the in-memory array gives the same weights
    ref, _ = training.train_cnn(images, y, epochs=3, batch_size=16, seed=0, progress=False)
    assert _weights_equal(model, ref)


# --------------------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def untrained():
    return build_deepshadows()


def test_predict_matches_direct_call(untrained, data, lazy_store):
    images, _ = data
    idx = np.array([3, 40, 0, 63, 12])
    p = training.predict(untrained, images, indices=idx, batch_size=2)
    direct = np.asarray(untrained(images[idx].astype(np.float32) / 255.0, training=False))
    assert p.shape == (5,) and p.dtype == np.float64
    np.testing.assert_allclose(p, direct[:, 0], rtol=1e-5, atol=1e-7)
    # lazy store, read block by block, gives the same numbers in the same order
    p_all = training.predict(untrained, images, batch_size=8)
    np.testing.assert_allclose(training.predict(untrained, lazy_store.images, batch_size=8),
                               p_all, rtol=1e-6)
    np.testing.assert_allclose(p_all[idx], p, rtol=1e-5, atol=1e-7)


def test_predict_three_class(data):
    images, _ = data
    m = build_deepshadows(n_classes=3)
    p = training.predict(m, images[:7])
    assert p.shape == (7, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- save / load
def test_save_load_roundtrip(tmp_path, untrained, data):
    images, _ = data
    path = training.save_model(untrained, tmp_path / "sub" / "m.keras")
    # the model and its provenance sidecar, no temporary leftovers
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["m.json",
                                                                             "m.keras"]
    loaded = training.load_model(path)
    assert _weights_equal(untrained, loaded)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in untrained.layers]
    np.testing.assert_allclose(training.predict(loaded, images[:4]),
                               training.predict(untrained, images[:4]), rtol=1e-6)


def test_load_model_bad_input(tmp_path):
    with pytest.raises(InputError, match="not found"):
        training.load_model(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_text("not a model")
    with pytest.raises(InputError, match="not a Keras model"):
        training.load_model(junk)
    import zipfile
    fake = tmp_path / "fake.keras"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("hello.txt", "a zip, but no model")
    with pytest.raises(InputError, match="Keras model"):
        training.load_model(fake)
    with pytest.raises(InputError, match=".keras"):
        training.save_model(build_deepshadows(compile=False), tmp_path / "m.h5")


# --------------------------------------------------------------------------- fine-tune
def test_fine_tune_copies_and_recompiles(data):
    images, y = data
    base = build_deepshadows()
    before = [w.copy() for w in base.get_weights()]
    tuned, hist = training.fine_tune(base, images, y, indices=np.arange(32), epochs=1,
                                     progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    assert not _weights_equal(base, tuned)
    assert float(np.asarray(tuned.optimizer.learning_rate)) == pytest.approx(0.005)
    assert all(layer.trainable for layer in tuned.layers)
    assert len(hist["loss"]) == 1
    # batch 16 on 32 objects: two optimizer steps
    assert int(np.asarray(tuned.optimizer.iterations)) == 2


def test_configure_threads_returns_bool():
    assert training.configure_threads() in (True, False)


# --------------------------------------------------------------------------- command line
@pytest.fixture
def labelled_store(tmp_path):
    images, y = easy_images(48, seed=2)
    cls = np.where(y == 1, 1, np.where(np.arange(48) % 4 == 0, 2, 0))  # some type-1
    cat = pd.DataFrame({"ra": np.linspace(10, 11, 48), "dec": np.linspace(-5, -4, 48),
                        "label": y, "class_index": cls, "simulated": True})
    return store.write_store(tmp_path / "labelled", images, cat, chunk_size=16)


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
    import json
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


def test_cli_train_three_classes(labelled_store, tmp_path):
    from deepshadows_lib import cli

    out = tmp_path / "three"
    assert cli.main(["train", "--cutouts", str(labelled_store), "--out", str(out),
                     "--profile", "smoke", "--epochs", "1", "--classes", "3", "--quiet"]) == 0
    pred = pd.read_parquet(out / "predictions.parquet")
    probs = pred[["p_artifact2", "p_lsbg", "p_artifact1"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    import json
    m = json.loads((out / "metrics.json").read_text())
    cm = np.array(m["splits"]["test"]["multiclass"]["confusion"])
    assert cm.shape == (3, 3) and cm.sum() == (pred["split"] == "test").sum()


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


# --------------------------------------------------------------------------- fast paths
def _with_batch_norm_stats(model, *, seed, negative_gamma=False):
    """Give the batch-norm layers non-trivial statistics (an untrained model's are 0/1)."""
    rng = np.random.default_rng(seed)
    for k in (1, 2, 3):
        bn = model.get_layer(f"bn{k}")
        c = bn.gamma.shape[0]
        gamma = rng.uniform(0.5, 1.5, c)
        if negative_gamma and k == 2:
            gamma[3] = -0.7
        bn.set_weights([gamma.astype(np.float32), rng.normal(0, 0.2, c).astype(np.float32),
                        rng.normal(0, 0.2, c).astype(np.float32),
                        rng.uniform(0.3, 3.0, c).astype(np.float32)])
    return model


@pytest.mark.parametrize("n_classes,negative_gamma", [(1, False), (3, False), (1, True)])
def test_fast_predict_equals_keras(data, n_classes, negative_gamma):
    # the folded inference graph against Keras' own forward pass (the reference)
    images, _ = data
    m = _with_batch_norm_stats(build_deepshadows(n_classes=n_classes), seed=n_classes,
                               negative_gamma=negative_gamma)
    direct = np.asarray(m(images.astype(np.float32) / 255.0, training=False))
    fast = training.predict(m, images, batch_size=16)
    slow = training.predict(m, images, batch_size=16, fast=False)
    direct = direct[:, 0] if n_classes == 1 else direct
    np.testing.assert_allclose(fast, direct, atol=1e-5)
    np.testing.assert_allclose(slow, direct, atol=1e-6)
    # folding must change the arithmetic, not the answer, and is used when it applies
    assert (training._folded_deepshadows(m) is None) == negative_gamma


def test_fast_predict_with_xla_equals_keras(data):
    images, _ = data
    m = _with_batch_norm_stats(build_deepshadows(), seed=5)
    direct = np.asarray(m(images[:20].astype(np.float32) / 255.0, training=False))[:, 0]
    p = training.predict(m, images[:20], batch_size=8, jit_compile=True)
    np.testing.assert_allclose(p, direct, atol=1e-3)


def test_folding_skips_other_models():
    import keras
    inp = keras.Input((8, 8, 3))
    other = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))
    assert training._folded_deepshadows(other) is None
    f = training.inference_function(other, input_shape=(8, 8, 3))
    x = np.full((2, 8, 8, 3), 255, np.uint8)
    np.testing.assert_allclose(f(x).numpy(), other(np.ones((2, 8, 8, 3), np.float32)).numpy(),
                               rtol=1e-6)


# --------------------------------------------------------------------------- resuming
def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_run(data, tmp_path,
                                                                        capsys):
    images, y = data
    kw = dict(train_idx=np.arange(48), val_idx=np.arange(48, 64), batch_size=16,
              progress=False, seed=3)
    ref, h_ref = training.train_cnn(images, y, epochs=3, checkpoint=None, **kw)
    # a run stopped after its first epoch, then the same training asked for 3 epochs
    training.train_cnn(images, y, epochs=1, checkpoint=tmp_path / "ck", **kw)
    capsys.readouterr()
    model, hist = training.train_cnn(images, y, epochs=3, checkpoint=tmp_path / "ck", **kw)
    assert "resuming training from epoch 2 of 3" in capsys.readouterr().err
    assert _weights_equal(model, ref)
    assert hist["loss"] == h_ref["loss"] and hist["epoch"] == [1, 2, 3]
    assert hist["val_accuracy"] == h_ref["val_accuracy"]
    opt = [v.numpy() for v in model.optimizer.variables]
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(opt, ref.optimizer.variables))
    # another seed is another training: its checkpoint is not resumed
    other, _ = training.train_cnn(images, y, epochs=1, checkpoint=tmp_path / "ck",
                                  **{**kw, "seed": 4})
    assert "resuming" not in capsys.readouterr().err


def test_checkpoint_holds_model_optimizer_rng_and_history(data, tmp_path):
    images, y = data
    training.train_cnn(images, y, epochs=2, batch_size=16, seed=1, progress=False,
                       checkpoint=tmp_path / "ck")
    state = training.TrainingCheckpoint(tmp_path / "ck").load()
    assert state["epochs_done"] == 2 and len(state["history"]["loss"]) == 2
    names = state["model_paths"]
    assert any("seed_generator" in n for n in names)  # dropout's random state
    assert any("moving_mean" in n for n in names)
    assert state["n_optimizer"] > 2 * 10  # Adadelta's two accumulators per variable
    assert {"numpy/keys", "python/state"} <= set(state["arrays"])
    assert not list((tmp_path / "ck").glob(".*"))  # atomic: no temporary left behind


def test_model_saved_for_resuming_keeps_its_adadelta_state(data, tmp_path):
    import warnings
    images, y = data
    model, _ = training.train_cnn(images, y, epochs=1, batch_size=16, seed=2, progress=False,
                                  checkpoint=None)
    training.save_model(model, tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Skipping variable loading for optimizer" fails
        loaded = training.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "Adadelta"
    a, b = model.optimizer.variables, loaded.optimizer.variables
    assert len(a) == len(b) and int(loaded.optimizer.iterations.numpy()) == 4  # 64 / 16
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert any(np.abs(v.numpy()).sum() > 0 for v in b[2:])  # accumulators, not zeros


def test_notebook_configuration_turns_checkpoints_on(tmp_path):
    from deepshadows_lib import pipeline
    try:
        pipeline.configure(profile="smoke", build_dir=tmp_path / "b",
                           figures_dir=tmp_path / "f")
        assert training.checkpoint_root() == tmp_path / "b" / "checkpoints"
    finally:
        training.set_checkpoint_root(None)


def _checkpoint_epochs(path):
    import json
    try:
        with np.load(path) as z:
            return json.loads(str(z["meta"]))["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
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
    ckpt = out / training.CHECKPOINT_DIR / "checkpoint.npz"
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
    a = training.load_model(tmp_path / "ref" / "model.keras")
    b = training.load_model(out / "model.keras")
    assert _weights_equal(a, b)
    import json
    h_a = json.loads((tmp_path / "ref" / "history.json").read_text())
    h_b = json.loads((out / "history.json").read_text())
    assert h_a["loss"] == h_b["loss"] and h_b["epoch"] == list(range(1, epochs + 1))
    assert not (out / training.CHECKPOINT_DIR).exists()  # removed once all is written

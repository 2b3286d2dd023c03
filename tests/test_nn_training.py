"""Tests of deepshadows_lib.nn (data, training, checkpoint, saving) through the old
``training`` names, which must keep working."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import nn, store, training
from deepshadows_lib.errors import InputError
from deepshadows_lib.nn import build_deepshadows
from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)

pytestmark = pytest.mark.tf


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
@pytest.mark.slow
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


@pytest.mark.slow
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
def untrained(binary_model):
    """The paper's binary network (shared, untrained; tests/conftest.py)."""
    return binary_model


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
@pytest.mark.slow
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


# --------------------------------------------------------------------------- resuming
@pytest.mark.slow
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


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_resumed_is_never_replaced_silently(data, tmp_path,
                                                                        capsys):
    images, y = data
    kw = dict(train_idx=np.arange(48), batch_size=16, progress=False)
    ck = tmp_path / "ck"
    training.train_cnn(images, y, epochs=2, checkpoint=ck, seed=3, **kw)
    saved = (ck / "checkpoint.npz").read_bytes()
    capsys.readouterr()

    # another seed: said in one line, naming what differs, then a fresh training
    ref, _ = training.train_cnn(images, y, epochs=1, checkpoint=None, seed=4, **kw)
    training.train_cnn(images, y, epochs=2, checkpoint=ck, seed=4, **kw)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "cannot resume" in err and "another training" in err and str(ck) in err
    assert "seed 3 there, 4 here" in err and "batch_size" not in err

    # fewer epochs than the checkpoint holds: its weights of that epoch are gone
    (ck / "checkpoint.npz").write_bytes(saved)
    short, _ = training.train_cnn(images, y, epochs=1, checkpoint=ck, seed=4, **kw)
    assert _weights_equal(short, ref)
    (ck / "checkpoint.npz").write_bytes(saved)
    capsys.readouterr()
    training.train_cnn(images, y, epochs=1, checkpoint=ck, seed=3, **kw)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2 finished epochs, more than the 1 asked" in err

    # a damaged file: one line naming it, no traceback, a fresh training
    (ck / "checkpoint.npz").write_bytes(saved[:len(saved) // 2])
    fresh, _ = training.train_cnn(images, y, epochs=1, checkpoint=ck, seed=4, **kw)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged" in err
    assert str(ck / "checkpoint.npz") in err
    assert _weights_equal(fresh, ref)


@pytest.mark.slow
def test_weight_averaging_ends_with_the_moving_average_of_every_step(data):
    import keras
    images, y = data
    nn.set_seed(3)
    model = build_deepshadows(1, compile=False)
    nn.compile_deepshadows(model, ema_momentum=0.9)
    ds = nn.make_dataset(images, y, indices=np.arange(48), batch_size=16, shuffle=True,
                         seed=3)
    steps = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append([v.numpy().copy() for v in model.trainable_variables])

    nn.fit(model, ds, epochs=2, progress=False, callbacks=[Record()])
    assert len(steps) == 6
    # by hand: the first step's weights, then avg <- m avg + (1 - m) w after each step
    avg = steps[0]
    for w in steps[1:]:
        avg = [0.9 * a + 0.1 * b for a, b in zip(avg, w)]
    for got, want in zip(model.trainable_variables, avg):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-7)
    assert not np.allclose(model.trainable_variables[0].numpy(), steps[-1][0])


@pytest.mark.slow
def test_averaged_training_resumes_and_restores_the_average(data, tmp_path, capsys):
    images, y = data
    kw = dict(train_idx=np.arange(48), batch_size=16, progress=False, seed=3)
    plain, _ = training.train_cnn(images, y, epochs=2, checkpoint=None, **kw)
    ref, _ = training.train_cnn(images, y, epochs=2, checkpoint=None, ema_momentum=0.9, **kw)
    assert ref.optimizer.use_ema and not plain.optimizer.use_ema
    assert not _weights_equal(ref, plain)
    # killed after its first epoch, resumed; then asked again once finished
    training.train_cnn(images, y, epochs=1, checkpoint=tmp_path / "ck", ema_momentum=0.9,
                       **kw)
    resumed, _ = training.train_cnn(images, y, epochs=2, checkpoint=tmp_path / "ck",
                                    ema_momentum=0.9, **kw)
    assert _weights_equal(resumed, ref)
    capsys.readouterr()
    again, _ = training.train_cnn(images, y, epochs=2, checkpoint=tmp_path / "ck",
                                  ema_momentum=0.9, **kw)
    assert "already finished" in capsys.readouterr().err
    assert _weights_equal(again, ref)
    # the paper's training (no average) does not resume an averaged one's checkpoint
    other, _ = training.train_cnn(images, y, epochs=2, checkpoint=tmp_path / "ck", **kw)
    assert "already finished" not in capsys.readouterr().err
    assert _weights_equal(other, plain)


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_old_training_names_are_the_new_objects():
    # training.X of earlier versions keeps working, and is the same object as the new one
    for name in training.__all__:
        new = getattr(nn, name)
        assert getattr(training, name) is new, name


def test_the_mixed_precision_variable_overrides_auto(monkeypatch):
    from deepshadows_lib.nn import training
    monkeypatch.setenv(training.MIXED_PRECISION_ENV, "0")
    assert training._auto_mixed_precision() is False
    monkeypatch.setenv(training.MIXED_PRECISION_ENV, "1")
    assert training._auto_mixed_precision() is True
    monkeypatch.delenv(training.MIXED_PRECISION_ENV)
    import tensorflow as tf
    assert training._auto_mixed_precision() is bool(tf.config.list_physical_devices("GPU"))

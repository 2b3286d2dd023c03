"""Tests of deepshadows_lib.nn.cnn: the paper's network (and the old models names)."""

import numpy as np
import pytest

from deepshadows_lib import baselines, models, nn, paper
from deepshadows_lib.nn import cnn

pytestmark = pytest.mark.tf


def _expected_params(n_out):
    """Parameter count of the paper's architecture, from first principles."""
    total, c_in, side = 0, 3, 64
    for filters in (16, 32, 64):  # Fig. 2, written out independently of paper.FILTERS
        total += 3 * 3 * c_in * filters + filters  # conv kernel + bias
        total += 4 * filters                         # BN gamma, beta, moving mean, var
        c_in, side = filters, side // 2
    flat = side * side * c_in
    total += flat * 1024 + 1024
    total += 1024 * n_out + n_out
    return total


@pytest.fixture(scope="module")
def binary(binary_model):
    """The paper's binary network (shared, untrained; tests/conftest.py)."""
    return binary_model


def test_parameter_count_is_the_papers(binary):
    assert _expected_params(1) == 4_220_385  # the reference itself agrees with the paper
    assert binary.count_params() == 4_220_385 == cnn.PAPER_N_PARAMS


def test_layers_in_order_and_configured(binary):
    import keras

    assert isinstance(binary, keras.Model) and not isinstance(binary, keras.Sequential)
    assert [layer.name for layer in binary.layers] == list(cnn.LAYER_NAMES)
    for k, filters in enumerate((16, 32, 64), start=1):
        conv = binary.get_layer(f"conv{k}").get_config()
        assert conv["filters"] == filters
        assert tuple(conv["kernel_size"]) == (3, 3)
        assert conv["padding"] == "same"
        assert conv["activation"] == "relu"
        assert conv["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.13)
        assert isinstance(binary.get_layer(f"bn{k}"), keras.layers.BatchNormalization)
        assert tuple(binary.get_layer(f"pool{k}").get_config()["pool_size"]) == (2, 2)
        assert binary.get_layer(f"drop{k}").get_config()["rate"] == pytest.approx(0.4)
    dense = binary.get_layer("dense1").get_config()
    assert dense["units"] == 1024 and dense["activation"] == "relu"
    assert dense["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.12)
    out = binary.get_layer("output").get_config()
    assert out["units"] == 1 and out["activation"] == "sigmoid"
    assert binary.get_layer(cnn.LAST_CONV_LAYER).output.shape[1:] == (16, 16, 64)


def test_regularisation_penalty_matches_numpy(binary):
    # Keras' L2(c) adds c * sum(w^2) per kernel; check against an independent sum
    expected = sum(c * float(np.sum(binary.get_layer(name).get_weights()[0].astype(float) ** 2))
                   for name, c in [("conv1", 0.13), ("conv2", 0.13), ("conv3", 0.13),
                                   ("dense1", 0.12)])
    got = float(sum(np.asarray(v) for v in binary.losses))
    assert got == pytest.approx(expected, rel=1e-5)


def test_compiled_as_in_the_paper(binary):
    import keras

    opt = binary.optimizer
    assert isinstance(opt, keras.optimizers.Adadelta)
    assert float(np.asarray(opt.learning_rate)) == pytest.approx(0.1)
    assert "binary_crossentropy" in str(binary.loss)


def test_three_class_head():
    import keras

    m = cnn.build_deepshadows(n_classes=3, learning_rate=0.005)
    assert m.count_params() == _expected_params(3)
    out = m.get_layer("output").get_config()
    assert out["units"] == 3 and out["activation"] == "softmax"
    assert "categorical_crossentropy" in str(m.loss)
    assert float(np.asarray(m.optimizer.learning_rate)) == pytest.approx(0.005)
    p = np.asarray(m(np.random.default_rng(0).random((2, 64, 64, 3)), training=False))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    keras.backend.clear_session()


def test_uncompiled_and_bad_n_classes():
    m = cnn.build_deepshadows(compile=False)
    assert not m.compiled
    with pytest.raises(ValueError, match="n_classes"):
        cnn.build_deepshadows(n_classes=0)


def test_gap_head_replaces_flatten_and_dense():
    gap = cnn.build_deepshadows(head="gap", compile=False)
    names = [layer.name for layer in gap.layers]
    assert names[-2:] == ["gap", "output"] and "dense1" not in names and "flatten" not in names
    # first principles: the three conv blocks of _expected_params, then 64 -> 1
    convs = _expected_params(1) - (8 * 8 * 64 * 1024 + 1024) - (1024 + 1)
    assert gap.count_params() == convs + 64 + 1 == 24_097
    assert gap.get_layer("conv3") is not None  # Grad-CAM's layer is still there
    with pytest.raises(ValueError, match="head"):
        cnn.build_deepshadows(head="dense", compile=False)


def test_old_module_names_are_the_new_objects():
    # models.X of earlier versions keeps working, and is the same object as the new one
    for name in models.__all__:
        new = getattr(cnn, name, None) or getattr(baselines, name, None) \
            or getattr(nn.keras_patches, name)
        assert getattr(models, name) is new, name
    assert set(models.__all__) >= {"build_deepshadows", "svm_pipeline", "baseline_scores",
                                   "LAYER_NAMES", "LAST_CONV_LAYER", "PAPER_N_PARAMS"}


def test_numbers_come_from_the_paper_module(monkeypatch):
    # the architecture reads paper.py at build time: one place for the paper's numbers
    monkeypatch.setattr(paper, "DENSE_UNITS", 32)
    monkeypatch.setattr(paper, "DROPOUT", 0.25)
    m = cnn.build_deepshadows(compile=False)
    assert m.get_layer("dense1").get_config()["units"] == 32
    assert m.get_layer("drop2").get_config()["rate"] == pytest.approx(0.25)

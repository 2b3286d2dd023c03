"""Tests of deepshadows_lib.nn.inference: the one inference path against Keras' predict."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import nn, store
from deepshadows_lib.nn import inference
from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)

pytestmark = pytest.mark.tf


@pytest.fixture(autouse=True)
def _seeded_weights():
    """The same initial weights whatever ran before: the networks here are built from
    Keras' global random state, and after other tests (tests/test_nn_keras_patches.py)
    the large-shift network saturated (answers 0.99888-0.99890, spread 2.6e-5 < 1e-4)."""
    import keras
    keras.utils.set_random_seed(1234)


@pytest.fixture(scope="module")
def images():
    return easy_images(40, seed=3)[0]


def _with_batch_norm_stats(model, *, seed):
    """Non-trivial batch-norm statistics (an untrained model's are 0 and 1: folding them
    would change nothing and hide a mistake)."""
    rng = np.random.default_rng(seed)
    for k in (1, 2, 3):
        bn = model.get_layer(f"bn{k}")
        c = bn.gamma.shape[0]
        bn.set_weights([rng.uniform(0.5, 1.5, c).astype(np.float32),
                        rng.normal(0, 0.2, c).astype(np.float32),
                        rng.normal(0, 0.2, c).astype(np.float32),
                        rng.uniform(0.3, 3.0, c).astype(np.float32)])
    return model


def _spy_folding(monkeypatch):
    """Record what each call of the folding returned (None: not folded)."""
    calls = []
    original = inference._folded_deepshadows

    def spy(model, **kwargs):
        out = original(model, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(inference, "_folded_deepshadows", spy)
    return calls


@pytest.mark.parametrize("n_classes,head,folds", [(1, "flatten", True), (3, "flatten", True),
                                                  (1, "gap", False)])
def test_predict_equals_keras_model_predict(monkeypatch, images, n_classes, head, folds):
    model = _with_batch_norm_stats(nn.build_deepshadows(n_classes, head=head, compile=False),
                                   seed=n_classes)
    reference = model.predict(images.astype(np.float32) / 255.0, batch_size=16, verbose=0)
    reference = reference[:, 0] if n_classes == 1 else reference
    folded = _spy_folding(monkeypatch)
    p = nn.predict(model, images, batch_size=16)
    assert folded == [folds]  # the folded graph is taken where it applies, once
    assert p.shape == reference.shape and p.dtype == np.float64
    assert np.ptp(reference) > 1e-4  # answers that differ between images by >> 1e-5
    assert np.max(np.abs(p - reference)) <= 1e-5
    # the returned function says which graph it runs
    assert nn.inference_function(model).folded is folds
    assert nn.inference_function(model, fast=False).folded is False


def test_folded_graph_changes_the_arithmetic_not_the_answer(images):
    # folding is a different computation (not Keras' graph under another name): its
    # float32 results differ from the unfolded ones in the last bits, within 1e-5
    model = _with_batch_norm_stats(nn.build_deepshadows(compile=False), seed=7)
    fast = nn.inference_function(model)(images).numpy()
    plain = nn.inference_function(model, fast=False)(images).numpy()
    assert not np.array_equal(fast, plain)
    np.testing.assert_allclose(fast, plain, atol=1e-5)


def test_folding_refuses_a_negative_scale(images):
    # a negative batch-norm scale does not commute with max-pooling: Keras' graph is used
    model = _with_batch_norm_stats(nn.build_deepshadows(compile=False), seed=2)
    bn = model.get_layer("bn2")
    gamma, *rest = bn.get_weights()
    gamma[0] = -0.5
    bn.set_weights([gamma, *rest])
    f = nn.inference_function(model)
    assert f.folded is False
    reference = model.predict(images.astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(f(images).numpy(), reference, atol=1e-6)


@pytest.mark.slow
def test_evaluation_predicts_through_the_folded_path(monkeypatch, tmp_path, images):
    # deepshadows evaluate (jobs.evaluate_store) uses nn.inference, folded
    from deepshadows_lib import jobs

    model = _with_batch_norm_stats(nn.build_deepshadows(), seed=4)
    y = (np.arange(len(images)) % 2).astype(int)
    cat = pd.DataFrame({"ra": np.arange(len(y), dtype=float), "dec": 0.0, "label": y})
    st = store.write_store(tmp_path / "s", images, cat, chunk_size=16)
    folded = _spy_folding(monkeypatch)
    jobs.evaluate_store(model, st, tmp_path / "ev", n_bootstrap=0, progress=False)
    assert folded == [True]
    pred = pd.read_parquet(tmp_path / "ev" / "predictions.parquet")
    reference = model.predict(images.astype(np.float32) / 255.0, verbose=0)[:, 0]
    assert np.max(np.abs(pred["p_lsbg"].to_numpy() - reference)) <= 1e-5


def test_fast_predict_with_xla_equals_keras(images):
    m = _with_batch_norm_stats(nn.build_deepshadows(), seed=5)
    direct = np.asarray(m(images[:20].astype(np.float32) / 255.0, training=False))[:, 0]
    p = nn.inference.predict(m, images[:20], batch_size=8, jit_compile=True)
    np.testing.assert_allclose(p, direct, atol=1e-3)


def test_folding_skips_other_models():
    import keras
    inp = keras.Input((8, 8, 3))
    other = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))
    assert nn.inference._folded_deepshadows(other) is None
    f = nn.inference.inference_function(other, input_shape=(8, 8, 3))
    assert f.folded is False
    x = np.full((2, 8, 8, 3), 255, np.uint8)
    np.testing.assert_allclose(f(x).numpy(), other(np.ones((2, 8, 8, 3), np.float32)).numpy(),
                               rtol=1e-6)


def test_folding_is_exact_with_large_batch_norm_shifts(images):
    # large shifts (0 does not map to 0): the zero padding of conv2 and conv3 must see
    # the shifted values, so moving the shift to the wrong side of a layer shows
    model = _with_batch_norm_stats(nn.build_deepshadows(compile=False), seed=11)
    for k in (1, 2):
        bn = model.get_layer(f"bn{k}")
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([gamma, beta + np.float32(3.0), mean, var])
    reference = model.predict(images.astype(np.float32) / 255.0, verbose=0)[:, 0]
    fast = nn.inference_function(model)
    assert fast.folded is True
    assert np.ptp(reference) > 1e-4
    np.testing.assert_allclose(fast(images).numpy()[:, 0], reference, atol=1e-5)


@pytest.mark.parametrize("n_classes", [1, 3])
def test_bfloat16_is_an_opt_in_close_to_keras(images, n_classes):
    model = _with_batch_norm_stats(nn.build_deepshadows(n_classes, compile=False), seed=4)
    reference = model.predict(images.astype(np.float32) / 255.0, verbose=0)
    exact = nn.inference_function(model)
    low = nn.inference_function(model, precision="bfloat16")
    assert (exact.precision, low.precision, low.folded) == ("float32", "bfloat16", True)
    p_exact, p_low = exact(images).numpy(), low(images).numpy()
    assert np.max(np.abs(p_exact - reference)) <= 1e-5  # the default is float32
    # bfloat16 keeps 8 significant bits: a different answer, but a close one
    assert np.max(np.abs(p_low - reference)) > 1e-6
    assert np.max(np.abs(p_low - reference)) < 2e-2
    p = nn.predict(model, images, precision="bfloat16")
    np.testing.assert_array_equal(p, p_low[:, 0] if n_classes == 1 else p_low)


def test_bfloat16_blocks_pool_in_bfloat16(images):
    # the opt-in's speed comes from staying in bfloat16 up to the pooling of conv2 and
    # conv3 (conv1 stays float32): a cast back to float32 after each convolution costs
    # a fifth of the forward pass
    tf = nn.runtime.tf()
    model = _with_batch_norm_stats(nn.build_deepshadows(compile=False), seed=4)
    pools = {}
    for precision in ("float32", "bfloat16"):
        graph = nn.inference_function(model, precision=precision).get_concrete_function().graph
        pools[precision] = [op.get_attr("T") for op in graph.get_operations()
                            if op.type == "MaxPool"]
    assert pools["float32"] == [tf.float32] * 3
    assert pools["bfloat16"] == [tf.float32, tf.bfloat16, tf.bfloat16]


def test_bfloat16_needs_the_folded_graph(images):
    model = nn.build_deepshadows(head="gap", compile=False)
    with pytest.raises(ValueError, match="folded"):
        nn.inference_function(model, precision="bfloat16")
    with pytest.raises(ValueError, match="precision"):
        nn.inference_function(model, precision="float16")

"""Tests of survey-scale classification (deepshadows_lib.classify).

The models here are tiny analytic Keras models (global average pooling followed by one
dense layer with weights set by hand), so that the expected probabilities can be
computed independently with NumPy from the raw uint8 cutouts.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import classify, schema
from deepshadows_lib.cli import main
from deepshadows_lib.errors import InputError, PartialFailure
from deepshadows_lib.store import StoreWriter, write_store

# Weights of the analytic models: logit_j = W[:, j] . mean_rgb(x / 255) + B[j].
W1 = np.array([[3.0], [-2.0], [1.5]], dtype=np.float32)
B1 = np.array([-0.7], dtype=np.float32)
W3 = np.array([[4.0, -1.0, 0.5], [-2.0, 3.0, 0.0], [0.5, -0.5, 2.5]], dtype=np.float32)
B3 = np.array([0.1, -0.2, 0.3], dtype=np.float32)

MODEL_SCRIPT = """
import numpy as np, keras
def analytic_model(n_out, path):
    inp = keras.Input((64, 64, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    act = "sigmoid" if n_out == 1 else "softmax"
    dense = keras.layers.Dense(n_out, activation=act)
    model = keras.Model(inp, dense(x))
    w = {W!r}; b = {B!r}
    dense.set_weights([np.array(w, dtype="float32"), np.array(b, dtype="float32")])
    model.save(path)
"""


def _model_source(n_out):
    w, b = (W1, B1) if n_out == 1 else (W3, B3)
    return MODEL_SCRIPT.format(W=w.tolist(), B=b.tolist())


def make_model(path, n_out):
    """Save the analytic model with ``n_out`` outputs to ``path``."""
    namespace = {}
    exec(_model_source(n_out), namespace)  # the same source the subprocess tests use
    namespace["analytic_model"](n_out, str(path))
    return Path(path)


def expected_probabilities(images, n_out):
    """The analytic models' outputs, computed with NumPy in float64."""
    mean_rgb = images.astype(np.float64).mean(axis=(1, 2)) / 255.0
    if n_out == 1:
        return 1.0 / (1.0 + np.exp(-(mean_rgb @ W1 + B1)))
    logits = mean_rgb @ W3 + B3
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_store(path, n, *, chunk_size, seed=0):
    """A store of ``n`` random cutouts whose catalog has id, label and class columns."""
    rng = np.random.default_rng(seed)
    # per-image brightness offsets so that probabilities spread across (0, 1)
    images = rng.integers(0, 128, (n, 64, 64, 3), dtype=np.uint8)
    images += rng.integers(0, 128, (n, 1, 1, 3), dtype=np.uint8)
    names = np.array(["artifact2", "lsbg", "artifact1"])
    class_index = rng.integers(0, 3, n)
    catalog = pd.DataFrame({
        "coadd_id": np.arange(1000, 1000 + n, dtype=np.int64),
        "ra": rng.uniform(0.0, 360.0, n), "dec": rng.uniform(-60.0, 5.0, n),
        "label": (class_index == 1).astype(np.int64), "class_name": names[class_index],
        "class_index": class_index, "A_IMAGE": rng.uniform(1, 5, n),
    })
    write_store(path, images, catalog, chunk_size=chunk_size, attrs={"survey": "des"})
    return images, catalog


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {1: make_model(root / "binary.keras", 1), 3: make_model(root / "three.keras", 3)}


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "small.zarr"
    images, catalog = make_store(path, 1100, chunk_size=256)  # last chunk is partial
    return path, images, catalog


# --------------------------------------------------------------------------- basics
def test_probability_columns_follow_class_index_order():
    assert classify.probability_columns(1) == ["p_lsbg"]
    cols = classify.probability_columns(3)
    names = np.array(["artifact2", "lsbg", "artifact1"])  # class_index 0, 1, 2
    assert cols == [f"p_{name}" for name in names]
    with pytest.raises(ValueError):
        classify.probability_columns(2)


@pytest.mark.slow  # spawns a process
def test_import_does_not_load_tensorflow():
    code = ("import sys, deepshadows_lib.classify, deepshadows_lib.cli; "
            "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


@pytest.mark.parametrize("n_out", [1, 3])
def test_predictions_match_independent_reference(tmp_path, models, small_store, n_out):
    path, images, catalog = small_store
    out = classify.classify_store(models[n_out], path, tmp_path / "pred.parquet",
                                  batch_size=100, progress=False)
    pred = pd.read_parquet(out)
    assert len(pred) == len(catalog)
    for col in ["ra", "dec", "coadd_id", "label", "class_name", "class_index"]:
        np.testing.assert_array_equal(pred[col].to_numpy(), catalog[col].to_numpy())
    assert "A_IMAGE" not in pred.columns  # features are not copied
    np.testing.assert_array_equal(pred["store_row"], np.arange(len(catalog)))
    expected = expected_probabilities(images, n_out)
    cols = classify.probability_columns(n_out)
    np.testing.assert_allclose(pred[cols].to_numpy(), expected, atol=2e-5)
    if n_out == 3:
        np.testing.assert_allclose(pred[cols].sum(axis=1), 1.0, atol=1e-5)
    assert not classify.parts_dir(out).exists()  # partial results are cleaned up
    # one predictions table across the library: schema's column order, store_row kept
    assert list(pred.columns) == schema.prediction_columns(pred.columns)
    assert list(pred.columns) == classify.table_columns(
        ["ra", "dec", "coadd_id", "label", "class_name", "class_index"],
        classify.output_columns(n_out))
    assert list(pred.columns[:5]) == ["ra", "dec", "label", "class_name", "class_index"]
    assert pred.columns[-1] == "store_row"


def test_output_exists_and_overwrite(tmp_path, models, small_store):
    path = small_store[0]
    out = tmp_path / "pred.parquet"
    classify.classify_store(models[1], path, out, progress=False)
    with pytest.raises(FileExistsError):
        classify.classify_store(models[1], path, out, progress=False)
    classify.classify_store(models[3], path, out, progress=False, overwrite=True)
    assert "p_artifact1" in pd.read_parquet(out).columns


def test_bad_inputs_are_input_errors(tmp_path, models, small_store):
    path = small_store[0]
    with pytest.raises(InputError, match="model file not found"):
        classify.classify_store(tmp_path / "missing.keras", path, tmp_path / "o.parquet")
    with pytest.raises(InputError, match="not a cutout store"):
        classify.classify_store(models[1], tmp_path, tmp_path / "o.parquet")
    import keras
    inp = keras.Input((32, 32, 3))
    keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp))).save(
        tmp_path / "small_input.keras")
    with pytest.raises(InputError, match="input shape"):
        classify.classify_store(tmp_path / "small_input.keras", path, tmp_path / "o.parquet")
    inp = keras.Input((64, 64, 3))
    keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inp))).save(
        tmp_path / "two.keras")
    with pytest.raises(InputError, match="2 outputs"):
        classify.classify_store(tmp_path / "two.keras", path, tmp_path / "o.parquet")


def test_incomplete_store_is_refused(tmp_path, models):
    w = StoreWriter(tmp_path / "half.zarr", n=20, chunk_size=10)
    w.write_chunk(0, np.zeros((10, 64, 64, 3), np.uint8), pd.DataFrame({"ra": np.zeros(10),
                                                                       "dec": np.zeros(10)}))
    with pytest.raises(InputError, match="incomplete"):
        classify.classify_store(models[1], tmp_path / "half.zarr", tmp_path / "o.parquet")


# --------------------------------------------------------------------------- resume
def _stats(parts):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(parts.glob("chunk-*.parquet"))}


@pytest.mark.slow
@pytest.mark.tf
def test_resume_after_sigkill_skips_finished_chunks(tmp_path, models, small_store,
                                                    monkeypatch):
    path, images, _ = small_store
    out = tmp_path / "pred.parquet"
    parts = classify.parts_dir(out)
    # A child that classifies slowly (0.4 s per chunk) so that it can be killed midway.
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from deepshadows_lib import classify
        original = classify._predict_block
        def slow(block, **kw):
            time.sleep(0.4)
            return original(block, **kw)
        classify.runners._predict_block = slow
        classify.classify_store({str(models[1])!r}, {str(path)!r}, {str(out)!r},
                                batch_size=100, progress=False)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_stats(parts) if parts.exists() else {}) < 2:
            assert proc.poll() is None, "the child finished before it could be killed"
            assert time.monotonic() < deadline, "the child wrote no partial results"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert not out.exists()
    before = _stats(parts)
    n_chunks = 5  # 1100 images in chunks of 256
    assert 2 <= len(before) < n_chunks

    computed, seen = [], {}
    original_predict, original_join = classify._predict_block, classify._join_parts

    def counting(block, **kw):
        computed.append(len(block))
        return original_predict(block, **kw)

    def snapshot_then_join(out_, parts_, *args, **kw):
        seen.update(_stats(parts_))
        return original_join(out_, parts_, *args, **kw)

    monkeypatch.setattr(classify.runners, "_predict_block", counting)
    monkeypatch.setattr(classify.job, "_join_parts", snapshot_then_join)
    classify.classify_store(models[1], path, out, batch_size=100, progress=False)

    assert len(computed) == n_chunks - len(before)
    assert classify.last_run["chunks_skipped"] == len(before)
    assert {k: seen[k] for k in before} == before  # same files: not rewritten
    pred = pd.read_parquet(out)
    np.testing.assert_allclose(pred["p_lsbg"], expected_probabilities(images, 1)[:, 0],
                               atol=2e-5)
    assert not parts.exists()


def test_parts_of_a_different_run_are_not_mixed(tmp_path, models, small_store, monkeypatch):
    path = small_store[0]
    out = tmp_path / "pred.parquet"
    original = classify._predict_block

    def fail_on_third(block, **kw):
        fail_on_third.calls += 1
        if fail_on_third.calls == 3:
            raise OSError("simulated unreadable chunk")
        return original(block, **kw)

    fail_on_third.calls = 0
    monkeypatch.setattr(classify.runners, "_predict_block", fail_on_third)
    with pytest.raises(PartialFailure, match="1 of 5 chunks failed.*chunk 2"):
        classify.classify_store(models[1], path, out, progress=False)
    monkeypatch.setattr(classify.runners, "_predict_block", original)
    assert len(list(classify.parts_dir(out).glob("chunk-*.parquet"))) == 4
    # another batch size (or model) must not reuse these parts
    with pytest.raises(InputError, match="different run"):
        classify.classify_store(models[1], path, out, batch_size=64, progress=False)
    with pytest.raises(InputError, match="different run"):
        classify.classify_store(models[3], path, out, progress=False)
    # the same run retries only the failed chunk
    classify.classify_store(models[1], path, out, progress=False)
    assert classify.last_run["chunks_computed"] == 1
    # --overwrite discards the parts of the other run
    classify.classify_store(models[3], path, out, progress=False, overwrite=True)
    assert classify.last_run["chunks_skipped"] == 0


def test_a_kill_while_the_parts_directory_is_created_does_not_block_the_rerun(
        tmp_path, models, small_store, monkeypatch):
    path = small_store[0]
    out = tmp_path / "pred.parquet"
    # killed between creating the directory and recording its job (older versions)
    classify.parts_dir(out).mkdir()
    # killed inside the atomic creation: only a temporary beside the output remains
    killed = tmp_path / f".{classify.parts_dir(out).name}.tmp-x"
    killed.mkdir()
    classify.classify_store(models[1], path, out, progress=False)
    assert classify.last_run["chunks_skipped"] == 0
    assert len(pd.read_parquet(out)) == len(small_store[1])
    assert not killed.exists()
    # a record-less directory that holds something is not silently discarded
    other = tmp_path / "other.parquet"
    classify.parts_dir(other).mkdir()
    (classify.parts_dir(other) / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="different run"):
        classify.classify_store(models[1], path, other, progress=False)


def test_systematic_failure_is_raised_at_once(tmp_path, models, small_store, monkeypatch):
    def broken(block, **kw):
        raise RuntimeError("broken everywhere")

    monkeypatch.setattr(classify.runners, "_predict_block", broken)
    with pytest.raises(RuntimeError, match="broken everywhere"):
        classify.classify_store(models[1], small_store[0], tmp_path / "o.parquet",
                                progress=False)


# --------------------------------------------------------------------------- memory
@pytest.mark.slow
@pytest.mark.tf
def test_memory_stays_flat_on_a_store_larger_than_the_budget(tmp_path, models):
    budget_mb = 64
    n, chunk = 24000, 500  # 24,000 cutouts are 295 MB of uint8, 1.2 GB as float32
    assert n * 64 * 64 * 3 / 2**20 > 4 * budget_mb
    script = tmp_path / "mem.py"
    script.write_text(textwrap.dedent(f"""
        import json, resource
        import numpy as np, pandas as pd
        from deepshadows_lib import classify
        from deepshadows_lib.store import StoreWriter

        def build(path, n, chunk):
            # chunk by chunk, so building the store does not raise the peak either
            w = StoreWriter(path, n=n, chunk_size=chunk)
            base = np.random.default_rng(0).integers(0, 256, (chunk, 64, 64, 3), np.uint8)
            for k in w.pending:
                sl = w.chunk_slice(k)
                m = sl.stop - sl.start
                w.write_chunk(k, np.roll(base, k, axis=0)[:m],
                              pd.DataFrame({{"ra": np.arange(sl.start, sl.stop) * 1e-3,
                                             "dec": np.zeros(m)}}))
            w.finalize()

        build("warm.zarr", 2 * {chunk}, {chunk})
        build("big.zarr", {n}, {chunk})
        # warm-up: TensorFlow start-up, model load and tracing are not what is measured
        classify.classify_store({str(models[1])!r}, "warm.zarr", "warm.parquet",
                                progress=False)
        peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        classify.classify_store({str(models[1])!r}, "big.zarr", "big.parquet",
                                progress=False)
        peak1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows = pd.read_parquet("big.parquet", columns=["ra"])["ra"].to_numpy()
        print(json.dumps({{"growth_kb": peak1 - peak0, "rows_ok":
                           bool(np.array_equal(rows, np.arange({n}) * 1e-3))}}))
    """))
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["rows_ok"]
    growth_mb = report["growth_kb"] / 1024  # ru_maxrss is in KiB on Linux
    assert growth_mb < budget_mb, f"peak memory grew by {growth_mb:.0f} MB"


# --------------------------------------------------------------------------- dask
@pytest.fixture(scope="module")
def cluster():
    # the library's own LocalCluster (2 worker processes, 1 thread each, on 127.0.0.1)
    cl, client = classify._start_local_cluster(2)
    try:
        assert sorted(client.nthreads().values()) == [1, 1]
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in client.nthreads())
        client.close()
        yield cl
    finally:
        cl.close()


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.tf
@pytest.mark.parametrize("n_out", [1, 3])
def test_local_cluster_gives_identical_results(tmp_path, models, small_store, cluster, n_out):
    path = small_store[0]
    single = classify.classify_store(models[n_out], path, tmp_path / "single.parquet",
                                     batch_size=100, progress=False)
    address = cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    dist = classify.classify_store(models[n_out], path, tmp_path / "dask.parquet",
                                   scheduler=address, batch_size=100, progress=False)
    a, b = pd.read_parquet(single), pd.read_parquet(dist)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # both workers took part: each loaded the model into its own cache
    from distributed import Client
    with Client(address) as client:
        loaded = client.run(lambda: len(__import__("deepshadows_lib.classify").classify
                                         ._MODEL_CACHE))
    assert len(loaded) == 2 and all(v == 1 for v in loaded.values())


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.tf
def test_cluster_resumes_parts_of_a_single_process_run(tmp_path, models, small_store,
                                                       cluster, monkeypatch):
    """Parts are independent of where they were computed: a run can move to a cluster."""
    path, images, _ = small_store
    out = tmp_path / "pred.parquet"
    original = classify._predict_block

    def fail_after_two(block, **kw):
        fail_after_two.calls += 1
        if fail_after_two.calls > 2:
            raise OSError("stop here")
        return original(block, **kw)

    fail_after_two.calls = 0
    monkeypatch.setattr(classify.runners, "_predict_block", fail_after_two)
    with pytest.raises(PartialFailure):
        classify.classify_store(models[1], path, out, progress=False)
    monkeypatch.setattr(classify.runners, "_predict_block", original)
    classify.classify_store(models[1], path, out, scheduler=cluster.scheduler_address,
                            progress=False)
    assert classify.last_run["chunks_skipped"] == 2
    assert classify.last_run["chunks_computed"] == 3
    np.testing.assert_allclose(pd.read_parquet(out)["p_lsbg"],
                               expected_probabilities(images, 1)[:, 0], atol=2e-5)


# --------------------------------------------------------------------------- cli
def test_cli_classify(tmp_path, models, small_store, capsys):
    path, _, catalog = small_store
    out = tmp_path / "pred.parquet"
    argv = ["classify", "--model", str(models[1]), "--cutouts", str(path), "--out", str(out),
            "--quiet"]
    assert main(argv) == 0
    pred = pd.read_parquet(out)
    n_lsbg = int((pred["p_lsbg"] > 0.5).sum())
    assert f"{len(catalog)} objects, {n_lsbg} with p_lsbg > 0.5" in capsys.readouterr().out
    assert main(argv) == 2  # exists, no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
    bad = ["classify", "--model", str(tmp_path / "nope.keras"), "--cutouts", str(path),
           "--out", str(tmp_path / "x.parquet")]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "nope.keras" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- fuzzed catalogs
from hypothesis import HealthCheck, given, settings  # noqa: E402

from catalog_strategies import parquet_cases  # noqa: E402  (tests/ is on sys.path)


@pytest.mark.slow
@pytest.mark.tf
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=parquet_cases())
def test_fuzzed_store_catalogs_exit_2_before_anything_is_written(case, tmp_path_factory,
                                                                  models):
    import contextlib
    import io
    import warnings

    data, _, expect = case
    base = tmp_path_factory.mktemp("fuzz")
    catalog = pd.read_parquet(io.BytesIO(data))
    write_store(base / "s", np.zeros((len(catalog), 64, 64, 3), np.uint8), catalog,
                chunk_size=4)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["classify", "--model", str(models[1]), "--cutouts", str(base / "s"),
                   "--out", str(base / "p.parquet"), "--quiet"])
    if expect is None:
        assert rc == 0, err.getvalue()
        return
    msg = err.getvalue().strip()
    assert rc == 2 and "\n" not in msg, msg
    assert str(base / "s" / "catalog.parquet") in msg
    assert f"line {expect['line']}" in msg and f"column '{expect['column']}'" in msg, msg
    assert not list(base.glob("p.parquet*"))  # neither the output nor its parts


# --------------------------------------------------------------------------- plus / predict
def test_binary_store_gets_the_columns_of_predict(tmp_path, models, small_store):
    path, images, catalog = small_store
    out = classify.classify_store(models[1], path, tmp_path / "p.parquet", progress=False)
    pred = pd.read_parquet(out)
    assert classify.output_columns(1) == ["p_lsbg", "uncertainty"]
    assert {"ra", "dec", "p_lsbg", "uncertainty"} <= set(pred.columns)
    assert pred["uncertainty"].isna().all()  # one network, one view: nothing to spread


@pytest.mark.tf
def test_plus_ensemble_on_a_store_is_calibrated_with_uncertainty(tmp_path, small_store):
    from scipy.special import expit, logit

    from deepshadows_lib import plus, predict, training
    path, images, catalog = small_store
    sub = tmp_path / "sub.zarr"
    write_store(sub, images[:300], catalog.iloc[:300].reset_index(drop=True),
                chunk_size=128, attrs={"survey": "des"})
    members = []
    for k in range(2):
        model = training.load_model(make_model(tmp_path / f"m{k}.keras", 1), compile=False)
        dense = model.layers[-1]
        w, b = dense.get_weights()
        dense.set_weights([w * (1 + k), b - 0.5 * k])
        members.append(model)
    ens = training.save_model(plus.combine_members(members), tmp_path / "plus.keras",
                              provenance={"recipe": "plus", "temperature": 2.0, "tta": True,
                                          "n_members": 2})
    out = classify.classify_store(ens, sub, tmp_path / "p.parquet", batch_size=64,
                                  progress=False)
    pred = pd.read_parquet(out)
    # independent reference: the members' analytic outputs are rotation invariant (mean
    # colour), so the eight views agree and only the members spread
    mean_rgb = images[:300].astype(np.float64).mean(axis=(1, 2)) / 255.0
    p_members = np.stack([expit(mean_rgb @ (W1[:, 0] * (1 + k)) + B1[0] - 0.5 * k)
                          for k in range(2)], axis=1)
    expected = expit(logit(p_members.mean(axis=1)) / 2.0)
    np.testing.assert_allclose(pred["p_lsbg"], expected, atol=2e-5)
    spread = np.repeat(expit(logit(p_members) / 2.0), 8, axis=1).std(axis=1, ddof=1)
    np.testing.assert_allclose(pred["uncertainty"], spread, atol=2e-5)
    # the same numbers as deepshadows predict's Predictor on the same cutouts
    p, unc = predict.Predictor.from_path(ens).predict(images[:300])
    np.testing.assert_allclose(pred["p_lsbg"], p, atol=1e-6)


# --------------------------------------------------------------------------- folded path
def _deepshadows_network(n_classes, seed):
    """The paper's network with random weights and non-trivial batch-norm statistics, so
    that folding batch normalisation (and 1/255 into conv1) changes the arithmetic."""
    import keras

    from deepshadows_lib.models import build_deepshadows
    keras.utils.set_random_seed(seed)
    model = build_deepshadows(n_classes, compile=False)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                               rng.normal(0, 0.1, beta.shape).astype(np.float32),
                               rng.normal(0, 0.1, mean.shape).astype(np.float32),
                               rng.uniform(0.5, 2.0, var.shape).astype(np.float32)])
    return model


def _keras_predict(model, images):
    """The reference: Keras' own ``model.predict`` on images scaled to [0, 1]."""
    return np.asarray(model.predict(images.astype(np.float32) / 255.0, batch_size=64,
                                    verbose=0), np.float64)


@pytest.mark.slow
@pytest.mark.tf
def test_probabilities_equal_keras_predict_through_the_folded_path(tmp_path, small_store):
    from deepshadows_lib import plus, training
    from deepshadows_lib.classify import model as classify_model
    from deepshadows_lib.nn import inference
    path, images, catalog = small_store
    sub = tmp_path / "sub.zarr"
    n = 200
    write_store(sub, images[:n], catalog.iloc[:n].reset_index(drop=True), chunk_size=64)
    calls = []
    original = inference.inference_function

    def spy(model, **kw):
        calls.append(kw.get("fast"))
        return original(model, **kw)

    # binary, three-class, and a plus ensemble of two binary networks
    binary, three = _deepshadows_network(1, 1), _deepshadows_network(3, 2)
    members = [_deepshadows_network(1, 10 + k) for k in range(2)]
    cases = {
        "binary": (training.save_model(binary, tmp_path / "b.keras"),
                   _keras_predict(binary, images[:n]), ["p_lsbg"]),
        "three": (training.save_model(three, tmp_path / "t.keras"),
                  _keras_predict(three, images[:n]), ["p_artifact2", "p_lsbg", "p_artifact1"]),
        "plus": (training.save_model(plus.combine_members(members), tmp_path / "p.keras",
                                     provenance={"recipe": "plus", "n_members": 2}),
                 np.mean([_keras_predict(m, images[:n]) for m in members], axis=0),
                 ["p_lsbg"]),
    }
    for name, (model_path, expected, cols) in cases.items():
        calls.clear()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(inference, "inference_function", spy)
            classify_model._MODEL_CACHE.clear()
            out = classify.classify_store(model_path, sub, tmp_path / f"{name}.parquet",
                                          batch_size=50, progress=False)
        pred = pd.read_parquet(out)
        np.testing.assert_allclose(pred[cols].to_numpy(), expected, atol=1e-5, err_msg=name)
        if name == "three":  # the folded graph, asked for by classify itself
            assert calls == [True]
        # the opt-in bfloat16 arithmetic: close to Keras, not equal to it
        low = classify.classify_store(model_path, sub, tmp_path / f"{name}_bf16.parquet",
                                      batch_size=50, progress=False, precision="bfloat16")
        diff = np.abs(pd.read_parquet(low)[cols].to_numpy() - expected)
        assert 0 < diff.max() < 2e-2, name
    classify_model._MODEL_CACHE.clear()


def test_precision_is_checked_and_part_of_the_job(tmp_path, models, small_store):
    from deepshadows_lib.classify.parts import _job_signature
    from deepshadows_lib.classify.source import _open_images
    path, _, _ = small_store
    with pytest.raises(InputError, match="precision"):
        classify.classify_store(models[1], path, tmp_path / "p.parquet", progress=False,
                                precision="float16")
    assert not (tmp_path / "p.parquet").exists()
    store = _open_images(path)
    exact = _job_signature(models[1], store, 256, ["p_lsbg"])
    low = _job_signature(models[1], store, 256, ["p_lsbg"], precision="bfloat16")
    # parts of a float32 run are never resumed by a bfloat16 one, and the float32
    # record is the one written before the option existed
    assert "precision" not in exact and low == {**exact, "precision": "bfloat16"}

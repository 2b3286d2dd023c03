"""Tests of deepshadows_lib.studies: label noise, splits, baselines, transfer, three-class."""

import json

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import evaluate, studies
from deepshadows_lib.errors import InputError
from synthetic_images import easy_images  # noqa: E402  (tests/ is on sys.path)


# --------------------------------------------------------------------------- label noise
def test_flip_labels_both_directions():
    y = np.array([0, 1] * 50)
    noisy, idx = studies.flip_labels(y, n=30, direction="both", seed=1, return_indices=True)
    assert (noisy != y).sum() == 30 and len(np.unique(idx)) == 30
    np.testing.assert_array_equal(np.flatnonzero(noisy != y), idx)
    np.testing.assert_array_equal(noisy[idx], 1 - y[idx])
    assert y.sum() == 50  # the input is untouched
    np.testing.assert_array_equal(studies.flip_labels(y, n=30, seed=1), noisy)
    assert not np.array_equal(studies.flip_labels(y, n=30, seed=2), noisy)


@pytest.mark.parametrize("direction, src", [("1->0", 1), ("0->1", 0)])
def test_flip_labels_biased(direction, src):
    y = np.array([0] * 70 + [1] * 30)
    noisy = studies.flip_labels(y, n=20, direction=direction, seed=0)
    changed = noisy != y
    assert changed.sum() == 20
    assert np.all(y[changed] == src) and np.all(noisy[changed] == 1 - src)


def test_flip_labels_errors():
    y = np.array([0] * 70 + [1] * 30)
    with pytest.raises(ValueError, match="candidates"):
        studies.flip_labels(y, n=31, direction="1->0")
    with pytest.raises(ValueError, match="direction"):
        studies.flip_labels(y, n=1, direction="up")
    with pytest.raises(ValueError, match="binary"):
        studies.flip_labels([0, 2], n=1)


def test_scaled_count():
    # the paper's counts on its own training set are unchanged
    for c in (300, 1500, 3000, 10000):
        assert studies.scaled_count(c, n_train=30000) == c
    assert studies.scaled_count(3000, n_train=3750) == 375
    assert studies.scaled_count(10000, n_train=240) == 80  # a third
    with pytest.raises(ValueError):
        studies.scaled_count(300, n_train=100, paper_n_train=0)


def test_noise_conditions_use_the_papers_fractions():
    conds = studies._noise_conditions(30000, (0.01, 0.05, 0.10, 1 / 3), (0.01, 0.05, 0.10))
    assert [c[2] for c in conds if c[0] == "both"] == [300, 1500, 3000, 10000]
    assert [c[2] for c in conds if c[0] == "1->0"] == [300, 1500, 3000]
    assert [c[2] for c in conds if c[0] == "0->1"] == [300, 1500, 3000]


# --------------------------------------------------------------------------- baselines
def test_baseline_models_against_sklearn():
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    X = pd.DataFrame(rng.normal(size=(300, 5)) + 1.2 * y[:, None],
                     columns=[f"f{i}" for i in range(5)])
    out = studies.baseline_models(X[:200], y[:200], X[200:], y[200:], seed=0)
    assert set(out) == {"SVM", "Random forest"}
    # an independent SVM with the paper's settings predicts the same labels
    sc = StandardScaler().fit(X[:200])
    ref = SVC(kernel="rbf", C=1e4, gamma=1e-3).fit(sc.transform(X[:200]), y[:200])
    ref_acc = float(np.mean(ref.predict(sc.transform(X[200:])) == y[200:]))
    assert out["SVM"]["metrics"]["accuracy"] == pytest.approx(ref_acc)
    for res in out.values():
        assert res["tpr"].shape == evaluate.FPR_GRID.shape
        assert res["metrics"]["auc"] > 0.8
    bad = X.copy()
    bad.iloc[3, 2] = np.nan
    with pytest.raises(InputError, match="f2"):
        studies.baseline_models(bad, y, X, y)


@pytest.mark.slow
def test_hsc_feature_cv_on_real_data():
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from deepshadows_lib import catalogs, models

    table = studies.hsc_feature_cv(n_splits=5, seed=0, n_bootstrap=200)
    assert list(table.index) == ["SVM", "Random forest"]
    X, y = catalogs.load_hsc_features()
    assert len(y) == 1422 and (table["n"] == 1422).all()
    for name, row in table.iterrows():
        assert row["accuracy_lo"] <= row["accuracy"] <= row["accuracy_hi"]
        assert row["auc_lo"] <= row["auc"] <= row["auc_hi"]
        assert 0.6 < row["accuracy"] < 1.0 and 0.6 < row["auc"] <= 1.0
        # pooled out-of-fold accuracy, recomputed from the scores
        oof = table.attrs["scores"][name]
        assert row["accuracy"] == pytest.approx(np.mean((oof > 0.5) == y))
    # per-fold accuracies agree with scikit-learn's own cross-validation of the pipeline
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    ref = cross_val_score(models.svm_pipeline(seed=0), X.to_numpy(float), y, cv=folds)
    assert table.loc["SVM", "accuracy_fold_mean"] == pytest.approx(ref.mean())


# --------------------------------------------------------------------------- CNN studies
@pytest.fixture(scope="module")
def small():
    return easy_images(48, seed=1)


@pytest.mark.slow
@pytest.mark.tf
def test_run_random_splits(small):
    images, y = small
    res = studies.run_random_splits(images, y, seeds=(1, 3), epochs=1, batch_size=16,
                                    progress=False)
    assert [r["seed"] for r in res] == [1, 3]
    from deepshadows_lib import catalogs
    for r in res:
        split = catalogs.random_split(len(y), seed=r["seed"])
        np.testing.assert_array_equal(r["test_idx"], split["test"])
        np.testing.assert_array_equal(r["y_true"], y[split["test"]])
        assert r["p"].shape == (len(split["test"]),)
        assert r["metrics"]["accuracy"] == pytest.approx(
            np.mean((r["p"] > 0.5) == r["y_true"]))
        assert r["tpr"].shape == (200,) and "model" not in r
    frame = studies.results_frame(res)
    assert list(frame["seed"]) == [1, 3] and "auc" in frame


@pytest.mark.slow
@pytest.mark.tf
def test_run_label_noise(small, monkeypatch):
    images, y = small
    from deepshadows_lib import catalogs, training

    seen = []
    real = training.train_cnn

    def spy(images, labels, **kw):
        # the noise logic is under test here, not the network: a tiny model keeps it fast
        import keras
        inp = keras.Input((64, 64, 3))
        tiny = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(
            keras.layers.GlobalAveragePooling2D()(inp)))
        seen.append(np.asarray(labels).copy())
        return real(images, labels, model=tiny, **kw)

    monkeypatch.setattr(training, "train_cnn", spy)
    split = catalogs.random_split(len(y), seed=0)
    res = studies.run_label_noise(images, y, split=split, epochs=1, batch_size=16,
                                  fractions=(0.25,), biased_fractions=(0.1,),
                                  progress=False)
    n_train = len(split["train"])
    assert [(r["direction"], r["n_flipped"]) for r in res] == [
        ("none", 0), ("both", round(0.25 * n_train)), ("1->0", round(0.1 * n_train)),
        ("0->1", round(0.1 * n_train))]
    held_out = np.concatenate([split["validation"], split["test"]])
    for r, labels in zip(res, seen):
        diff = labels != y
        assert diff.sum() == r["n_flipped"]
        assert not diff[held_out].any()  # only training labels are noisy
        if r["direction"] in ("1->0", "0->1"):
            assert np.all(y[diff] == int(r["direction"][0]))
        np.testing.assert_array_equal(r["y_true"], y[split["test"]])


@pytest.mark.slow
@pytest.mark.tf
def test_hsc_transfer_leaves_the_model_untouched(small):
    from deepshadows_lib.models import build_deepshadows

    images, y = small
    model = build_deepshadows()
    before = [w.copy() for w in model.get_weights()]
    out = studies.hsc_transfer(model, images, y, n_finetune=16, epochs=1, batch_size=16,
                               progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    ft, test = out["finetune_idx"], out["test_idx"]
    assert len(ft) == 16 and len(test) == 32
    np.testing.assert_array_equal(np.sort(np.concatenate([ft, test])), np.arange(48))
    assert abs(y[ft].sum() - 8) <= 1  # stratified
    np.testing.assert_array_equal(out["before"]["p"], out["before_all"]["p"][test])
    assert not np.allclose(out["before"]["p"], out["after"]["p"])
    for key in ("before", "after"):
        assert set(out[key]["metrics"]) >= {"accuracy", "precision", "recall", "auc"}
    with pytest.raises(InputError, match="n_finetune"):
        studies.hsc_transfer(model, images, y, n_finetune=48)


@pytest.mark.slow
@pytest.mark.tf
def test_run_three_class(small, tmp_path):
    from deepshadows_lib import catalogs

    images, _ = small
    cls = np.arange(len(images)) % 3
    split = catalogs.random_split(len(cls), seed=0)
    out = studies.run_three_class(images, cls, split=split, epochs=1, batch_size=16,
                                  progress=False)
    n_test = len(split["test"])
    assert out["proba"].shape == (n_test, 3)
    cm = out["confusion"]
    assert cm.shape == (3, 3) and cm.sum() == n_test
    # the reduced matrix, recomputed by hand: LSBG is class 1
    pred = out["proba"].argmax(axis=1)
    t = cls[split["test"]]
    tp = np.sum((t == 1) & (pred == 1))
    tn = np.sum((t != 1) & (pred != 1))
    red = out["reduced_confusion"]
    assert red[1, 1] == tp and red[0, 0] == tn and red.sum() == n_test
    path = studies.save_results(out, tmp_path / "three.json")
    back = json.loads(path.read_text())
    assert back["confusion"] == cm.tolist() and "model" not in back


def test_results_frame_and_save_for_baselines(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    X = rng.normal(size=(120, 3)) + y[:, None]
    out = studies.baseline_models(X[:80], y[:80], X[80:], y[80:], models=("Random forest",))
    frame = studies.results_frame(out)
    assert list(frame["name"]) == ["Random forest"]
    assert frame.loc[0, "accuracy"] == pytest.approx(out["Random forest"]["metrics"]["accuracy"])
    back = json.loads(studies.save_results(out, tmp_path / "b.json").read_text())
    assert back["Random forest"]["p"] == pytest.approx(list(out["Random forest"]["p"]))


# --------------------------------------------------------------------------- reuse, workers
@pytest.mark.slow
def test_concurrent_trainings_equal_sequential_ones(small):
    images, y = small
    from deepshadows_lib import catalogs
    split = catalogs.random_split(len(y), seed=0)
    tasks = [{"labels": y, "train_idx": split["train"], "val_idx": split["validation"],
              "test_idx": split["test"], "epochs": 1, "seed": s, "batch_size": 16,
              "bn_reestimate": True} for s in (1, 2)]
    seq = studies.train_many(images, tasks, workers=1, progress=False)
    par = studies.train_many(images, tasks, workers=2, progress=False)
    for a, b in zip(seq, par):
        np.testing.assert_allclose(a["p"], b["p"], atol=1e-6)
        np.testing.assert_allclose(a["p_moving"], b["p_moving"], atol=1e-6)
        assert "model" not in b
    assert not np.allclose(seq[0]["p"], seq[1]["p"])  # the seeds differ


def test_known_run_is_reused_not_retrained(small, monkeypatch):
    images, y = small
    from deepshadows_lib import catalogs
    sp = catalogs.random_split(len(y), seed=5)
    rng = np.random.default_rng(0)
    p = rng.random(len(sp["test"]))
    known = studies.cnn_run(p, p * 0.5, p, seed=5, train_idx=sp["train"],
                            test_idx=sp["test"])
    calls = []
    monkeypatch.setattr(studies.cnn, "train_many", lambda images, tasks, **kw: calls.append(
        tasks) or [])
    res = studies.run_random_splits(images, y, seeds=(5,), epochs=1, progress=False,
                                    known={5: known})
    assert calls == [[]]  # nothing left to train
    np.testing.assert_array_equal(res[0]["p"], p)
    assert res[0]["metrics_moving"]["accuracy"] == pytest.approx(
        np.mean((p * 0.5 > 0.5) == y[sp["test"]]))
    with pytest.raises(InputError, match="another split"):
        studies.run_random_splits(images, y, seeds=(6,), epochs=1, progress=False,
                                  known={6: known})


def test_saved_run_round_trips_and_checks_its_run(tmp_path):
    run = studies.cnn_run(np.array([0.2, 0.9]), np.array([0.6, 0.9]), np.array([0.2, 0.9]),
                          seed=1, train_idx=[0, 1, 2], test_idx=[3, 4], run="abc")
    studies.save_results(run, tmp_path / "r.json")
    back = studies.load_run(tmp_path / "r.json", run="abc")
    np.testing.assert_array_equal(back["test_idx"], [3, 4])
    assert studies.load_run(tmp_path / "r.json", run="other") is None
    assert studies.load_run(tmp_path / "missing.json") is None


# --------------------------------------------------------------------------- Dask
def _square(images, *, k):
    # a module-level task for map_trainings: picklable, and uses the shared images
    return int(k) ** 2 + int(np.asarray(images)[int(k)].sum())


def test_map_trainings_runs_tasks_in_order_without_a_scheduler():
    images = np.arange(4 * 2, dtype=np.uint8).reshape(4, 2)
    tasks = [{"k": k} for k in (3, 0, 2)]
    assert studies.map_trainings(_square, images, tasks, progress=False) == \
        [9 + 13, 0 + 1, 4 + 9]
    assert studies.map_trainings(_square, images, [], progress=False) == []
    assert studies.scheduler_client(None) == (None, False)
    assert studies.scheduler_client("  ") == (None, False)


@pytest.mark.cluster
def test_an_unreachable_scheduler_is_one_line_before_any_training(monkeypatch):
    pytest.importorskip("distributed")
    import socket
    import time
    from deepshadows_lib.studies import parallel
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the socket is
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 2, raising=False)
    calls = []
    images = np.zeros((4, 2), dtype=np.uint8)
    t = time.monotonic()
    with pytest.raises(InputError, match=rf"cannot reach the Dask scheduler 'tcp://127.0.0.1:{port}'"):
        studies.map_trainings(lambda images, **t: calls.append(t), images, [{"k": 1}],
                              scheduler=f"tcp://127.0.0.1:{port}", progress=False)
    assert time.monotonic() - t < 15 and calls == []  # Dask's own wait is 30 s
    for bad in ("no-port-here", "/nonexistent/scheduler.json"):
        with pytest.raises(InputError) as info:
            studies.scheduler_client(bad)
        assert "\n" not in str(info.value) and repr(bad)[1:-1] in str(info.value)


@pytest.mark.slow
@pytest.mark.cluster
def test_trainings_on_a_dask_cluster_equal_sequential_ones(small):
    distributed = pytest.importorskip("distributed")
    images, y = small
    from deepshadows_lib import catalogs
    split = catalogs.random_split(len(y), seed=0)
    tasks = [{"labels": y, "train_idx": split["train"], "val_idx": split["validation"],
              "test_idx": split["test"], "epochs": 1, "seed": s, "batch_size": 16,
              "bn_reestimate": True} for s in (1, 2)]
    seq = studies.train_many(images, tasks, workers=1, progress=False)
    seq_splits = studies.run_random_splits(images, y, seeds=(1, 3), epochs=1, batch_size=16,
                                           progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            # by address, as the notebooks and the command line pass it
            par = studies.train_many(images, tasks, scheduler=cluster.scheduler_address,
                                     progress=False)
            # the study itself, given a client
            dask_splits = studies.run_random_splits(images, y, seeds=(1, 3), epochs=1,
                                                    batch_size=16, progress=False,
                                                    scheduler=client)
        pids = client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2  # two worker processes
    # the four trainings ran on the cluster's workers, not here
    ran = [t for t in stream.data if "_dask_call" in str(t["key"])]
    assert len(ran) == 4 and {t["worker"] for t in ran} <= set(pids)
    for a, b in zip(seq, par):
        np.testing.assert_array_equal(a["p"], b["p"])
        np.testing.assert_array_equal(a["p_moving"], b["p_moving"])
        assert a["history"]["loss"] == b["history"]["loss"]
        assert "model" not in b
    assert not np.allclose(seq[0]["p"], seq[1]["p"])  # the seeds differ
    for a, b in zip(seq_splits, dask_splits):
        assert a["seed"] == b["seed"]
        np.testing.assert_array_equal(a["p"], b["p"])
        for k, v in a["metrics"].items():
            np.testing.assert_array_equal(v, b["metrics"][k])

"""Tests of deepshadows_lib.cutouts.download (the resumable job) against a real HTTP server
on 127.0.0.1 (fake_viewer); the package's other modules have tests/test_cutouts_<module>.py."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import cutouts
from deepshadows_lib.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_viewer import FakeViewer  # noqa: E402
from cutout_helpers import FAST, make_catalog, reference_cutout  # noqa: E402


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def viewer():
    with FakeViewer() as v:
        yield v


def test_repeated_positions_are_fetched_once(tmp_path, viewer):
    cat = make_catalog(5, seed=4)
    cat = pd.concat([cat, cat.iloc[[1, 3]]], ignore_index=True)
    with pytest.warns(UserWarning, match="repeat"):
        summary = cutouts.download(cat, tmp_path / "out", base_url=viewer.base_url, **FAST)
    assert summary.ok == 7 and len(viewer.requests) == 5
    images, catalog = cutouts.open_store(tmp_path / "out")
    np.testing.assert_array_equal(images[5], images[1])
    np.testing.assert_array_equal(images[6], images[3])


def test_catalog_columns_labels_and_attrs_are_carried(tmp_path, viewer):
    cat = make_catalog(4, seed=5)
    cat["class_name"] = ["lsbg", "artifact2", "artifact1", "lsbg"]
    cutouts.download(cat, tmp_path / "out", layer="hsc2", base_url=viewer.base_url, **FAST)
    store = cutouts.open_store(tmp_path / "out")
    assert store.catalog["label"].tolist() == [1, 0, 0, 1]
    assert store.catalog["class_index"].tolist() == [1, 0, 2, 1]
    assert (store.catalog["survey"] == "hsc").all() and not store.catalog["simulated"].any()
    assert store.attrs["layer"] == "hsc2" and store.attrs["resize_filter"] == "NEAREST"
    assert not store.simulated
    assert {r[3] for r in viewer.requests} == {"hsc2"}
    np.testing.assert_array_equal(store.images[2], reference_cutout(cat.ra[2], cat.dec[2],
                                                                    "hsc2"))


@pytest.mark.parametrize("chunk_size", [8, 2])  # 2: the store is assembled in 3 chunks
def test_rerun_fetches_nothing_then_retries_transient_failures(tmp_path, chunk_size):
    cat = make_catalog(6, seed=6)
    faults = {(cat.ra[1], cat.dec[1]): ["500", "500", "ok"],  # fails run 1, ok in run 2
              (cat.ra[4], cat.dec[4]): ["blank"]}
    out = tmp_path / "out"
    fast = {**FAST, "chunk_size": chunk_size}
    with FakeViewer(faults=faults) as v:
        s1 = cutouts.download(cat, out, base_url=v.base_url, **{**fast, "retries": 1})
        assert (s1.ok, s1.failed) == (4, {"http_500": 1, "blank": 1})
        assert not (out / "staging" / "ok").exists()  # all in the store now
        assert not (out / ".build").exists()
        n1 = len(v.requests)
        s2 = cutouts.download(cat, out, base_url=v.base_url, retry_failed=False, **fast)
        assert len(v.requests) == n1 and s2.fetched == 0 and s2.n_failed == 2
        s3 = cutouts.download(cat, out, base_url=v.base_url, **fast)
        again = {(r[1], r[2]) for r in v.requests[n1:]}
    assert again == {(round(cat.ra[1], 7), round(cat.dec[1], 7))}  # not the blank one
    assert (s3.ok, s3.failed, s3.fetched) == (5, {"blank": 1}, 1)
    assert cutouts.open_store(out, lazy=True).attrs["n_failed"] == 1
    images, catalog = cutouts.open_store(out)
    want = [i for i in range(6) if i != 4]
    np.testing.assert_array_equal(catalog["ra"], cat["ra"][want])
    for k, i in enumerate(want):
        np.testing.assert_array_equal(images[k], reference_cutout(cat.ra[i], cat.dec[i]))


def test_object_staged_by_a_killed_retry_run_is_kept(tmp_path):
    # Run 1 completes with a failure; a retry run fetches that object, stages it and is
    # killed before rebuilding the store (simulated by staging it by hand).  The next run
    # must put it in the store without asking for it again.
    cat = make_catalog(4, seed=11)
    out = tmp_path / "out"
    with FakeViewer(faults={(cat.ra[2], cat.dec[2]): ["503"]}) as v:
        s1 = cutouts.download(cat, out, base_url=v.base_url, **{**FAST, "retries": 0})
        assert s1.failed == {"http_503": 1}
        staging = cutouts._Staging(out / "staging")
        staging.add_ok(2, reference_cutout(cat.ra[2], cat.dec[2]))
        staging.close()
        n1 = len(v.requests)
        s2 = cutouts.download(cat, out, base_url=v.base_url, **FAST)
        assert len(v.requests) == n1
    assert (s2.ok, s2.n_failed, s2.fetched) == (4, 0, 0)
    images, catalog = cutouts.open_store(out)
    for k in range(4):
        np.testing.assert_array_equal(images[k], reference_cutout(cat.ra[k], cat.dec[k]))


def test_out_holding_something_else_is_refused(tmp_path, viewer):
    cat = make_catalog(3, seed=7)
    cutouts.download(cat, tmp_path / "out", base_url=viewer.base_url, **FAST)
    with pytest.raises(InputError, match="different job.*layer"):
        cutouts.download(cat, tmp_path / "out", layer="ls-dr10", base_url=viewer.base_url,
                         **FAST)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a download directory"):
        cutouts.download(cat, tmp_path / "other", base_url=viewer.base_url, **FAST)
    s = cutouts.download(cat, tmp_path / "out", layer="ls-dr10", base_url=viewer.base_url,
                         overwrite=True, **FAST)
    assert s.ok == 3 and cutouts.open_store(tmp_path / "out").attrs["layer"] == "ls-dr10"
    with pytest.raises(InputError, match="layer"):
        cutouts.download(cat, tmp_path / "x", layer="sdss", base_url=viewer.base_url, **FAST)
    with pytest.raises(InputError, match="base URL"):
        cutouts.download(cat, tmp_path / "x", base_url="ftp://example.org/x", **FAST)


def _cli(*args):
    return [sys.executable, "-m", "deepshadows_lib.cli", "download", *map(str, args)]


def _status_ok(out):
    try:
        status = cutouts.read_status(out)
    except (InputError, OSError, ValueError):
        return set()
    return {(round(r.ra, 7), round(r.dec, 7)) for r in status.itertuples() if r.status == "ok"}


def _killed_run(cmd, env, *, until):
    """Start ``cmd``, wait until ``until()`` is true (bounded), kill -9 it."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not until():
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    time.sleep(0.2)  # requests already on the wire reach the server's log


@pytest.mark.slow
def test_kill_minus_nine_and_resume_equals_uninterrupted_run(tmp_path):
    n = 90
    cat = make_catalog(n, seed=8)
    cat.to_csv(tmp_path / "cat.csv", index=False)
    faults = {(cat.ra[3], cat.dec[3]): ["503", "ok"], (cat.ra[50], cat.dec[50]): ["blank"],
              (cat.ra[70], cat.dec[70]): ["truncated_jpeg", "ok"]}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "out"
    with FakeViewer(faults=faults, latency=0.05) as v:
        common = ["--catalog", tmp_path / "cat.csv", "--base-url", v.base_url,
                  "--workers", 2, "--rate", 1000, "--retries", 2, "--chunk-size", 16,
                  "--quiet"]
        ref = subprocess.run(_cli(*common, "--out", tmp_path / "ref"), env=env,
                             capture_output=True, text=True, timeout=120)
        assert ref.returncode == 3, ref.stderr  # the blank object failed
        v.reset_log()

        # run 1: killed as soon as the status table shows some ok objects
        _killed_run(_cli(*common, "--out", out), env, until=lambda: len(_status_ok(out)) >= 5)
        assert not (out / "store.json").exists()
        # run 2: killed blindly, 2 s after its start
        ok_1, mark_1 = _status_ok(out), len(v.requests)
        t0 = time.monotonic()
        _killed_run(_cli(*common, "--out", out), env, until=lambda: time.monotonic() > t0 + 2)
        run_2 = {(r[1], r[2]) for r in v.requests[mark_1:]}
        # run 3: to the end
        ok_2, mark_2 = _status_ok(out), len(v.requests)
        last = subprocess.run(_cli(*common, "--out", out), env=env, capture_output=True,
                              text=True, timeout=120)
        run_3 = {(r[1], r[2]) for r in v.requests[mark_2:]}
    assert 5 <= len(ok_1) <= len(ok_2) < n
    assert not run_2 & ok_1 and not run_3 & ok_2  # ok objects were not fetched again
    assert run_3  # the last run did have work left
    assert last.returncode == 3, last.stderr
    assert "89 ok, 1 failed (blank 1)" in last.stdout
    a, b = cutouts.open_store(tmp_path / "ref"), cutouts.open_store(out)
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.catalog, b.catalog)
    assert a.attrs["content_sha256"] == b.attrs["content_sha256"]
    pd.testing.assert_frame_equal(cutouts.read_status(tmp_path / "ref"),
                                  cutouts.read_status(out))
    assert len(b.images) == n - 1
    assert not [p for p in out.rglob(".*") if not p.name.startswith(".z")]  # no temp files


def test_cli_exit_codes_and_bad_catalog(tmp_path, viewer, capsys):
    from deepshadows_lib.cli import main
    cat = make_catalog(3, seed=9)
    cat.to_csv(tmp_path / "good.csv", index=False)
    args = ["download", "--catalog", str(tmp_path / "good.csv"), "--base-url",
            viewer.base_url, "--quiet", "--rate", "1000"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert "3 ok, 0 failed" in capsys.readouterr().out
    viewer.faults[(round(cat.ra[2], 7), round(cat.dec[2], 7))] = ["blank"]
    viewer.reset_log()
    assert main(args + ["--out", str(tmp_path / "b")]) == 3
    err = capsys.readouterr().err
    assert "1 of 3 objects failed" in err and "status.parquet" in err
    assert cutouts.read_status(tmp_path / "b")["reason"].tolist() == ["", "", "blank"]

    bad = tmp_path / "bad.csv"
    bad.write_text("ra,dec\n10.0,-5.0\n11.0,abc\n")
    assert main(["download", "--catalog", str(bad), "--out", str(tmp_path / "c"),
                 "--base-url", viewer.base_url, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(bad) in err and "line 3" in err and "'dec'" in err
    assert not (tmp_path / "c").exists()
    assert len(viewer.requests) == 3  # the bad catalog caused no request

"""Tests of deepshadows_lib.cutouts against a real HTTP server on 127.0.0.1 (fake_viewer)."""

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from deepshadows_lib import cutouts
from deepshadows_lib.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_viewer import FakeViewer, cutout_jpeg  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FAST = dict(rate=None, timeout=0.5, retries=3, backoff=0.02, progress=False, chunk_size=8)


def reference_cutout(ra, dec, layer="des-dr1"):
    """The paper's pipeline, written independently: PIL open, Image.resize((64, 64)), array."""
    return np.array(Image.open(io.BytesIO(cutout_jpeg(ra, dec, layer))).resize((64, 64)))


def make_catalog(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"ra": rng.uniform(0, 360, n).round(6),
                         "dec": rng.uniform(-65, 5, n).round(6),
                         "mag_auto_g": rng.uniform(18, 23, n)})


@pytest.fixture
def viewer():
    with FakeViewer() as v:
        yield v


# --------------------------------------------------------------------------- one cutout
def test_cutout_url_scheme_and_exact_coordinates():
    ra, dec = 0.1 + 0.2, -12.345678901234  # floats that str() formatting would round
    url = cutouts.cutout_url(ra, dec, layer="hsc2", base_url="http://h/viewer/jpeg-cutout")
    parts = urlsplit(url)
    assert parts.path == "/viewer/jpeg-cutout"
    q = parse_qs(parts.query)
    assert float(q["ra"][0]) == ra and float(q["dec"][0]) == dec
    assert q["zoom"] == ["15"] and q["layer"] == ["hsc2"]
    assert cutouts.cutout_url(1, 2).startswith("https://www.legacysurvey.org/viewer/"
                                               "jpeg-cutout?ra=1.0&dec=2.0&zoom=15&layer=des-dr1")


def test_decode_matches_the_papers_resize():
    ra, dec = 31.25, -5.5
    got = cutouts.decode_cutout(cutout_jpeg(ra, dec))
    assert got.dtype == np.uint8 and got.shape == (64, 64, 3)
    np.testing.assert_array_equal(got, reference_cutout(ra, dec))
    # the recorded filter is the one Image.resize((64, 64)) uses in this Pillow
    img = Image.open(io.BytesIO(cutout_jpeg(ra, dec)))
    default = np.array(img.resize((64, 64)))
    for name in ("BILINEAR", "LANCZOS", "NEAREST"):
        other = np.array(img.resize((64, 64), getattr(Image.Resampling, name)))
        if not np.array_equal(other, default):
            break
    else:
        pytest.fail("resize filters indistinguishable on the test image")
    assert np.array_equal(np.array(img.resize((64, 64), getattr(
        Image.Resampling, cutouts.RESIZE_FILTER))), default)


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_decode_rejects_truncated_jpeg(fraction, monkeypatch):
    body = cutout_jpeg(10.0, 10.0)
    cut = body[:int(len(body) * fraction)]
    with pytest.raises(cutouts.CutoutError) as err:
        cutouts.decode_cutout(cut)
    assert err.value.reason == "bad_jpeg" and err.value.retryable
    # even when Pillow is told to accept truncated files
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(cutouts.CutoutError):
        cutouts.decode_cutout(cut)


def test_decode_rejects_corrupt_middle():
    body = bytearray(cutout_jpeg(11.0, 11.0))
    body[600:2000] = b"\x00" * 1400  # scan data destroyed, markers at both ends intact
    try:
        got = cutouts.decode_cutout(bytes(body))
    except cutouts.CutoutError as exc:
        assert exc.reason == "bad_jpeg"
    else:  # libjpeg may decode garbage silently; then it must at least not be the original
        assert not np.array_equal(got, reference_cutout(11.0, 11.0))


def test_decode_rejects_html_wrong_size_and_blank():
    with pytest.raises(cutouts.CutoutError) as err:
        cutouts.decode_cutout(b"<!DOCTYPE html><html><body>Error</body></html>")
    assert err.value.reason == "not_jpeg" and err.value.retryable
    small = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8)
                    ).save(small, format="JPEG")
    with pytest.raises(cutouts.CutoutError) as err:
        cutouts.decode_cutout(small.getvalue())
    assert err.value.reason == "wrong_size"
    for value in (0, 128, 255):
        blank = io.BytesIO()
        Image.fromarray(np.full((256, 256, 3), value, np.uint8)).save(blank, format="JPEG")
        with pytest.raises(cutouts.CutoutError) as err:
            cutouts.decode_cutout(blank.getvalue())
        assert err.value.reason == "blank" and not err.value.retryable
        assert cutouts.decode_cutout(blank.getvalue(), blank_std=None).shape == (64, 64, 3)


def test_rate_limiter_spaces_requests_across_threads():
    limiter = cutouts.RateLimiter(50.0)
    stamps, lock = [], threading.Lock()

    def worker():
        for _ in range(5):
            limiter.wait()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(stamps) == 20
    assert time.monotonic() - t0 >= 19 / 50 * 0.95
    gaps = np.diff(sorted(stamps))
    assert np.median(gaps) >= 0.8 / 50


# --------------------------------------------------------------------------- faults
FAULT_CASES = {
    # fault plan: (expected status, reason, expected number of requests)
    "503_then_ok": (["503", "ok"], "ok", "", 2),
    "500_twice_then_ok": (["500", "500", "ok"], "ok", "", 3),
    "429_then_ok": (["429", "ok"], "ok", "", 2),
    "slow_then_ok": (["slow", "ok"], "ok", "", 2),
    "truncated_body_then_ok": (["truncated", "ok"], "ok", "", 2),
    "truncated_jpeg_then_ok": (["truncated_jpeg", "ok"], "ok", "", 2),
    "html_200_then_ok": (["html", "ok"], "ok", "", 2),
    "html_as_jpeg_then_empty_then_ok": (["html_as_jpeg", "empty", "ok"], "ok", "", 3),
    "drop_then_ok": (["drop", "ok"], "ok", "", 2),
    "wrong_size_then_ok": (["wrong_size", "ok"], "ok", "", 2),
    "blank": (["blank"], "failed", "blank", 1),
    "always_503": (["503"], "failed", "http_503", 4),
    "always_html": (["html"], "failed", "not_jpeg", 4),
    "always_truncated_jpeg": (["truncated_jpeg"], "failed", "bad_jpeg", 4),
    "always_slow": (["slow"], "failed", "timeout", 4),
    "always_drop": (["drop"], "failed", "connection", 4),
    "always_truncated_body": (["truncated"], "failed", "truncated", 4),
    "not_found": (["404"], "failed", "http_404", 1),
}


def test_every_fault_is_retried_or_failed_with_its_reason(tmp_path):
    cat = make_catalog(len(FAULT_CASES) + 6, seed=1)
    names = list(FAULT_CASES)
    faults = {(cat.ra[i], cat.dec[i]): FAULT_CASES[n][0] for i, n in enumerate(names)}
    with FakeViewer(faults=faults, retry_after=1, slow_seconds=1.0) as v:
        summary = cutouts.download(cat, tmp_path / "out", base_url=v.base_url, workers=6,
                                   **FAST)
        counts = {n: v.count(cat.ra[i], cat.dec[i]) for i, n in enumerate(names)}
    status = cutouts.read_status(tmp_path / "out")
    assert list(status.columns[:5]) == ["row", "ra", "dec", "status", "reason"]
    assert status["status"].isin(["ok", "failed"]).all()
    for i, name in enumerate(names):
        _, want_status, want_reason, want_requests = FAULT_CASES[name]
        row = status.iloc[i]
        assert (row.status, row.reason) == (want_status, want_reason), name
        assert counts[name] == want_requests, name
    # retries=3 means 4 attempts in all, whatever the kind of failure
    n_failed = sum(FAULT_CASES[n][1] == "failed" for n in names)
    assert summary.n_failed == n_failed and summary.ok == len(cat) - n_failed
    assert summary.failed["blank"] == 1 and summary.failed["http_503"] == 1
    # the store holds the ok objects only, in catalog order, equal to the paper's pipeline
    images, catalog = cutouts.open_store(tmp_path / "out")
    ok = status["status"].to_numpy() == "ok"
    assert len(images) == ok.sum()
    np.testing.assert_array_equal(catalog["ra"], cat["ra"][ok])
    np.testing.assert_allclose(catalog["mag_auto_g"], cat["mag_auto_g"][ok])
    for k, (ra, dec) in enumerate(zip(catalog["ra"], catalog["dec"])):
        np.testing.assert_array_equal(images[k], reference_cutout(ra, dec))


def test_retry_after_and_backoff_are_honoured(tmp_path):
    cat = make_catalog(2, seed=2)
    faults = {(cat.ra[0], cat.dec[0]): ["429", "ok"],
              (cat.ra[1], cat.dec[1]): ["503", "503", "503", "ok"]}
    with FakeViewer(faults=faults, retry_after=1) as v:
        cutouts.download(cat, tmp_path / "out", base_url=v.base_url, workers=2,
                         **{**FAST, "backoff": 0.15, "retries": 4})
        log = pd.DataFrame(v.requests, columns=["t", "ra", "dec", "layer", "zoom", "fault"])
    t429 = log[log.ra == round(cat.ra[0], 7)]["t"].to_numpy()
    assert len(t429) == 2 and t429[1] - t429[0] >= 0.95  # Retry-After: 1
    t503 = log[log.ra == round(cat.ra[1], 7)]["t"].to_numpy()
    assert len(t503) == 4
    gaps = np.diff(t503)
    # urllib3: retry k >= 2 waits backoff * 2**(k-1) (+ jitter <= backoff)
    assert gaps[1] >= 0.15 * 2 * 0.95 and gaps[2] >= 0.15 * 4 * 0.95
    assert gaps[2] <= 0.15 * 4 + 0.15 + 0.5


def test_pool_is_bounded_concurrent_and_rate_limited(tmp_path):
    # Judged from the server's side (its gauge of answers in progress, its answer spans and
    # receive times), not from the wall time of the run, so that a loaded machine, which
    # slows the client's decoding down, cannot fail it.
    cat = make_catalog(24, seed=3)
    with FakeViewer(latency=0.3) as v:
        cutouts.download(cat, tmp_path / "a", base_url=v.base_url, workers=4, rate=None,
                         progress=False)
        assert 3 <= v.max_active <= 4  # the pool is bounded, and used
        spans = np.array(v.spans)
        assert len(spans) == 24
        in_flight = (spans[:, 1] - spans[:, 0]).sum() / (spans[:, 1].max() - spans[:, 0].min())
        assert in_flight > 2  # on average more than two answers at a time
        v.reset_log()
        n, rate = 30, 20.0
        cat = make_catalog(n, seed=5)
        cutouts.download(cat, tmp_path / "b", base_url=v.base_url, workers=8, rate=rate,
                         progress=False)
        t = np.sort([r[0] for r in v.requests])
    assert len(t) == n
    # never faster than the limit on average, and no bursts ...
    assert t[-1] - t[0] >= (n - 1) / rate * 0.95
    assert np.median(np.diff(t)) >= 0.9 / rate
    # ... nor in any one-second window (one request of tolerance for the jitter between
    # the client's grant and the server's receipt)
    assert max(np.searchsorted(t, t + 1.0) - np.arange(n)) <= rate + 1


def test_rate_limiter_never_grants_more_than_the_rate_in_a_second():
    rate = 25.0
    limiter = cutouts.RateLimiter(rate)
    stamps = []

    def worker():
        for _ in range(10):
            stamps.append(limiter.wait())  # the grant time itself

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    t = np.sort(stamps)
    assert len(t) == 60 and limiter.granted == 60
    # half-open one-second windows: the limit exactly, on the grant times
    assert max(np.searchsorted(t, t + 1.0) - np.arange(len(t))) <= rate
    assert np.diff(t).min() >= 0.5 / rate * 0.999
    assert t[-1] - t[0] >= 59 / rate


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
    assert store.attrs["layer"] == "hsc2" and store.attrs["resize_filter"] == "BICUBIC"
    assert not store.simulated
    assert {r[3] for r in viewer.requests} == {"hsc2"}
    np.testing.assert_array_equal(store.images[2], reference_cutout(cat.ra[2], cat.dec[2],
                                                                    "hsc2"))


# --------------------------------------------------------------------------- resume
def test_rerun_fetches_nothing_then_retries_transient_failures(tmp_path):
    cat = make_catalog(6, seed=6)
    faults = {(cat.ra[1], cat.dec[1]): ["500", "500", "ok"],  # fails run 1, ok in run 2
              (cat.ra[4], cat.dec[4]): ["blank"]}
    out = tmp_path / "out"
    with FakeViewer(faults=faults) as v:
        s1 = cutouts.download(cat, out, base_url=v.base_url, **{**FAST, "retries": 1})
        assert (s1.ok, s1.failed) == (4, {"http_500": 1, "blank": 1})
        assert not (out / "staging" / "ok").exists()  # all in the store now
        n1 = len(v.requests)
        s2 = cutouts.download(cat, out, base_url=v.base_url, retry_failed=False, **FAST)
        assert len(v.requests) == n1 and s2.fetched == 0 and s2.n_failed == 2
        s3 = cutouts.download(cat, out, base_url=v.base_url, **FAST)
        again = {(r[1], r[2]) for r in v.requests[n1:]}
    assert again == {(round(cat.ra[1], 7), round(cat.dec[1], 7))}  # not the blank one
    assert (s3.ok, s3.failed, s3.fetched) == (5, {"blank": 1}, 1)
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


def test_staging_skips_records_torn_or_corrupted_by_a_kill(tmp_path):
    staging = cutouts._Staging(tmp_path / "staging")
    rng = np.random.default_rng(10)
    images = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    locs = [staging.add_ok(u, images[u]) for u in range(4)]
    staging.add_failed(7, "timeout", "slow", "http://x")
    staging.close()
    path = locs[0][0]
    data = bytearray(path.read_bytes())
    data[locs[1][1] + 100] ^= 0xFF  # record 1 corrupted
    path.write_bytes(bytes(data[:locs[3][1] + 5000]))  # record 3 torn mid-image
    failed = next((tmp_path / "staging").glob("failed-*.jsonl"))
    failed.write_bytes(failed.read_bytes() + b'{"u": 8, "reas')  # a torn line
    ok, bad = cutouts._Staging(tmp_path / "staging").scan()
    assert sorted(ok) == [0, 2] and bad == {7: "timeout"}
    reader = cutouts._Staging(tmp_path / "staging")
    for u in (0, 2):
        np.testing.assert_array_equal(reader.read(ok[u]), images[u])
    reader.close()


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


# --------------------------------------------------------------------------- CLI
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


# --------------------------------------------------------------------------- wrong endpoint
@pytest.mark.parametrize("wrong", ["path_404", "html_page"])
def test_wrong_endpoint_stops_early_with_one_line(tmp_path, wrong, capsys):
    from deepshadows_lib.cli import main
    n = 200
    cat = make_catalog(n, seed=11)
    cat.to_csv(tmp_path / "cat.csv", index=False)
    # a mistyped path answers 404; the viewer's pages answer 200 with HTML
    with FakeViewer(default_faults=["html"] if wrong == "html_page" else ["ok"]) as v:
        base = (v.base_url.replace("jpeg-cutout", "jpeg-cutuot") if wrong == "path_404"
                else v.base_url)
        t0 = time.monotonic()
        rc = main(["download", "--catalog", str(tmp_path / "cat.csv"), "--out",
                   str(tmp_path / "out"), "--base-url", base, "--workers", "4", "--rate",
                   "1000", "--retries", "5", "--timeout", "2", "--quiet"])
        seconds = time.monotonic() - t0
        n_requests = len(v.requests)  # requests that reached the cutout path
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert f"base URL {base} is not a cutout service" in err
    assert "a viewer cutout URL looks like https://www.legacysurvey.org/viewer/jpeg-cutout?ra=" \
        in err
    assert seconds < 20
    # stopped early: far fewer requests than objects, and not every object marked failed
    assert n_requests < 60
    status = tmp_path / "out" / "status.parquet"
    if status.exists():
        assert (cutouts.read_status(tmp_path / "out")["status"] == "failed").sum() < 60


def test_a_few_404s_among_good_answers_are_ordinary_failures(tmp_path):
    cat = make_catalog(30, seed=12)
    faults = {(cat.ra[i], cat.dec[i]): ["404"] for i in range(0, 30, 3)}
    with FakeViewer(faults=faults) as v:
        summary = cutouts.download(cat, tmp_path / "out", base_url=v.base_url, workers=4,
                                   **FAST)
    assert summary.ok == 20 and summary.failed == {"http_404": 10}


# --------------------------------------------------------------------------- colour
def test_sdss_rgb_equals_the_formula_pixel_by_pixel():
    import math
    rng = np.random.default_rng(7)
    g, r, z = (rng.normal(0.02, 0.2, (5, 6)) for _ in range(3))
    g[0, 0] = r[0, 0] = z[0, 0] = -0.03  # every band clipped: black, not NaN
    scales = {"g": (2, 6.0), "r": (1, 3.4), "z": (0, 2.2)}
    m, Q = 0.03, 20.0
    rgb = cutouts.sdss_rgb([g, r, z], scales=scales, m=m, Q=Q)
    assert rgb.shape == (5, 6, 3) and rgb.dtype == np.uint8
    for i in range(5):
        for j in range(6):
            x = {b: img[i, j] * scales[b][1] + m for b, img in zip("grz", (g, r, z))}
            total = sum(max(v, 0.0) for v in x.values()) / 3
            ratio = math.asinh(Q * total) / math.sqrt(Q) / (total if total else 1e-6)
            for b, v in x.items():
                want = min(max(v * ratio * 255 + 0.5, 0), 255)
                assert rgb[i, j, scales[b][0]] == int(want), (i, j, b)
    assert rgb[0, 0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="2 images for 3 bands"):
        cutouts.sdss_rgb([g, r], scales=scales, m=m, Q=Q)

"""Tests of deepshadows_lib.store: the on-disk format shared by every data source."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import store as st
from deepshadows_lib.errors import InputError


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
    cat = pd.DataFrame({"ra": rng.uniform(0, 360, n), "dec": rng.uniform(-60, 0, n),
                        "label": rng.integers(0, 2, n)})
    return images, cat


def test_roundtrip(tmp_path):
    images, cat = _data(37)
    st.write_store(tmp_path / "s", images, cat, attrs={"simulated": True, "survey": "des"},
                   chunk_size=10)
    got_images, got_cat = st.open_store(tmp_path / "s")
    assert got_images.dtype == np.uint8 and got_images.shape == (37, 64, 64, 3)
    np.testing.assert_array_equal(got_images, images)
    pd.testing.assert_frame_equal(got_cat, cat)
    s = st.open_store(tmp_path / "s", lazy=True)
    assert s.simulated and s.attrs["survey"] == "des" and s.chunk_size == 10
    np.testing.assert_array_equal(np.asarray(s.images[5:15]), images[5:15])
    blocks = list(st.iter_chunks(s))
    assert [b[0] for b in blocks] == [0, 10, 20, 30]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), images)


def test_content_hash_depends_on_content(tmp_path):
    images, cat = _data(12)
    st.write_store(tmp_path / "a", images, cat, chunk_size=5)
    st.write_store(tmp_path / "b", images, cat, chunk_size=5)
    images[3, 0, 0, 0] ^= 1
    st.write_store(tmp_path / "c", images, cat, chunk_size=5)
    h = [st.store_info(tmp_path / x)["content_sha256"] for x in "abc"]
    assert h[0] == h[1] != h[2]


def test_rejects_bad_arrays(tmp_path):
    images, cat = _data(3)
    with pytest.raises(ValueError, match="uint8"):
        st.write_store(tmp_path / "s", images.astype(float), cat)
    with pytest.raises(ValueError, match="shape"):
        st.write_store(tmp_path / "s", images[:, :32], cat)
    with pytest.raises(ValueError, match="rows"):
        st.write_store(tmp_path / "s", images, cat.iloc[:2])
    assert not (tmp_path / "s").exists()


def test_overwrite_guard(tmp_path):
    images, cat = _data(3)
    st.write_store(tmp_path / "s", images, cat)
    with pytest.raises(FileExistsError):
        st.write_store(tmp_path / "s", images, cat)
    st.write_store(tmp_path / "s", images[::-1].copy(), cat, overwrite=True)
    np.testing.assert_array_equal(st.open_store(tmp_path / "s").images, images[::-1])


def test_not_a_store(tmp_path):
    with pytest.raises(InputError, match="not a cutout store"):
        st.open_store(tmp_path)


def test_writer_resumes_and_equals_one_shot(tmp_path):
    images, cat = _data(25, seed=4)
    w = st.StoreWriter(tmp_path / "w", n=25, chunk_size=10, attrs={"job": "x"})
    assert w.pending == [0, 1, 2]
    w.write_chunk(1, images[10:20], cat.iloc[10:20])
    with pytest.raises(InputError, match="incomplete"):
        st.open_store(tmp_path / "w")
    # a new writer on the same job picks up where the first stopped
    w2 = st.StoreWriter(tmp_path / "w", n=25, chunk_size=10, attrs={"job": "x"})
    assert w2.done == [1] and w2.pending == [0, 2]
    for k in w2.pending:
        sl = w2.chunk_slice(k)
        w2.write_chunk(k, images[sl], cat.iloc[sl])
    s = w2.finalize()
    st.write_store(tmp_path / "ref", images, cat, chunk_size=10, attrs={"job": "x"})
    np.testing.assert_array_equal(np.asarray(s.images[:]), images)
    pd.testing.assert_frame_equal(s.catalog, cat)
    assert s.attrs["content_sha256"] == st.store_info(tmp_path / "ref")["content_sha256"]


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_writer_shrinks_to_the_images_it_got(tmp_path, order):
    # an appending writer (a download) learns its final size only at the end; chunks
    # written in order are hashed on the way, out of order the images are read back
    images, cat = _data(23, seed=5)
    w = st.StoreWriter(tmp_path / "w", n=30, chunk_size=10, attrs={"job": "x"})
    for k in order:
        w.write_chunk(k, images[10 * k:10 * k + 10], cat.iloc[10 * k:10 * k + 10])
    with pytest.raises(ValueError, match="cannot shrink"):
        w.shrink(31)
    w.shrink(23)
    assert w.pending == [2] and w.chunk_slice(2) == slice(20, 23)
    w.write_chunk(2, images[20:], cat.iloc[20:])
    s = w.finalize()
    st.write_store(tmp_path / "ref", images, cat, chunk_size=10, attrs={"job": "x"})
    np.testing.assert_array_equal(np.asarray(s.images[:]), images)
    pd.testing.assert_frame_equal(s.catalog, cat)
    assert s.attrs["n"] == 23 and s.attrs["n_chunks"] == 3
    assert s.attrs["content_sha256"] == st.store_info(tmp_path / "ref")["content_sha256"]


def test_writer_refuses_to_shrink_below_a_written_chunk(tmp_path):
    images, cat = _data(25, seed=6)
    w = st.StoreWriter(tmp_path / "w", n=25, chunk_size=10)
    w.write_chunk(2, images[20:], cat.iloc[20:])
    with pytest.raises(ValueError, match="chunk 2 is already written"):
        w.shrink(24)
    w.shrink(25)        # no change
    assert w.n == 25


def test_writer_refuses_a_different_job(tmp_path):
    st.StoreWriter(tmp_path / "w", n=5, chunk_size=2, attrs={"job": "a"})
    with pytest.raises(FileExistsError):
        st.StoreWriter(tmp_path / "w", n=5, chunk_size=2, attrs={"job": "b"})
    w = st.StoreWriter(tmp_path / "w", n=5, chunk_size=2, attrs={"job": "b"}, overwrite=True)
    assert w.done == []


_KILLED_WRITER = r"""
import sys, numpy as np, pandas as pd, os, signal
from deepshadows_lib.store import StoreWriter
n, cs = 40, 8
rng = np.random.default_rng(7)
images = rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
cat = pd.DataFrame({"ra": np.arange(n, dtype=float), "dec": np.zeros(n)})
w = StoreWriter(sys.argv[1], n=n, chunk_size=cs, attrs={"job": "k"})
for k in w.pending:
    if k == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)   # dies between two chunks, like kill -9
    sl = w.chunk_slice(k)
    w.write_chunk(k, images[sl], cat.iloc[sl])
w.finalize()
"""


@pytest.mark.slow  # spawns a process
def test_kill_9_then_resume_gives_the_same_store(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(_KILLED_WRITER)
    out = tmp_path / "s"
    first = subprocess.run([sys.executable, str(script), str(out), "3"], timeout=120)
    assert first.returncode == -9
    done = st.StoreWriter(out, n=40, chunk_size=8, attrs={"job": "k"}).done
    assert done == [0, 1, 2]
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "_parts").iterdir()}
    second = subprocess.run([sys.executable, str(script), str(out), "-1"], timeout=120)
    assert second.returncode == 0
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, str(script), str(ref), "-1"], timeout=120, check=True)
    a, b = st.open_store(out), st.open_store(ref)
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.catalog, b.catalog)
    assert a.attrs["content_sha256"] == b.attrs["content_sha256"]
    assert len(mtimes) == 3  # the three finished chunks were on disk before the rerun


# --------------------------------------------------------------------------- crash safety
# Each writer (simulate, download, classify) is killed with SIGKILL at random moments,
# >= 20 times in a row on the same output, each run resuming the previous one.  After
# every kill the output must be readable or refused with an InputError, and hold only
# complete objects equal to those of an uninterrupted run; the run after the last kill
# must finish and give exactly the uninterrupted run's output.
import json as _json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

N_KILLS = 20
HERE = Path(__file__).resolve().parent


class _Harness:
    """tests/crash_harness.py: forks warm children that run ``deepshadows`` commands."""

    def __init__(self):
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        self.proc = subprocess.Popen([sys.executable, str(HERE / "crash_harness.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, bufsize=1)
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, argv, **options):
        """Start ``argv``; ``options``: ``kill_at``, ``count_file`` (crash_harness.py)."""
        job = {"argv": [str(a) for a in argv], **{k: str(v) if k == "count_file" else v
                                                   for k, v in options.items()}}
        self.proc.stdin.write(_json.dumps(job) + "\n")
        self.proc.stdin.flush()
        kind, pid = self.proc.stdout.readline().split()
        assert kind == "pid"
        return int(pid)

    def wait(self):
        kind, code = self.proc.stdout.readline().split()
        assert kind == "exit"
        return int(code)

    def run(self, argv, **options):
        self.start(argv, **options)
        t0 = time.monotonic()
        return self.wait(), time.monotonic() - t0

    def kill_after(self, argv, delay):
        pid = self.start(argv)
        time.sleep(delay)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:  # it had finished
            pass
        return self.wait()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def harness():
    h = _Harness()
    yield h
    h.close()


def _no_temporaries(path):
    """Temporary files or directories of an atomic write left behind (zarr's own
    metadata files start with '.z')."""
    path = Path(path)
    stray = [p for p in path.rglob(".*") if not p.name.startswith(".z")]
    stray += list(path.parent.glob(f".{path.name}.*"))
    return stray


def _check_store(path, ref_images, ref_catalog, *, key=("ra", "dec")):
    """After a kill: the store is complete and equal to the reference, or refused with an
    InputError and every chunk it marks done equal to the reference's."""
    path = Path(path)
    if not (path / "store.json").exists():
        return "absent"
    info = st.store_info(path)  # readable: store.json is written atomically
    if info.get("complete"):
        images, catalog = st.open_store(path)
        np.testing.assert_array_equal(images, ref_images)
        pd.testing.assert_frame_equal(catalog, ref_catalog)
        return "complete"
    with pytest.raises(InputError, match="incomplete"):
        st.open_store(path)
    arr = st._open_array(path / st._IMAGES)
    cs = int(info["chunk_size"])
    for part in sorted((path / st._PARTS).glob("chunk-*.parquet")):
        k = int(part.stem.split("-")[1])
        rows = pd.read_parquet(part)
        sl = slice(k * cs, k * cs + len(rows))
        pd.testing.assert_frame_equal(rows, ref_catalog.iloc[sl].reset_index(drop=True))
        np.testing.assert_array_equal(np.asarray(arr[sl]), ref_images[sl])
    return "incomplete"


def _kill_repeatedly(harness, argv, check, *, seconds, seed, output):
    """Kill ``argv`` N_KILLS times at random moments within ``seconds``; check each time.

    A run that finished before its kill is checked, then its output is deleted, so that
    every one of the N_KILLS runs has work to be killed in.
    """
    rng = np.random.default_rng(seed)
    seen = []
    for _ in range(N_KILLS):
        code = harness.kill_after(argv, float(rng.uniform(0.0, seconds)))
        assert code in (0, 3, -signal.SIGKILL), f"the writer failed: exit {code}"
        seen.append(check())
        if seen[-1] == "complete":
            for path in output:
                shutil.rmtree(path, ignore_errors=True) if Path(path).is_dir() else \
                    Path(path).unlink(missing_ok=True)
    return seen


@pytest.mark.slow
def test_simulate_survives_kills_at_random_points(harness, tmp_path):
    common = ["simulate", "--n-per-class", 150, "--seed", 4, "--chunk-size", 25,
              "--workers", 1]
    code, seconds = harness.run(common + ["--out", tmp_path / "ref"])
    assert code == 0
    ref_images, ref_catalog = st.open_store(tmp_path / "ref")
    out = tmp_path / "run"
    states = _kill_repeatedly(
        harness, common + ["--out", out],
        lambda: _check_store(out, ref_images, ref_catalog), seconds=seconds, seed=1,
        output=[out])
    assert "incomplete" in states  # some kills did land while chunks were being written
    assert harness.run(common + ["--out", out])[0] == 0
    assert _check_store(out, ref_images, ref_catalog) == "complete"
    assert st.store_info(out)["content_sha256"] == st.store_info(tmp_path / "ref")[
        "content_sha256"]
    assert not _no_temporaries(out)


@pytest.mark.slow
def test_download_survives_kills_at_random_points(harness, tmp_path):
    from fake_viewer import FakeViewer  # noqa: E402  (tests/ is on sys.path)
    from deepshadows_lib import cutouts

    rng = np.random.default_rng(5)
    n = 120
    cat = pd.DataFrame({"ra": rng.uniform(0, 360, n).round(6),
                        "dec": rng.uniform(-60, 0, n).round(6)})
    cat.to_csv(tmp_path / "cat.csv", index=False)
    with FakeViewer(latency=0.01) as v:
        common = ["download", "--catalog", tmp_path / "cat.csv", "--base-url", v.base_url,
                  "--workers", 2, "--rate", 1000, "--chunk-size", 16, "--quiet"]
        code, seconds = harness.run(common + ["--out", tmp_path / "ref"])
        assert code == 0
        ref = st.open_store(tmp_path / "ref")
        out = tmp_path / "run"

        def check():
            state = _check_store(out, ref.images, ref.catalog)
            if (out / "status.parquet").exists():  # written atomically: always readable
                status = cutouts.read_status(out)
                assert len(status) == n and status["status"].isin(
                    ["ok", "failed", "pending"]).all()
            return state

        states = _kill_repeatedly(harness, common + ["--out", out], check, seconds=seconds,
                                  seed=2, output=[out])
        assert harness.run(common + ["--out", out])[0] == 0
    assert "absent" in states or "incomplete" in states
    assert _check_store(out, ref.images, ref.catalog) == "complete"
    pd.testing.assert_frame_equal(cutouts.read_status(out), cutouts.read_status(
        tmp_path / "ref"))
    assert not _no_temporaries(out)


@pytest.mark.slow
def test_classify_survives_kills_at_random_points(harness, tmp_path):
    from test_classify import make_model, make_store  # noqa: E402
    from deepshadows_lib import classify

    make_store(tmp_path / "s", 3000, chunk_size=100, seed=3)
    model = make_model(tmp_path / "m.keras", 1)
    common = ["classify", "--model", model, "--cutouts", tmp_path / "s", "--batch-size",
              100, "--quiet"]
    code, seconds = harness.run(common + ["--out", tmp_path / "ref.parquet"])
    assert code == 0
    ref = pd.read_parquet(tmp_path / "ref.parquet")
    out = tmp_path / "run.parquet"
    parts = classify.parts_dir(out)

    def check():
        return _classify_output_state(out, parts, ref, chunk=100)

    states = _kill_repeatedly(harness, common + ["--out", out], check, seconds=seconds,
                              seed=3, output=[out])
    assert "partial" in states
    if not out.exists():
        assert harness.run(common + ["--out", out])[0] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), ref)
    assert not parts.exists() and not _no_temporaries(tmp_path / "run.parquet")


# Random moments can miss a short window (a writer that marked a chunk done before its
# images were on disk went through 20 random kills unnoticed); these tests kill each
# writer just before every one of its commits (the renames that end each atomic write,
# crash_harness.py), on a fresh output each time, check what is left, then resume it.
def _remove(path):
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _kill_at_every_commit(harness, argv, check, *, output, tmp_path, points=24):
    count = tmp_path / "commits.txt"
    assert harness.run(argv, count_file=count)[0] == 0
    n = int(count.read_text())
    for path in output:
        _remove(path)
    ks = sorted({int(k) for k in np.linspace(1, n, min(n, points)).round()})
    assert len(ks) >= min(n, 20)
    states = []
    for k in ks:
        assert harness.run(argv, kill_at=k)[0] == -signal.SIGKILL, f"commit {k} of {n}"
        states.append(check())
        assert harness.run(argv)[0] == 0, f"no resume after a kill at commit {k} of {n}"
        assert check() == "complete", f"after a kill at commit {k} of {n}"
        for path in output:
            _remove(path)
    return n, states


@pytest.mark.slow
def test_simulate_killed_before_each_commit_leaves_complete_objects_and_resumes(harness,
                                                                               tmp_path):
    common = ["simulate", "--n-per-class", 40, "--seed", 4, "--chunk-size", 10,
              "--workers", 1]
    assert harness.run(common + ["--out", tmp_path / "ref"])[0] == 0
    ref_images, ref_catalog = st.open_store(tmp_path / "ref")
    out = tmp_path / "run"
    n, states = _kill_at_every_commit(
        harness, common + ["--out", out], lambda: _check_store(out, ref_images, ref_catalog),
        output=[out], tmp_path=tmp_path)
    assert n >= 8 and "incomplete" in states


@pytest.mark.slow
def test_download_killed_before_each_commit_leaves_complete_objects_and_resumes(harness,
                                                                               tmp_path):
    from fake_viewer import FakeViewer  # noqa: E402  (tests/ is on sys.path)
    from deepshadows_lib import cutouts
    from deepshadows_lib.cutouts.download import _BUILD

    rng = np.random.default_rng(6)
    n = 40
    pd.DataFrame({"ra": rng.uniform(0, 360, n).round(6),
                  "dec": rng.uniform(-60, 0, n).round(6)}).to_csv(tmp_path / "cat.csv",
                                                                   index=False)
    with FakeViewer() as v:
        common = ["download", "--catalog", tmp_path / "cat.csv", "--base-url", v.base_url,
                  "--workers", 2, "--rate", 1000, "--chunk-size", 8, "--quiet"]
        assert harness.run(common + ["--out", tmp_path / "ref"])[0] == 0
        ref = st.open_store(tmp_path / "ref")
        out = tmp_path / "run"

        def check():
            state = _check_store(out, ref.images, ref.catalog)
            if (out / "status.parquet").exists():
                assert len(cutouts.read_status(out)) == n
            if state == "absent" and (out / _BUILD / "images").exists():
                # assembled aside, then swapped in (a kill while swapping: rebuilt)
                state = _check_store(out / _BUILD, ref.images, ref.catalog)
            return state

        count, states = _kill_at_every_commit(harness, common + ["--out", out], check,
                                              output=[out], tmp_path=tmp_path)
    assert count >= 5 and "incomplete" in states


def _classify_output_state(out, parts, ref, *, chunk, whole_chunks=False):
    """What a killed classify left: the joined table (equal to ``ref``), complete parts
    (each equal to its rows of ``ref``; ``whole_chunks``: every part a full chunk), or
    nothing."""
    if out.exists():  # joined atomically: complete and right, or absent
        pd.testing.assert_frame_equal(pd.read_parquet(out), ref)
        return "complete"
    for part in sorted(parts.glob("chunk-*.parquet")) if parts.is_dir() else []:
        k = int(part.stem.split("-")[1])
        got = pd.read_parquet(part)
        want = ref["p_lsbg"].to_numpy()[k * chunk:k * chunk + len(got)]
        if whole_chunks:
            assert len(got) == len(want) == chunk
        np.testing.assert_array_equal(got["p_lsbg"].to_numpy(), want)
    return "partial" if parts.is_dir() else "absent"


@pytest.mark.slow
def test_classify_killed_before_each_commit_leaves_complete_parts_and_resumes(harness,
                                                                             tmp_path):
    from test_classify import make_model, make_store  # noqa: E402
    from deepshadows_lib import classify

    make_store(tmp_path / "s", 600, chunk_size=50, seed=3)
    model = make_model(tmp_path / "m.keras", 1)
    common = ["classify", "--model", model, "--cutouts", tmp_path / "s", "--batch-size",
              50, "--quiet"]
    assert harness.run(common + ["--out", tmp_path / "ref.parquet"])[0] == 0
    ref = pd.read_parquet(tmp_path / "ref.parquet")
    out = tmp_path / "run.parquet"
    parts = classify.parts_dir(out)

    def check():
        return _classify_output_state(out, parts, ref, chunk=50, whole_chunks=True)

    n, states = _kill_at_every_commit(harness, common + ["--out", out], check,
                                      output=[out, parts], tmp_path=tmp_path)
    assert n >= 12 and "partial" in states


def test_shared_simulated_store_reads_back_what_was_written(simulated_store, simulated_objects):
    images, catalog = simulated_objects
    s = st.open_store(simulated_store)
    assert len(s) == len(images)
    np.testing.assert_array_equal(s.images[:], images)
    pd.testing.assert_frame_equal(s.catalog[list(catalog.columns)].reset_index(drop=True),
                                  catalog.reset_index(drop=True), check_dtype=False)

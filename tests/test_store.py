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

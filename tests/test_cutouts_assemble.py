"""Tests of deepshadows_lib.cutouts.assemble: the store written while the answers come in."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import cutouts, store
from deepshadows_lib.cutouts.assemble import StoreAssembler


def _setup(tmp_path, *, chunk_size=3):
    """11 catalog rows over 9 positions (rows 4 and 9 repeat positions 1 and 6)."""
    rng = np.random.default_rng(3)
    codes = np.array([0, 1, 2, 3, 1, 4, 5, 6, 7, 6, 8])
    images = rng.integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    catalog = pd.DataFrame({"ra": codes * 1.5, "dec": -np.arange(11.0),
                            "name": [f"obj{r}" for r in range(11)]})
    staging = cutouts.Staging(tmp_path / "staging")
    ok = {}
    asm = StoreAssembler(tmp_path / "build", catalog, codes, range(9), ok, staging,
                         attrs={"job": "t"}, chunk_size=chunk_size)
    return asm, codes, images, catalog, staging, ok


def _answer(asm, staging, ok, images, u, good):
    if good:
        ok[u] = staging.add_ok(u, images[u])
    asm.resolve(u)


def test_chunks_are_written_as_the_head_of_the_catalog_resolves(tmp_path):
    asm, codes, images, catalog, staging, ok = _setup(tmp_path)
    failing = {3, 7}
    # answers arrive out of order; a chunk is written once its rows are all resolved
    for u in (1, 0, 5):
        _answer(asm, staging, ok, images, u, u not in failing)
        asm.advance()
    assert asm.writer.done == []          # row 2 (position 2) is still awaited
    _answer(asm, staging, ok, images, 2, True)
    asm.advance()
    assert asm.writer.done == [0]         # rows 0, 1, 2 (ok), before the last answer
    for u in (3, 4, 6, 8, 7):
        _answer(asm, staging, ok, images, u, u not in failing)
        asm.advance()
    rows = asm.finish(n_failed=2)
    want = np.array([r for r in range(11) if codes[r] not in failing])
    np.testing.assert_array_equal(rows, want)
    got = store.open_store(tmp_path / "build")
    np.testing.assert_array_equal(got.images, images[codes[want]])
    pd.testing.assert_frame_equal(got.catalog, catalog.iloc[want].reset_index(drop=True))
    assert got.attrs["n_failed"] == 2 and got.attrs["complete"]
    # the same store as one written at once (the hash kept on the way equals a reread)
    store.write_store(tmp_path / "ref", images[codes[want]],
                      catalog.iloc[want].reset_index(drop=True), chunk_size=3)
    assert got.attrs["content_sha256"] == store.store_info(tmp_path / "ref")["content_sha256"]


def test_nothing_ok_gives_an_empty_store_and_awaited_positions_refuse_to_finish(tmp_path):
    asm, codes, images, catalog, staging, ok = _setup(tmp_path)
    with pytest.raises(RuntimeError, match="still awaited"):
        asm.finish()
    for u in range(9):
        _answer(asm, staging, ok, images, u, False)
    assert len(asm.finish()) == 0
    assert len(store.open_store(tmp_path / "build")) == 0


def test_discard_removes_the_partial_store(tmp_path):
    asm, codes, images, catalog, staging, ok = _setup(tmp_path, chunk_size=1)
    _answer(asm, staging, ok, images, 0, True)
    asm.advance()
    assert (tmp_path / "build").is_dir() and asm.writer.done == [0]
    asm.discard()
    assert not (tmp_path / "build").exists()

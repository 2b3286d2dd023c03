"""Tests of deepshadows_lib._io: results made JSON-ready in one place; atomic writes."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib._io import atomic_dir, atomic_path, atomic_write_text, json_ready


def test_numpy_paths_and_frames_become_plain_json():
    obj = {1: np.arange(3), "f": np.float32(0.5), "nan": np.nan, "inf": np.float64(np.inf),
           "b": np.bool_(True), "p": Path("a/b.keras"), "t": (np.int64(2), 3.0),
           "df": pd.DataFrame({"x": [1, 2]}, index=pd.Index([5, 6], name="seed"))}
    out = json_ready(obj)
    assert out == {"1": [0, 1, 2], "f": 0.5, "nan": None, "inf": None, "b": True,
                   "p": "a/b.keras", "t": [2, 3.0], "df": {"seed": [5, 6], "x": [1, 2]}}
    json.dumps(out, allow_nan=False)  # raises on anything left over
    assert type(out["b"]) is bool and type(out["t"][0]) is int


def test_drop_leaves_out_items_at_every_depth():
    obj = {"model": object(), "runs": [{"model": 1, "acc": np.float64(0.9)}]}
    out = json_ready(obj, drop=lambda k, v: k == "model")
    assert out == {"runs": [{"acc": 0.9}]}



@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_atomic_files_get_the_users_usual_permissions_not_mkstemps(tmp_path, umask_027):
    # mkstemp's 0600 would keep colleagues (and a web server publishing a model) out
    atomic_write_text(tmp_path / "a.csv", "x\n")
    with atomic_path(tmp_path / "b.json") as tmp:
        tmp.write_text("{}")
    for name in ("a.csv", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640


def test_atomic_directories_get_the_users_usual_permissions(tmp_path, umask_027):
    with atomic_dir(tmp_path / "store.zarr") as tmp:
        (tmp / "x").write_text("1")
    assert stat.S_IMODE((tmp_path / "store.zarr").stat().st_mode) == 0o750

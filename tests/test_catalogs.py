"""Tests of deepshadows_lib.catalogs: shipped data, validation, bad input, splits."""

import hashlib
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import catalogs
from deepshadows_lib.errors import InputError, MissingDataError

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "data" / "bad_catalogs"
SHARED_README = ROOT.parent / "shared" / "datasets" / "README.md"
PAPER_SEEDS = (1, 3, 18, 33, 42, 96)


def _published_sums():
    """SHA-256 sums as published with the data (shared/datasets/README.md) or, in a clone
    without ../shared, as copied into Datasets/README.md."""
    readme = SHARED_README if SHARED_README.exists() else ROOT / "Datasets" / "README.md"
    sums = dict((name, digest) for digest, name in
                re.findall(r"^\s*([0-9a-f]{64})\s+(\S+)\s*$", readme.read_text(), re.M))
    assert len(sums) == 5, f"expected five sums in {readme}"
    return sums


@pytest.mark.parametrize("name", ["Baseline_training.csv", "Baseline_validation.csv",
                                  "Baseline_test.csv", "hsc_LSBGs.dat", "hsc_artifacts.csv"])
def test_shipped_catalog_checksum(name):
    digest = hashlib.sha256((ROOT / "Datasets" / name).read_bytes()).hexdigest()
    assert digest == _published_sums()[name]


def test_shipped_catalog_sizes_and_schema():
    splits = catalogs.load_baseline_splits()
    assert {k: len(v) for k, v in splits.items()} == {"training": 30000, "validation": 5000,
                                                       "test": 5000}
    for df in splits.values():
        assert list(df.columns) == ["ra", "dec"]
        assert df["ra"].between(0, 360).all() and df["dec"].between(-90, 90).all()
    lsbg, art = catalogs.load_hsc_lsbgs(), catalogs.load_hsc_artifacts()
    assert lsbg.shape == (781, 18) and art.shape == (641, 12)
    assert list(lsbg.columns) == catalogs.HSC_LSBG_COLUMNS
    # r_e in arcsec and mu_0 in mag/arcsec^2: the published ranges of Greco et al. (2018)
    assert lsbg["r_e"].between(2.5, 20).all()
    assert lsbg["mu_0"].between(17, 27).all() and lsbg["ell"].between(0, 0.7).all()
    assert (lsbg["g-i"] > lsbg["g-r"]).mean() > 0.9  # g-i is the wider colour
    X, y = catalogs.load_hsc_features()
    assert list(X.columns) == catalogs.HSC_COMMON_FEATURES
    assert y.sum() == 781 and len(y) == 1422


def test_duplicates_are_reported_not_rejected():
    # 779 positions of the paper's files appear in more than one split; some repeat
    # within a file too.  They are counted and warned about, and the data are kept.
    with pytest.warns(UserWarning, match="repeat an earlier position"):
        df = catalogs.read_catalog(ROOT / "Datasets" / "Baseline_training.csv")
    assert len(df) == 30000
    assert df.attrs["duplicates"] > 0
    # the count is that of exact repeats, checked independently
    assert df.attrs["duplicates"] == df.round(6).duplicated().sum()


def test_repeated_positions_across_the_three_splits():
    # shared/datasets: 779 positions recur in the paper's baseline files (the class
    # catalogs themselves hold repeats); counted over the three files together
    splits = catalogs.load_baseline_splits()
    cat = pd.concat(list(splits.values()), ignore_index=True)
    assert catalogs.validate_catalog(cat).attrs["duplicates"] == 779
    assert cat.round(6).duplicated().sum() == 779


_EXPECTED = pd.read_csv(BAD / "expected.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("row", _EXPECTED.to_dict("records"), ids=list(_EXPECTED["file"]))
def test_bad_catalog_raises_one_clear_line(row):
    path = BAD / row["file"]
    with pytest.raises(InputError) as info:
        catalogs.read_catalog(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg
    assert row["message"] in msg
    if row["line"]:
        assert f"line {row['line']}" in msg
    if row["column"]:
        assert f"column '{row['column']}'" in msg


@pytest.mark.slow  # spawns a process
@pytest.mark.parametrize("name", list(_EXPECTED["file"]))
def test_bad_catalog_cli_exit_2_without_traceback(name):
    proc = subprocess.run([sys.executable, "-m", "deepshadows_lib.cli", "check",
                           str(BAD / name)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert name in lines[0]


@pytest.mark.slow  # spawns a process
def test_good_catalog_cli_exit_0(tmp_path):
    path = tmp_path / "coords.csv"
    pd.DataFrame({"ra": [10.0, 20.0], "dec": [-5.0, 5.0], "name": ["a", "b"]}).to_csv(
        path, index=False)
    proc = subprocess.run([sys.executable, "-m", "deepshadows_lib.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "2 rows" in proc.stdout


def test_parquet_and_boundaries(tmp_path):
    path = tmp_path / "coords.parquet"
    pd.DataFrame({"ra": [0.0, 359.999], "dec": [-90.0, 90.0]}).to_parquet(path)
    df = catalogs.read_catalog(path)
    assert len(df) == 2
    pd.DataFrame({"ra": [360.0], "dec": [0.0]}).to_parquet(path)
    with pytest.raises(InputError, match="out of range"):
        catalogs.read_catalog(path)


def test_class_catalog_missing_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSHADOWS_DATA", str(tmp_path))
    assert catalogs.data_dir() == tmp_path
    with pytest.raises(MissingDataError) as info:
        catalogs.load_class_catalog("artifact2")
    msg = str(info.value)
    assert "random_negative_all_2.csv" in msg
    assert str(tmp_path / "random_negative_all_2.csv") in msg
    assert "DEEPSHADOWS_DATA" in msg


def _fake_class_catalog(path, n, seed):
    rng = np.random.default_rng(seed)
    cols = {"coadd_id": np.arange(n), "ra": rng.uniform(0, 360, n),
            "dec": rng.uniform(-60, 0, n)}
    for c in catalogs.CLASS_COLUMNS[3:]:
        cols[c] = rng.normal(24, 1, n)
    pd.DataFrame(cols).to_csv(path, index=False)


def test_class_catalogs_found_in_data_dir_with_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSHADOWS_DATA", str(tmp_path))
    _fake_class_catalog(tmp_path / "random_LSBGs_all.csv", 30, 1)
    _fake_class_catalog(tmp_path / "random_negative_all_2.csv", 20, 2)
    df = catalogs.load_class_catalogs(("lsbg", "artifact2"))
    assert len(df) == 50
    assert df["label"].tolist() == [1] * 30 + [0] * 20
    assert set(df["class_name"]) == {"lsbg", "artifact2"}
    assert (df["class_index"] == df["label"]).all()


def test_class_catalog_bad_column_is_named(tmp_path):
    path = tmp_path / "random_LSBGs_all.csv"
    _fake_class_catalog(path, 5, 0)
    df = pd.read_csv(path).drop(columns=["mu_eff_model_r"])
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match="mu_eff_model_r"):
        catalogs.read_catalog(path)


@pytest.mark.parametrize("seed", PAPER_SEEDS)
def test_random_split_sizes_and_reproducibility(seed):
    from sklearn.model_selection import train_test_split
    split = catalogs.random_split(40000, seed=seed)
    assert {k: len(v) for k, v in split.items()} == {"train": 30000, "validation": 5000,
                                                     "test": 5000}
    allidx = np.concatenate(list(split.values()))
    assert len(np.unique(allidx)) == 40000
    again = catalogs.random_split(np.zeros((40000, 2)), seed=seed)
    for k in split:
        np.testing.assert_array_equal(split[k], again[k])
    # the paper's two calls, written out
    X = np.arange(40000)
    X_train, X_rest = train_test_split(X, test_size=0.25, random_state=seed)
    X_val, X_test = train_test_split(X_rest, test_size=0.5, random_state=seed)
    np.testing.assert_array_equal(split["train"], X_train)
    np.testing.assert_array_equal(split["validation"], X_val)
    np.testing.assert_array_equal(split["test"], X_test)


def test_random_split_differs_between_seeds():
    a, b = catalogs.random_split(1000, seed=1), catalogs.random_split(1000, seed=3)
    assert not np.array_equal(a["test"], b["test"])


def test_three_class_split_sizes():
    split = catalogs.random_split(60000, seed=42)
    assert [len(split[k]) for k in ("train", "validation", "test")] == [45000, 7500, 7500]


def test_baseline_split_recovers_the_paper_split_from_positions():
    # A catalog holding the paper's objects in another order, with sub-arcsecond
    # astrometric scatter: matching by position must give back 30,000 / 5,000 / 5,000 and
    # put every object in the split its position came from.
    splits = catalogs.load_baseline_splits()
    cat = pd.concat([splits[s].assign(origin=s) for s in splits], ignore_index=True)
    rng = np.random.default_rng(0)
    cat = cat.iloc[rng.permutation(len(cat))].reset_index(drop=True)
    jitter = 0.2 / 3600
    cat["ra"] = (cat["ra"] + rng.uniform(-jitter, jitter, len(cat))) % 360
    cat["dec"] = cat["dec"] + rng.uniform(-jitter, jitter, len(cat))
    split = catalogs.baseline_split(cat)
    assert split["unmatched"] == 0
    assert [len(split[k]) for k in ("train", "validation", "test")] == [30000, 5000, 5000]
    for key, origin in (("train", "training"), ("validation", "validation"), ("test", "test")):
        # repeated positions can swap between splits; all others must come home
        share = (cat.loc[split[key], "origin"] == origin).mean()
        assert share > 0.97
    again = catalogs.baseline_split(cat)
    for k in ("train", "validation", "test"):
        np.testing.assert_array_equal(split[k], again[k])


def test_baseline_split_of_foreign_catalog_is_an_input_error():
    cat = pd.DataFrame({"ra": [1.0, 2.0], "dec": [80.0, 81.0]})
    with pytest.raises(InputError, match="baseline"):
        catalogs.baseline_split(cat)


def test_paper_split_falls_back_to_random_for_synthetic_data():
    cat = pd.DataFrame({"ra": np.linspace(1, 2, 400), "dec": np.zeros(400),
                        "simulated": True})
    split = catalogs.paper_split(cat, seed=3)
    assert split["kind"] == "random"
    np.testing.assert_array_equal(split["test"], catalogs.random_split(400, seed=3)["test"])


def test_match_positions_pairs_repeats_one_to_one():
    ra1 = np.array([10.0, 10.0, 20.0])
    dec1 = np.array([0.0, 0.0, 5.0])
    ra2 = np.array([20.0, 10.0, 10.0, 30.0])
    dec2 = np.array([5.0, 0.0, 0.0, 5.0])
    i1, i2 = catalogs.match_positions(ra1, dec1, ra2, dec2)
    assert sorted(zip(i1.tolist(), i2.tolist())) in ([(0, 1), (1, 2), (2, 0)],
                                                     [(0, 2), (1, 1), (2, 0)])


def test_validate_catalog_on_dataframe_names_row():
    df = pd.DataFrame({"ra": [1.0, 2.0, np.nan], "dec": [0.0, 0.0, 0.0]})
    with pytest.raises(InputError, match=r"line 4, column 'ra'"):
        catalogs.validate_catalog(df, path="mem.csv")


def test_no_duplicates_no_warning(tmp_path):
    path = tmp_path / "c.csv"
    pd.DataFrame({"ra": [1.0, 2.0], "dec": [0.0, 0.0]}).to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = catalogs.read_catalog(path)
    assert df.attrs["duplicates"] == 0


# --------------------------------------------------------------------------- fuzzing
# Property-based: generated catalogs, good and bad (tests/catalog_strategies.py).
import contextlib  # noqa: E402
import io  # noqa: E402
import tempfile  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from catalog_strategies import any_case  # noqa: E402  (tests/ is on sys.path)

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _names(msg, path, expect):
    """Check that an error message is one line naming the file, line and column."""
    assert "\n" not in msg.strip(), msg
    assert str(path) in msg, msg
    if expect["line"] is not None:
        assert re.search(rf"\bline {expect['line']}\b", msg), (msg, expect)
    if expect["column"] is not None:
        assert f"column '{expect['column']}'" in msg, (msg, expect)


@FUZZ
@given(case=any_case())
def test_fuzzed_catalogs_read_or_fail_with_one_line_naming_row_and_column(case):
    data, suffix, expect = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"catalog{suffix}"
        path.write_bytes(data)
        if expect is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # repeated positions
                df = catalogs.read_catalog(path)
            ra, dec = df["ra"].to_numpy(), df["dec"].to_numpy()
            assert ra.dtype == float and dec.dtype == float
            assert ((0 <= ra) & (ra < 360)).all() and ((-90 <= dec) & (dec <= 90)).all()
        else:
            with pytest.raises(InputError) as info:
                catalogs.read_catalog(path)
            _names(str(info.value), path, expect)


@FUZZ
@given(data=st.one_of(st.binary(max_size=400),
                      st.text(max_size=400).map(lambda t: ("ra,dec\n" + t).encode())))
def test_arbitrary_bytes_are_a_catalog_or_one_input_error(data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "catalog.csv"
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = catalogs.read_catalog(path)
        except InputError as exc:
            _names(str(exc), path, {"line": None, "column": None})
        else:
            ra, dec = df["ra"].to_numpy(), df["dec"].to_numpy()
            assert ra.dtype == float and np.isfinite(ra).all() and np.isfinite(dec).all()
            assert ((0 <= ra) & (ra < 360)).all() and ((-90 <= dec) & (dec <= 90)).all()


def _cli(argv):
    """Run the command line in this process: (exit status, stdout, stderr).

    An exception other than those the command line turns into a status escapes and fails
    the test: that would have been a traceback.
    """
    from deepshadows_lib.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@FUZZ
@given(case=any_case())
def test_fuzzed_catalogs_check_and_download_exit_2_and_write_nothing(case):
    data, suffix, expect = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"catalog{suffix}"
        path.write_bytes(data)
        rc, out, err = _cli(["check", path])
        if expect is None:
            assert rc == 0 and "ok" in out
            return
        assert rc == 2 and not out
        _names(err, path, expect)
        # download reads the catalog before it writes or asks anything: port 9 discards
        rc, out, err = _cli(["download", "--catalog", path, "--out", Path(d) / "store",
                             "--base-url", "http://127.0.0.1:9/jpeg-cutout", "--quiet",
                             "--retries", "0", "--timeout", "0.2"])
        assert rc == 2, err
        _names(err, path, expect)
        assert not (Path(d) / "store").exists()


def test_a_boolean_coordinate_is_named_as_the_user_wrote_it(tmp_path):
    path = tmp_path / "flags.csv"
    path.write_text("ra,dec\nTrue,1\nFalse,2\n")
    with pytest.raises(InputError) as info:
        catalogs.read_catalog(path)
    msg = str(info.value)
    assert "line 2, column 'ra': value True is a boolean, not a number" in msg, msg
    assert "np." not in msg

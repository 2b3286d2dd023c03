"""Tests of deepshadows_lib.realism (real vs synthetic cutout statistics)."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import realism, simulate
from deepshadows_lib.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
FIGURE = ROOT.parent / "shared" / "reference" / "original_figures" / "Grad_CAM.png"
FIGURES = [FIGURE, Path("/work/shared/reference/original_figures/Grad_CAM.png")]
FIGURE = next((f for f in FIGURES if f.is_file()), None)
needs_figure = pytest.mark.skipif(FIGURE is None, reason="the paper's Fig. 6 is not here")


def _sky(seed=0, level=40, sigma=(6.0, 3.0, 4.0)):
    rng = np.random.default_rng(seed)
    x = level + rng.standard_normal((64, 64, 3)) * np.asarray(sigma)
    return x


def _u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def test_sky_and_noise_of_a_white_noise_image():
    st = realism.image_statistics(_u8(_sky())[None]).iloc[0]
    for ch, sig in zip("rgb", (6.0, 3.0, 4.0)):
        assert st[f"sky_{ch}"] == pytest.approx(40, abs=0.6)
        # the high-pass has unit gain on white noise (rounding to integers adds 1/12)
        assert st[f"noise_{ch}"] == pytest.approx(math.sqrt(sig ** 2 + 1 / 12), rel=0.08)
    assert abs(st.noise_corr) < 0.08
    assert st.n_saturated == 0 and st.bleed_length == 0 and np.isnan(st.bright_g_r)
    assert st.src_density == 0 and np.isnan(st.src_g_r)


def test_correlated_noise_is_seen_as_correlated():
    # a 2-tap moving average along x and y: lag-1 correlation 0.5 before the median
    # filter of the statistic takes the large scales out
    x = np.random.default_rng(1).standard_normal((65, 65, 3)) * 5
    x = 0.5 * (x[1:, :] + x[:-1, :])
    x = 0.5 * (x[:, 1:] + x[:, :-1])
    st = realism.image_statistics(_u8(40 + x)[None]).iloc[0]
    assert st.noise_corr > 0.25


def test_sources_saturation_bleed_and_centre_are_counted():
    x = _sky(level=30, sigma=(1.0, 1.0, 1.0))
    # three compact red sources in the field, far apart: R > G > B above the sky
    for (i, j) in [(10, 10), (10, 50), (52, 12)]:
        x[i - 1:i + 2, j - 1:j + 2] += np.array([150.0, 90.0, 60.0])
    # a saturated vertical trail 15 pixels long, 2 wide, near the top edge of the field
    trail = x.copy()
    trail[30:45, 55:57] = 255.0
    st = realism.image_statistics(_u8(trail)[None]).iloc[0]
    assert st.n_saturated == 30 and st.bleed_length == 15
    # a blue central object: B - R = 20, G - R = 10 above the sky, 40 in luminance
    yy, xx = np.mgrid[0:64, 0:64]
    core = np.hypot(yy - 31.5, xx - 31.5) < 6
    x[core] += np.array([30.0, 40.0, 50.0])
    st = realism.image_statistics(_u8(x)[None]).iloc[0]
    field = np.hypot(yy - 31.5, xx - 31.5) >= 10
    assert st.src_density == round(1000 * 3 / field.sum(), realism.DECIMALS)
    # peak colours, sky subtracted: G - R = -60, B - R = -90
    assert st.src_g_r == pytest.approx(-60, abs=2) and st.src_b_r == pytest.approx(-90, abs=2)
    assert st.n_saturated == 0
    assert st.centre_1 == pytest.approx(40, abs=1.0)
    assert st.centre_g_r == pytest.approx(10, abs=1.0)
    assert st.centre_b_r == pytest.approx(20, abs=1.0)


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match="64, 64, 3"):
        realism.image_statistics(np.zeros((2, 32, 32, 3), np.uint8))


def test_compare_reports_median_inside_the_real_iqr():
    real = pd.DataFrame({s: np.arange(1.0, 37.0) for s in realism.STATISTICS})
    syn = pd.DataFrame({s: np.full(10, 18.0) for s in realism.STATISTICS})
    syn["noise_r"] = 40.0
    table = realism.compare(real, syn)
    q = np.percentile(np.arange(1.0, 37.0), [25, 50, 75])
    assert table.loc["sky_r", ["real_q25", "real_median", "real_q75"]].tolist() == list(q)
    assert table.inside_iqr.drop("noise_r").all() and not table.loc["noise_r", "inside_iqr"]


@pytest.mark.slow
def test_classifier_auc_is_half_for_one_population_and_one_for_two():
    rng = np.random.default_rng(0)
    a = pd.DataFrame(rng.normal(size=(36, len(realism.STATISTICS))),
                     columns=realism.STATISTICS)
    b = pd.DataFrame(rng.normal(size=(120, len(realism.STATISTICS))),
                     columns=realism.STATISTICS)
    same = realism.classifier_auc(a, b, repeats=2)
    assert 0.3 < same["auc"] < 0.7 and same["n_real"] == 36
    far = realism.classifier_auc(a + 3.0, b, repeats=2)
    assert far["auc"] > 0.97


def test_statistics_have_the_precision_of_the_shipped_file():
    """Measured statistics carry the shipped file's decimals, so that a classifier cannot
    tell the real set from the synthetic one by the number of digits."""
    images = np.stack([_u8(_sky(seed=k, level=30 + k)) for k in range(4)])
    st = realism.image_statistics(images)
    values = st.to_numpy(float)
    values = values[np.isfinite(values)]
    np.testing.assert_array_equal(values, np.round(values, realism.DECIMALS))
    shipped = realism.load_real_statistics()[realism.STATISTICS].to_numpy(float)
    shipped = shipped[np.isfinite(shipped)]
    np.testing.assert_array_equal(shipped, np.round(shipped, realism.DECIMALS))


@pytest.mark.slow
def test_one_population_through_the_shipped_file_is_not_told_apart(sample, monkeypatch):
    """30 cutouts measured and written as the real statistics are (the script's CSV) and
    read back, against the other 50 of the same population measured directly: a forest
    on the source density (count / area, a discrete statistic) cannot tell them apart.
    Before the statistics were rounded as the file is, the two sets differed in the fifth
    decimal (1.5873 against 1.58730159) and it did, with AUC ~0.9."""
    import io
    from deepshadows_lib.realism import classifier
    images, _ = sample
    st = realism.image_statistics(images)
    text = st.iloc[:30].to_csv(index=False, float_format=f"%.{realism.DECIMALS}f")
    as_shipped = pd.read_csv(io.StringIO(text))
    monkeypatch.setattr(classifier, "STATISTICS", ["src_density"])
    auc = realism.classifier_auc(as_shipped, st.iloc[30:], repeats=4)["auc"]
    assert auc < 0.7, auc


def test_the_shipped_real_statistics_are_the_36_cutouts():
    real = realism.load_real_statistics()
    assert len(real) == 36
    assert real.class_name.value_counts().to_dict() == {"artifact2": 18, "lsbg": 18}
    assert set(real.group) == {"TN", "FP", "FN", "TP"}
    assert real[realism.STATISTICS].notna().sum().min() >= 25


def test_missing_statistics_file_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="extract_real_stats"):
        realism.load_real_statistics(tmp_path / "nope.csv")


@pytest.mark.slow
@needs_figure
def test_script_reproduces_the_shipped_statistics(tmp_path):
    out = tmp_path / "stats.csv"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_real_stats.py"),
                        str(FIGURE), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    new = realism.load_real_statistics(out)
    shipped = realism.load_real_statistics()
    pd.testing.assert_frame_equal(new, shipped)
    # a wrong figure: one line, exit status 2, nothing written
    bad = tmp_path / "bad.png"
    from PIL import Image
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(bad)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_real_stats.py"),
                        str(bad), "--out", str(tmp_path / "x.csv")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not the paper's Fig. 6" in r.stderr
    assert not (tmp_path / "x.csv").exists()


@needs_figure
def test_round_trip_reproduces_the_figure_pixel_structure():
    # the figure's panels: few equal neighbouring pixels (not clean nearest blocks)
    from PIL import Image
    fig = np.asarray(Image.open(FIGURE).convert("RGB")).astype(int)
    panel = fig[523:653, 24:154, 0]
    real_equal = (np.diff(panel, axis=1) == 0).mean()
    im = np.asarray(simulate.simulate_one("lsbg", 0, seed=1)[0])
    big = Image.fromarray(im).resize((131 * 4,) * 2, Image.NEAREST).resize((131, 131),
                                                                           Image.LANCZOS)
    ours = (np.diff(np.asarray(big)[:130, :130, 0].astype(int), axis=1) == 0).mean()
    plain = (np.diff(np.asarray(Image.fromarray(im).resize((131, 131), Image.NEAREST))
                     [:130, :130, 0].astype(int), axis=1) == 0).mean()
    assert real_equal < 0.1 and ours < 0.12 and plain > 0.4
    # and a round trip keeps a cutout's shape and type
    rt = realism.figure_round_trip(im[None])
    assert rt.shape == (1, 64, 64, 3) and rt.dtype == np.uint8


@pytest.fixture(scope="module")
def sample():
    return simulate.simulate_objects(n_per_class=40, seed=3, classes=("lsbg", "artifact2"))


@pytest.mark.slow
def test_synthetic_cutouts_match_the_real_statistics(sample):
    """The realism check on a small sample: medians inside the real IQR, AUC <= 0.8.

    The issue's goal is 0.75; generator 2.0 gives about 0.70 on 400 cutouts of the
    default run (figures/realism_auc.json), but 80 cutouts scatter more, so this guards
    against losing the calibration, not the goal itself.
    """
    images, cat = sample
    rep = realism.realism_report(images, cat, seed=0)
    table = rep["table"]
    # 80 synthetic images: a median may sit just outside an edge by sampling noise;
    # allow 10% of the real IQR's width
    width = table.real_q75 - table.real_q25
    slack = 0.1 * width
    inside = ((table.synthetic_median >= table.real_q25 - slack)
              & (table.synthetic_median <= table.real_q75 + slack))
    assert inside.all(), table[~inside]
    assert rep["auc"]["auc"] <= 0.8, rep["auc"]


@pytest.mark.slow
def test_no_single_image_statistic_separates_lsbgs_from_type2_artifacts(sample):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    images, cat = sample
    st = realism.image_statistics(images)
    y = cat.label.to_numpy()
    X = realism._design(st)
    for j, name in enumerate(realism.STATISTICS):
        auc = roc_auc_score(y, X[:, j])
        assert max(auc, 1 - auc) < 0.90, name
    p = cross_val_predict(RandomForestClassifier(n_estimators=200, min_samples_leaf=3,
                                                 random_state=0), X, y, cv=5,
                          method="predict_proba")[:, 1]
    assert roc_auc_score(y, p) < 0.92


@pytest.mark.slow  # spawns the script, once per change
@needs_figure
@pytest.mark.parametrize("change", ["half", "double", "cropped"])
def test_a_figure_of_another_size_is_refused_in_one_line(tmp_path, change):
    """The statistics hold only for cutouts drawn at the figure's ~131 px per 64-px
    cutout: a rescaled figure (its panels at 66 or 264 px) or a cropped one (its last row
    of panels cut short) is refused with one line, and the script writes nothing."""
    from PIL import Image
    fig = Image.open(FIGURE)
    w, h = fig.size
    other = {"half": lambda: fig.resize((w // 2, h // 2)),
             "double": lambda: fig.resize((2 * w, 2 * h)),
             "cropped": lambda: fig.crop((0, 0, w, h - 50))}[change]()
    path = tmp_path / "other.png"
    other.save(path)
    with pytest.raises(InputError, match="px"):
        realism.extract_figure_cutouts(path)
    out = tmp_path / "stats.csv"
    out.write_text("kept\n")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_real_stats.py"),
                        str(path), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], r.stderr
    assert out.read_text() == "kept\n"
    assert not [p for p in tmp_path.iterdir() if p.name not in ("other.png", "stats.csv")]


@pytest.mark.slow  # the report trains a random forest, cross-validated five times
def test_the_report_compares_only_the_figures_classes(simulated_objects):
    """Given a catalog, the synthetic cutouts compared are those of the figure's classes
    (LSBGs and type-2 artifacts): type-1 artifacts are left out, as they are not among
    the real cutouts; a sample without one of the figure's classes is refused."""
    images, cat = simulated_objects
    keep = cat.class_name.isin(["lsbg", "artifact2"]).to_numpy()
    assert not keep.all()
    rep = realism.realism_report(images, cat, seed=0)
    expect = realism.image_statistics(realism.figure_round_trip(images[keep]))
    pd.testing.assert_frame_equal(rep["synthetic"].reset_index(drop=True), expect)
    assert rep["auc"]["n_synthetic"] == keep.sum()
    only = (cat.class_name == "lsbg").to_numpy()
    with pytest.raises(InputError, match="artifact2"):
        realism.realism_report(images[only], cat[only], seed=0)


@pytest.mark.slow
def test_a_smoothed_synthetic_sample_fails_the_realism_check(sample):
    """The check can fail: the same cutouts smoothed (a Gaussian of 0.7 px, the kind of
    sky the generator made before its calibration) have their noise far below the real
    interquartile range, positively correlated, and are told from the real ones."""
    from scipy import ndimage
    images, cat = sample
    smooth = np.stack([_u8(ndimage.gaussian_filter(im.astype(float), sigma=(0.7, 0.7, 0)))
                       for im in images])
    rep = realism.realism_report(smooth, cat, seed=0)
    table = rep["table"]
    for s in ("noise_r", "noise_g", "noise_b"):
        assert table.loc[s, "synthetic_median"] < 0.5 * table.loc[s, "real_q25"], s
    assert table.loc["noise_corr", "synthetic_median"] > table.loc["noise_corr", "real_q75"]
    assert rep["auc"]["auc"] > 0.9
    assert not rep["passes"]
    assert rep["goal"] == {"inside_iqr": False, "auc_max": realism.AUC_GOAL,
                           "auc_ok": False}


def test_a_non_numeric_statistic_in_the_file_is_one_clear_error(tmp_path):
    """A value that is not a number is named by file, line and column when the file is
    read, not met later as a bare ValueError inside compare()."""
    lines = realism.REAL_STATS_FILE.read_text().splitlines()
    header = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    cells = lines[header + 3].split(",")
    col = lines[header].split(",").index("noise_g")
    cells[col] = "abc"
    lines[header + 3] = ",".join(cells)
    bad = tmp_path / "stats.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        realism.load_real_statistics(bad)
    assert (err.value.path, err.value.row, err.value.column) == (str(bad), header + 4,
                                                                 "noise_g")
    assert "abc" in str(err.value)


def test_the_report_refuses_what_it_cannot_measure_in_one_line():
    """Too few cutouts for the cross-validation, none at all, or not uint8 (the stored
    cutouts' 0-255 units, which the figure's round trip needs): one InputError each,
    instead of an IndexError or a TypeError from deep inside."""
    im = _u8(np.stack([_sky(seed=k) for k in range(6)]))
    with pytest.raises(InputError, match="at least 5"):
        realism.realism_report(im[:3])
    with pytest.raises(InputError, match="at least 5"):
        realism.realism_report(im[:0])
    with pytest.raises(InputError, match="uint8"):
        realism.realism_report(im.astype(float))
    with pytest.raises(InputError, match="64, 64, 3"):
        realism.realism_report(im[:, :32])

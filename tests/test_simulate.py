"""Tests of deepshadows_lib.simulate (the synthetic survey)."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import features, simulate
from deepshadows_lib.errors import InputError
from deepshadows_lib.store import StoreWriter, open_store


@pytest.fixture(scope="module")
def small(simulated_objects):
    """Four objects of each class (the shared sample of tests/conftest.py)."""
    return simulated_objects


def test_images_and_catalog(small):
    images, cat = small
    assert images.shape == (12, 64, 64, 3) and images.dtype == np.uint8
    assert len(cat) == 12
    for col in ["ra", "dec", "label", "class_name", "class_index", "survey", "simulated",
                *features.SEXTRACTOR_COLUMNS]:
        assert col in cat.columns, col
    assert cat.simulated.all() and (cat.survey == "des").all()
    # binary label equals class_index on the binary problem; three-class codes as agreed
    expect = {"artifact2": (0, 0), "lsbg": (1, 1), "artifact1": (0, 2)}
    for _, row in cat.iterrows():
        assert (row.label, row.class_index) == expect[row.class_name]
    assert sorted(cat.class_name.value_counts().tolist()) == [4, 4, 4]
    # images are not blank and differ between objects
    assert images.std() > 3
    assert len({im.tobytes() for im in images}) == 12


def test_every_object_passes_the_selection(small):
    _, cat = small
    # the cuts of paper_facts.md, written out independently of features.passes_cuts
    g, r, i = cat.mag_auto_g, cat.mag_auto_r, cat.mag_auto_i
    ok = ((cat.flux_radius_g > 2.5) & (cat.flux_radius_g < 20)
          & (cat.mu_mean_model_g > 24.2) & (cat.mu_mean_model_g < 28.8)
          & (g - i > -0.1) & (g - i < 1.4) & ((g - r - 0.7 * (g - i)).abs() <= 0.4)
          & (1 - cat.B_IMAGE / cat.A_IMAGE < 0.7))
    assert ok.all(), cat.loc[~ok, features.SEXTRACTOR_COLUMNS]
    assert cat.true_pass_cuts.all()


def test_object_identity_does_not_depend_on_n():
    a_img, a_cat = simulate.simulate_objects(n_per_class=2, seed=3)
    b_img, b_cat = simulate.simulate_objects(n_per_class=5, seed=3)
    for j, row in a_cat.iterrows():
        match = b_cat.index[(b_cat.class_name == row.class_name)
                            & (b_cat.sim_index == row.sim_index)]
        assert len(match) == 1
        np.testing.assert_array_equal(a_img[j], b_img[match[0]])
        assert b_cat.loc[match[0], "mag_auto_g"] == row.mag_auto_g
    # a different seed gives different objects
    c_img, _ = simulate.simulate_objects(n_per_class=2, seed=4)
    assert not np.array_equal(a_img, c_img)


def test_order_is_interleaved_and_fixed_by_seed():
    o1 = simulate.object_order(n_per_class=50, classes=("lsbg", "artifact2"), seed=1)
    o2 = simulate.object_order(n_per_class=50, classes=("lsbg", "artifact2"), seed=1)
    o3 = simulate.object_order(n_per_class=50, classes=("lsbg", "artifact2"), seed=2)
    assert o1 == o2 and o1 != o3
    assert sorted(o1) == sorted((c, k) for c in ("lsbg", "artifact2") for k in range(50))
    first = [c for c, _ in o1[:20]]
    assert 3 <= first.count("lsbg") <= 17     # shuffled, not in class blocks


def test_bad_arguments():
    with pytest.raises(InputError, match="unknown survey"):
        simulate.simulate_objects(n_per_class=1, survey="sdss")
    with pytest.raises(InputError, match="unknown class"):
        simulate.simulate_objects(n_per_class=1, classes=("lsbg", "stars"))


def test_hsc_is_deeper_and_sharper():
    des, hsc = simulate.SURVEYS["des"], simulate.SURVEYS["hsc"]
    assert hsc.psf_fwhm < des.psf_fwhm
    assert all(hsc.sky_sb[b] > des.sky_sb[b] for b in "griz")
    assert hsc.rgb_scales != des.rgb_scales
    images, cat = simulate.simulate_objects(n_per_class=2, survey="hsc", seed=0)
    assert (cat.survey == "hsc").all() and images.shape == (4, 64, 64, 3)


def _noise_free_params():
    rng = np.random.default_rng(0)
    p = simulate.draw_params("lsbg", rng)
    # keep the central galaxy and a few field sources; no random noise involved
    return p


def _shifted(params, dx):
    """The scene moved by dx arcsec in x and y (cirrus, on a fixed grid, stays)."""
    comps = []
    for c in params["components"]:
        c = dict(c)
        if "x" in c:
            c["x"], c["y"] = c["x"] + dx, c["y"] + dx
        comps.append(c)
    return dict(params, components=comps)


def test_fast_route_matches_viewer_route_without_noise():
    # rendered directly at 64x64 vs the paper's route (256x256 JPEG, PIL's nearest
    # reduction, which keeps native pixel 4i + 2: half a stored pixel from the fast
    # route's grid, so the reference scene is moved by that much)
    for k in range(3):
        p = simulate.draw_params(["lsbg", "artifact2", "artifact1"][k],
                                 np.random.default_rng(k))
        fast = simulate.render_fast_noiseless(p).astype(float)
        ref = simulate.render_reference(_shifted(p, simulate.SCALE / 2),
                                        noise=False).astype(float)
        diff = np.abs(fast - ref)
        # the diffuse light agrees to a few counts; point sources (undersampled at
        # 1.048"/pixel) may differ in their central pixels only
        assert np.median(diff) <= 2.0
        assert np.mean(diff) <= 4.0
        assert np.mean(diff > 25) < 0.01


def test_fast_route_matches_viewer_route_noise_statistics():
    # an empty sky: the background level, noise and pixel correlation of the two routes
    p = {"subtype": "sky", "components": [], "truth": {}}
    ref = np.stack([simulate.render_reference(p, seed=s).astype(float) for s in range(6)])
    cfg = simulate.SURVEYS["des"]
    rng = np.random.default_rng(5)
    fast = []
    for _ in range(6):
        white = rng.standard_normal((4, 64, 64))
        fast.append(simulate._cutout(np.zeros((4, 64, 64)), white, cfg).astype(float))
    fast = np.stack(fast)
    inner = (slice(None), slice(4, -4), slice(4, -4))
    for ch in range(3):
        f, r = fast[inner + (ch,)], ref[inner + (ch,)]
        assert abs(f.mean() - r.mean()) < 2.0, ch
        assert f.std() == pytest.approx(r.std(), rel=0.15), ch
    # a stored pixel is one native pixel: no neighbour correlation in either route
    # (a bicubic reduction would give +0.34)
    for im in (fast, ref):
        x = im[inner].mean(axis=-1)
        x = x - x.mean(axis=(1, 2), keepdims=True)
        rho = float((x[:, :, 1:] * x[:, :, :-1]).mean() / x.var())
        assert abs(rho) < 0.1, rho


def test_saturated_star_has_a_flat_core_and_a_vertical_bleed_trail():
    cfg = simulate.SURVEYS["des"]
    level = cfg.saturation["g"][0]
    img = np.zeros((3, 64, 64))
    img[:, 30, 20] = 50.0 * level            # e^3.9 above saturation
    img[:, 30, 21] = 0.5 * level             # below: untouched
    out = simulate._saturate(img, cfg)
    fill = np.array([cfg.saturation[b][1] for b in "grz"])
    reach = int(np.ceil(cfg.bleed * np.log(50.0)))
    col = out[0, :, 20]
    np.testing.assert_array_equal(np.flatnonzero(col == fill[0]),
                                  np.arange(30 - reach, 30 + reach + 1))
    np.testing.assert_allclose(out[:, 30, 20], fill)
    assert out[0, 30, 21] == 0.5 * level and (out[:, :, 22:] == 0).all()
    # nothing saturated: the image is returned as it is
    calm = np.full((3, 64, 64), 0.1 * level)
    assert simulate._saturate(calm, cfg) is calm


def test_saturation_threshold_is_the_level():
    # just below the level nothing is masked; one float above it is
    cfg = simulate.SURVEYS["des"]
    level = cfg.saturation["g"][0]
    for value in (0.985 * level, 0.995 * level, level):
        img = np.full((3, 64, 64), 0.1 * level)
        img[1, 10, 10] = value
        assert simulate._saturate(img, cfg) is img
    img = np.full((3, 64, 64), 0.1 * level)
    img[1, 10, 10] = np.nextafter(level, np.inf)
    assert simulate._saturate(img, cfg)[0, 10, 10] == cfg.saturation["g"][1]


def test_tile_depth_changes_the_noise_of_the_image_only():
    cfg = simulate.SURVEYS["des"]
    white = np.random.default_rng(0).standard_normal((4, 64, 64))
    scene = np.zeros((4, 64, 64))
    deep = simulate._cutout(scene, white, cfg, tile=np.array([[-2.0] * 3, [0.0] * 3,
                                                              [0.0] * 3]))
    shallow = simulate._cutout(scene, white, cfg, tile=np.array([[2.0] * 3, [0.0] * 3,
                                                                 [0.0] * 3]))
    assert shallow.astype(float).std() > 1.5 * deep.astype(float).std()


def test_simulate_survey_store_resume_and_refusal(tmp_path):
    out = tmp_path / "sim"
    classes = ("lsbg", "artifact2")
    # an interrupted job: chunk 0 already written (with a marker image)
    attrs = {"simulated": True, "source": "simulate", "survey": "des", "seed": 2,
             "classes": list(classes), "n_per_class": 6,
             "generator_version": simulate.GENERATOR_VERSION,
             "job": simulate._job(6, "des", classes, 2),
             "label_note": "synthetic data (deepshadows_lib.simulate)"}
    w = StoreWriter(out, n=12, chunk_size=5, attrs=attrs)
    ref_img, ref_cat = simulate.simulate_objects(n_per_class=6, seed=2, start=0, stop=5)
    marker = np.full_like(ref_img, 7)
    w.write_chunk(0, marker, ref_cat)
    store = simulate.simulate_survey(out, n_per_class=6, seed=2, workers=1, chunk_size=5,
                                     progress=False)
    images, cat = open_store(out)
    assert len(cat) == 12 and store.simulated and store.attrs["seed"] == 2
    assert (images[:5] == 7).all()            # chunk 0 was not redone
    full_img, full_cat = simulate.simulate_objects(n_per_class=6, seed=2)
    np.testing.assert_array_equal(images[5:], full_img[5:])
    pd.testing.assert_series_equal(cat.mag_auto_g, full_cat.mag_auto_g)
    # the same job again: nothing to do; a different job: refused
    again = simulate.simulate_survey(out, n_per_class=6, seed=2, workers=1, chunk_size=5,
                                     progress=False)
    assert len(again) == 12
    with pytest.raises(FileExistsError):
        simulate.simulate_survey(out, n_per_class=6, seed=3, workers=1, chunk_size=5,
                                 progress=False)


@pytest.mark.cluster
def test_parallel_equals_serial(tmp_path):
    a = simulate.simulate_survey(tmp_path / "a", n_per_class=5, seed=9, workers=2,
                                 chunk_size=4, progress=False)
    b = simulate.simulate_survey(tmp_path / "b", n_per_class=5, seed=9, workers=1,
                                 chunk_size=4, progress=False)
    assert a.attrs["content_sha256"] == b.attrs["content_sha256"]


def test_cli_simulate_and_features(tmp_path, capsys):
    from deepshadows_lib import cli
    out = tmp_path / "s"
    rc = cli.main(["simulate", "--n-per-class", "3", "--seed", "1", "--out", str(out),
                   "--workers", "1"])
    assert rc == 0
    rc = cli.main(["features", str(out), "--out", str(tmp_path / "f.csv")])
    assert rc == 0
    f = pd.read_csv(tmp_path / "f.csv")
    assert len(f) == 6 and set(features.PAPER_FEATURES) <= set(f.columns)
    assert cli.main(["features", str(tmp_path / "nope"), "--out", str(tmp_path / "g.csv")]) == 2
    assert cli.main(["simulate", "--n-per-class", "3", "--classes", "lsbg,foo",
                     "--out", str(tmp_path / "x")]) == 2


TABLE2 = {"SVM": 0.819, "Random forest": 0.797, "DeepShadows": 0.920}


@pytest.mark.slow
@pytest.mark.tf
def test_calibration(capsys):
    """Item 8 of issue 5: how hard is the synthetic problem?  Printed, loosely asserted."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    images, cat = simulate.simulate_objects(n_per_class=400, seed=2024)
    X = features.paper_features(cat).to_numpy()
    y = cat.label.to_numpy()
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=0.3, random_state=0,
                                      stratify=y)
    acc = {}
    svm = make_pipeline(StandardScaler(), SVC(C=1e4, gamma=1e-3)).fit(X[idx_tr], y[idx_tr])
    acc["SVM"] = svm.score(X[idx_te], y[idx_te])
    rf = RandomForestClassifier(n_estimators=100, min_samples_split=10, random_state=0)
    acc["Random forest"] = rf.fit(X[idx_tr], y[idx_tr]).score(X[idx_te], y[idx_te])
    pix = images.reshape(len(images), -1).astype(np.float32) / 255.0
    lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=500))
    acc["pixel logistic regression"] = lr.fit(pix[idx_tr], y[idx_tr]).score(pix[idx_te],
                                                                             y[idx_te])
    acc["small CNN"] = _small_cnn_accuracy(images, y, idx_tr, idx_te)
    with capsys.disabled():
        print("\nSYNTHETIC DES-like calibration (800 objects, 30% test) vs paper Table 2:")
        for name, value in acc.items():
            paper = TABLE2.get(name, TABLE2["DeepShadows"] if name == "small CNN" else None)
            print(f"  {name:28s} {value:.3f}   paper: "
                  + (f"{paper:.3f}" if paper else "-"))
    assert 0.65 <= acc["SVM"] <= 0.93
    assert max(acc.values()) < 0.99


def _small_cnn_accuracy(images, y, idx_tr, idx_te):
    import keras
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([
        L.Input((64, 64, 3)),
        L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dropout(0.3), L.Dense(32, activation="relu"),
        L.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    x = images.astype(np.float32) / 255.0
    x = x - x[idx_tr].mean(axis=(0, 1, 2))
    # flips and a rotation: 560 training images are few for a CNN
    xt, yt = x[idx_tr], y[idx_tr]
    xt = np.concatenate([xt, xt[:, ::-1], xt[:, :, ::-1], np.rot90(xt, axes=(1, 2))])
    model.fit(xt, np.tile(yt, 4), epochs=12, batch_size=32, verbose=0)
    return float(model.evaluate(x[idx_te], y[idx_te], verbose=0)[1])


def test_psf_convolution_equals_scipy_fftconvolve():
    from scipy.signal import fftconvolve
    rng = np.random.default_rng(0)
    images = rng.random((2, 64, 64))
    kernel = simulate._psf_kernel("des", simulate.SCALE)
    ref = fftconvolve(images, kernel[None], mode="same", axes=(1, 2))
    np.testing.assert_allclose(simulate._convolve_psf(images, "des", simulate.SCALE), ref,
                               atol=1e-12)


def test_jpeg_round_trip_equals_pillow_open():
    import io

    from PIL import Image
    rgb = np.random.default_rng(1).integers(20, 120, (64, 64, 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90, subsampling=0)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    out = simulate._jpeg(rgb, 90)
    np.testing.assert_array_equal(out, ref)
    assert not np.array_equal(out, rgb)            # lossy: the compression artifacts stay


def test_prescreen_keeps_what_passes_and_drops_what_fails():
    # raw draws (no pre-screen), rendered and measured: the pre-screen must keep nearly
    # all that pass the measured cuts and reject mostly draws that fail them
    cfg = simulate.SURVEYS["des"]
    sig = simulate._sky_sigmas(cfg, simulate.SCALE)
    rms = dict(zip("gri", sig[:3]))
    kept_pass = kept_fail = dropped_pass = dropped_fail = 0
    for cls in ("artifact2", "artifact1"):
        for k in range(70):
            rng = np.random.default_rng([5, k, len(cls)])
            sub = simulate.draw_subtype(cls, rng)
            _, comps, truth = simulate._DRAW[cls](rng, "des", sub)
            params = {"components": simulate._field(rng, "des") + comps}
            scene = simulate.render_scene(params)
            flux = scene[:3] + rng.standard_normal((3, 64, 64)) * sig[:3, None, None]
            ok = features.passes_cuts(features.measure(flux, rms=rms,
                                                       pixel_scale=simulate.SCALE))
            keep = simulate._likely_passes(sub, comps, truth, "des")
            kept_pass += keep and ok
            kept_fail += keep and not ok
            dropped_pass += (not keep) and ok
            dropped_fail += (not keep) and not ok
    assert dropped_fail >= 15                       # it does save renderings
    assert dropped_pass <= 0.06 * (kept_pass + dropped_pass) + 1
    assert dropped_pass / max(dropped_pass + dropped_fail, 1) < 0.15


def test_sersic_drawing_equals_galsim_draw_image():
    # the direct GalSim call of _draw_sersic against the public drawImage route
    import galsim
    cases = [dict(n=0.5, hlr=6.0, q=0.6, beta=0.3, x=1.7, y=-2.2),
             dict(n=1.0, hlr=3.0, q=1.0, beta=0.0, x=-12.0, y=5.5),
             dict(n=2.5, hlr=2.0, q=0.4, beta=2.0, x=0.3, y=0.1)]      # oversampled
    for c in cases:
        for npix, scale in [(64, simulate.SCALE), (256, simulate.NATIVE_SCALE)]:
            gal = galsim.Sersic(n=c["n"], half_light_radius=c["hlr"], flux=1.0)
            if c["q"] < 1:
                gal = gal.shear(q=c["q"], beta=c["beta"] * galsim.radians)
            over = 3 if c["n"] >= 2 else 1
            ref = gal.drawImage(nx=npix * over, ny=npix * over, scale=scale / over,
                                method="no_pixel", dtype=np.float64,
                                offset=(c["x"] * over / scale, c["y"] * over / scale)).array
            ref = ref.reshape(npix, over, npix, over).sum(axis=(1, 3))
            out = simulate._draw_sersic(c, npix, scale)
            if over == 1:
                np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-12 * ref.max())
                continue
            # cuspy: the pixels around the centre are exactly the oversampled ones ...
            h = simulate.CUSP_HALF
            jc = int(np.floor(npix / 2 + c["x"] / scale + 0.5))
            ic = int(np.floor(npix / 2 + c["y"] / scale + 0.5))
            patch = (slice(ic - h, ic + h), slice(jc - h, jc + h))
            np.testing.assert_allclose(out[patch], ref[patch], rtol=1e-9)
            # ... and pixel-centre sampling elsewhere is within 1-2% of the pixel average
            rest = np.ones(ref.shape, bool)
            rest[patch] = False
            assert np.max(np.abs(out[rest] / ref[rest] - 1)) < 0.02
            assert abs(out.sum() / ref.sum() - 1) < 0.002


def test_cusp_patch_near_the_edge_matches_full_oversampling():
    import galsim
    rng = np.random.default_rng(3)
    for _ in range(6):
        c = dict(n=rng.uniform(2, 5), hlr=rng.uniform(1.5, 8), q=rng.uniform(0.3, 1),
                 beta=rng.uniform(0, 3), x=rng.choice([-1, 1]) * rng.uniform(25, 36),
                 y=rng.uniform(-36, 36))
        gal = galsim.Sersic(n=c["n"], half_light_radius=c["hlr"], flux=1.0).shear(
            q=c["q"], beta=c["beta"] * galsim.radians)
        ref = gal.drawImage(nx=192, ny=192, scale=simulate.SCALE / 3, method="no_pixel",
                            dtype=np.float64, offset=(c["x"] * 3 / simulate.SCALE,
                                                      c["y"] * 3 / simulate.SCALE)).array
        ref = ref.reshape(64, 3, 64, 3).sum(axis=(1, 3))
        out = simulate._draw_sersic(c, 64, simulate.SCALE)
        assert np.max(np.abs(out / ref - 1)) < 0.02
        # the patch moved inside the image is still exact where it lies
        h = simulate.CUSP_HALF
        jc = min(max(int(np.floor(32 + c["x"] / simulate.SCALE + 0.5)), h), 64 - h)
        ic = min(max(int(np.floor(32 + c["y"] / simulate.SCALE + 0.5)), h), 64 - h)
        np.testing.assert_allclose(out[ic - h:ic + h, jc - h:jc + h],
                                   ref[ic - h:ic + h, jc - h:jc + h], rtol=1e-9)


def test_stamp_add_equals_a_loop_of_slices():
    rng = np.random.default_rng(4)
    n, size = 9, 13
    stamps = rng.random((n, size, size))
    flux = rng.random((4, n))
    # inside, across every edge, and entirely off the image
    x0 = np.array([10, -5, 58, 30, -13, 64, 2, -20, 51])
    y0 = np.array([10, 20, -4, 60, 30, 5, -12, 3, 55])
    out = np.zeros((4, 64, 64))
    simulate._stamp_add(out, stamps, flux, x0, y0)
    ref = np.zeros((4, 64 + 2 * size, 64 + 2 * size))
    for k in range(n):
        if -size < x0[k] < 64 and -size < y0[k] < 64:
            ys, xs = y0[k] + size, x0[k] + size
            ref[:, ys:ys + size, xs:xs + size] += flux[:, k, None, None] * stamps[k]
    np.testing.assert_allclose(out, ref[:, size:-size, size:-size], rtol=1e-12, atol=1e-15)
    assert out.sum() > 0


def test_stamp_add_is_bitwise_a_loop_of_slices_in_source_order():
    # overlapping stamps onto a lit image: each pixel must sum its sources in their
    # order, starting from zero, and only then be added to the image (the order that
    # fixes the simulator's bits)
    rng = np.random.default_rng(5)
    n, size = 40, 13
    stamps = rng.random((n, size, size)) ** 3
    flux = 10.0 ** rng.uniform(-3, 2, (4, n))
    x0, y0 = rng.integers(-15, 66, n), rng.integers(-15, 66, n)
    x0[:10], y0[:10] = 20, 24                      # ten sources on the same pixels
    lit = rng.random((4, 64, 64))
    out = lit.copy()
    simulate._stamp_add(out, stamps, flux, x0, y0)
    canvas = np.zeros((4, 64 + 2 * size, 64 + 2 * size))
    for k in range(n):
        if -size < x0[k] < 64 and -size < y0[k] < 64:
            ys, xs = y0[k] + size, x0[k] + size
            for b in range(4):
                canvas[b, ys:ys + size, xs:xs + size] += flux[b, k] * stamps[k]
    np.testing.assert_array_equal(out, lit + canvas[:, size:-size, size:-size])


def test_object_does_not_depend_on_its_batch(monkeypatch):
    imgs, cat = simulate.simulate_objects(n_per_class=4, seed=8,
                                          classes=("lsbg", "artifact2", "artifact1"))
    monkeypatch.setattr(simulate.survey, "BATCH", 5)        # other companions, other batches
    imgs5, cat5 = simulate.simulate_objects(n_per_class=4, seed=8,
                                            classes=("lsbg", "artifact2", "artifact1"))
    np.testing.assert_array_equal(imgs, imgs5)
    pd.testing.assert_frame_equal(cat, cat5)
    for j in (0, 7):
        img, row = simulate.simulate_one(cat.class_name[j], cat.sim_index[j], seed=8)
        np.testing.assert_array_equal(img, imgs[j])
        assert row["mag_auto_g"] == cat.mag_auto_g[j]
        assert row["true_attempts"] == cat.true_attempts[j]


@pytest.mark.slow
def test_star_halo_prescreen_keeps_the_feature_distributions(monkeypatch):
    # the star_halo rule of _likely_passes saves renderings without changing what is
    # kept: measured features with and without it agree (two-sample KS per feature)
    from scipy.stats import ks_2samp
    monkeypatch.setattr(simulate.objects, "draw_subtype", lambda class_name, rng: "star_halo")
    _, with_rule = simulate.simulate_objects(n_per_class=500, seed=31, classes=("artifact2",))
    monkeypatch.setattr(simulate.prescreen, "STAR_HALO_CONTRAST", float("inf"))
    _, without = simulate.simulate_objects(n_per_class=500, seed=32, classes=("artifact2",))
    assert (with_rule.true_subtype == "star_halo").all()
    fa, fb = features.paper_features(with_rule), features.paper_features(without)
    pvalues = {c: ks_2samp(fa[c], fb[c]).pvalue for c in features.PAPER_FEATURES}
    assert min(pvalues.values()) > 1e-3, pvalues
    # generator 2.0 (brighter DES-like diffuse light): 2.65 -> 2.45 renderings here
    assert with_rule.true_attempts.mean() < 0.95 * without.true_attempts.mean()


# ------------------------------------------------------------------ the split (issue 17)
#: SHA-256 of the images (uint8 bytes) and of the catalog (CSV, %.17g) of
#: simulate_objects(n_per_class=8, classes=all three, seed=17), recorded from the code
#: before simulate.py became a package (commit 934e71d).  A regression pin of that
#: refactor only: a deliberate change of the output bumps GENERATOR_VERSION and re-pins.
_PINNED = {
    "des": ("25ad1b1add98cbe14cb9996008af14160f2fabfbe2c947b9687ddc21f51d6f7f",
            "087ee8b03af194d135f2f9e3b70a9b3ae61d6ce060724d702520c5609f7c814c"),
    "hsc": ("ed58a307446868ed81b7f53a7d6bed6f8a3a48cf3a8ff26201d64019d5b4e80c",
            "76a0ea88d7b75369c02150f8514215d5147b7dc8e891b131b9cf6e4227378a94"),
}


def _sha256(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("survey", ["des", "hsc"])
def test_outputs_are_bitwise_those_of_the_code_before_the_split(survey):
    images, cat = simulate.simulate_objects(n_per_class=8, survey=survey, seed=17,
                                            classes=("lsbg", "artifact2", "artifact1"))
    assert simulate.GENERATOR_VERSION == "2.0"      # the pin belongs to this version
    assert _sha256(np.ascontiguousarray(images).tobytes()) == _PINNED[survey][0]
    csv = cat.to_csv(index=False, float_format="%.17g").encode()
    assert _sha256(csv) == _PINNED[survey][1]


@pytest.fixture
def reprobe():
    """Clear the cached GalSim probe before and after a test that changes its outcome."""
    from deepshadows_lib.simulate import _galsim_fast
    _galsim_fast.fast_path_available.cache_clear()
    yield _galsim_fast
    _galsim_fast.fast_path_available.cache_clear()


def _some_galaxies():
    # round and sheared, on and off the centre, cuspy (oversampled patch) and not
    return [dict(n=0.5, hlr=6.0, q=0.6, beta=0.3, x=1.7, y=-2.2),
            dict(n=1.0, hlr=3.0, q=1.0, beta=0.0, x=-12.0, y=5.5),
            dict(n=2.5, hlr=2.0, q=0.4, beta=2.0, x=0.3, y=0.1),
            dict(n=4.0, hlr=5.0, q=0.8, beta=1.1, x=30.0, y=-31.0)]


def test_galsim_public_fallback_draws_the_pixels_of_the_fast_path(reprobe, monkeypatch):
    if not reprobe.fast_path_available():
        pytest.skip("this GalSim lacks the private fast paths: nothing to compare with")
    cases = [(c, npix, scale) for c in _some_galaxies()
             for npix, scale in [(64, simulate.SCALE), (256, simulate.NATIVE_SCALE)]]
    fast = [simulate._draw_sersic(c, npix, scale) for c, npix, scale in cases]
    monkeypatch.setattr(reprobe, "fast_path_available", lambda: False)
    for (c, npix, scale), ref in zip(cases, fast):
        out = simulate._draw_sersic(c, npix, scale)
        assert out.max() > 0
        # bitwise, as _galsim_fast's docstring claims for GalSim 2.8: the committed
        # figures and the pinned hashes must not depend on which route drew them
        np.testing.assert_array_equal(out, ref)
    # and whole objects: the same cutouts and catalog through the public API
    monkeypatch.undo()
    img_fast, cat_fast = simulate.simulate_objects(n_per_class=2, seed=5,
                                                   classes=("lsbg", "artifact2"))
    monkeypatch.setattr(reprobe, "fast_path_available", lambda: False)
    img_pub, cat_pub = simulate.simulate_objects(n_per_class=2, seed=5,
                                                 classes=("lsbg", "artifact2"))
    np.testing.assert_array_equal(img_pub, img_fast)
    pd.testing.assert_frame_equal(cat_pub, cat_fast)


def test_galsim_probe_falls_back_with_one_warning_when_the_private_api_is_missing(
        reprobe, monkeypatch):
    import galsim
    monkeypatch.delattr(galsim, "_Shear")
    with pytest.warns(RuntimeWarning, match="_Shear") as record:
        assert reprobe.fast_path_available() is False
        out = [simulate._draw_sersic(c, 64, simulate.SCALE) for c in _some_galaxies()]
    assert len(record) == 1                         # once per process, not per drawing
    assert all(o.sum() > 0.5 for o in out[:3])      # drawn through the public API


def test_galsim_probe_rejects_a_fast_path_that_draws_other_pixels(reprobe, monkeypatch):
    # a private API whose meaning changed (here: the offset taken in pixels) is not used
    def shifted(gal, image, dx, dy):
        gal._drawReal(image, None, (dx / image.scale, dy / image.scale), 1.0)
    monkeypatch.setattr(reprobe, "_fast_draw", shifted)
    with pytest.warns(RuntimeWarning, match="differ"):
        assert reprobe.fast_path_available() is False


# ------------------------------------------------------- speed-ups (issue 14, item 4)
#: SHA-256 of the images and of the catalog (CSV, %.17g) of
#: simulate_objects(n_per_class=N, classes=all three, seed=1414), with the redraw limit
#: as shipped (N = 40) and at one attempt (N = 12: every failing draw is kept and
#: measured in full), recorded from the unmodified code of commit 7eafac2, before the
#: speed-ups of issue 14.  Those changes must not change a pixel or a catalog value.
_PINNED_SPEED = {
    ("des", 40): ("ce0caef5b582e4cca222c1ed3d0d61082a763c99c5403964d02b50894a3d0028",
                  "a4d1da81d6b97559352a13901dd701b4d8042355dfa24c299abffad82daaca46"),
    ("des", 1): ("a905fc5c1b348f6be2b0a27b061bc40d3a0d17b23d9ef109a6c6bce153b82f7b",
                 "136c1b293f258c078e05a1cfd766c4454b8e961557c61c4ba878b7c02d0dc026"),
    ("hsc", 40): ("788d82ec6ed4f6ca22ca2a87ac2e52ee2f48ac32abdffabb8f002373c7e612d8",
                  "b64a8d7e71ce7af8cb2b89e096515faca3893c543e9f59be7d7f5ac3720892bf"),
    ("hsc", 1): ("42cecff203834f0bb5db17435c420608122170e35c1005333ea3a8c88e6e00ea",
                 "1ef8205e14c08552ae6a8b157b72fd85558bf8792572120aaab65678f4f45d23"),
}


@pytest.mark.parametrize("survey,max_attempts", sorted(_PINNED_SPEED))
def test_speed_ups_keep_the_outputs_bitwise(survey, max_attempts, monkeypatch):
    monkeypatch.setattr(simulate.objects, "MAX_ATTEMPTS", max_attempts)
    n = 40 if max_attempts == 40 else 12
    images, cat = simulate.simulate_objects(n_per_class=n, survey=survey, seed=1414,
                                            classes=("lsbg", "artifact2", "artifact1"))
    assert simulate.GENERATOR_VERSION == "2.0"      # the pin belongs to this version
    if max_attempts == 1:
        assert not cat.true_pass_cuts.all()         # the full measurement of a failure ran
    assert _sha256(np.ascontiguousarray(images).tobytes()) == _PINNED_SPEED[
        (survey, max_attempts)][0]
    csv = cat.to_csv(index=False, float_format="%.17g").encode()
    assert _sha256(csv) == _PINNED_SPEED[(survey, max_attempts)][1]

"""Tests of deepshadows_lib.photometry (sep measurement and the selection cuts)."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import photometry


def test_selection_cuts_are_the_papers():
    # the DES LSBG candidate selection (paper_facts.md), written out independently
    assert photometry.SELECTION_CUTS == {"flux_radius_g": (2.5, 20.0),
                                         "mu_mean_model_g": (24.2, 28.8),
                                         "g_i": (-0.1, 1.4), "gri_locus": 0.4,
                                         "ellipticity": 0.7}
    assert len(photometry.SEXTRACTOR_COLUMNS) == 17


def test_measure_recovers_a_known_galaxy():
    import galsim
    scale, flux = 1.048, 300.0
    gal = galsim.Convolve(galsim.Exponential(half_light_radius=4.0, flux=flux),
                          galsim.Moffat(beta=2.8, fwhm=1.0))
    img = gal.drawImage(nx=64, ny=64, scale=scale)
    hlr_ref = img.calculateHLR()           # GalSim's own measurement, arcsec
    rng = np.random.default_rng(1)
    rms = 0.02
    bands = {b: img.array.astype(float) * f + rng.normal(0, rms, (64, 64))
             for b, f in zip("gri", (1.0, 2.0, 3.0))}
    row = photometry.measure(bands, rms={b: rms for b in "gri"}, pixel_scale=scale,
                           zeropoint=22.5)
    true_mag = 22.5 - 2.5 * np.log10(flux)
    assert row["mag_auto_g"] == pytest.approx(true_mag, abs=0.1)
    # colours from fixed flux ratios
    assert row["mag_auto_g"] - row["mag_auto_r"] == pytest.approx(2.5 * np.log10(2), abs=0.03)
    assert row["flux_radius_g"] == pytest.approx(hlr_ref, rel=0.1)
    # round galaxy; mean SB within r_half brighter than SB at r_half, fainter than the peak
    assert 1 - row["B_IMAGE"] / row["A_IMAGE"] < 0.1
    assert row["mu_max_model_g"] < row["mu_mean_model_g"] < row["mu_eff_model_g"]
    assert photometry.passes_cuts(row) == (row["mu_mean_model_g"] > 24.2)


def test_measure_empty_sky_is_nan():
    rng = np.random.default_rng(0)
    bands = {b: rng.normal(0, 1.0, (64, 64)) for b in "gri"}
    row = photometry.measure(bands, rms={b: 1.0 for b in "gri"}, pixel_scale=1.0)
    assert np.isnan(row["mag_auto_g"]) and not photometry.passes_cuts(row)


def _sky_and_galaxy(*, hlr, flux, seed):
    import galsim
    gal = galsim.Convolve(galsim.Sersic(n=0.8, half_light_radius=hlr, flux=flux),
                          galsim.Moffat(beta=2.8, fwhm=1.0))
    img = gal.drawImage(nx=64, ny=64, scale=1.048).array
    rng = np.random.default_rng(seed)
    rms = 0.02
    stack = np.stack([img * f + rng.normal(0, rms, (64, 64)) for f in (1.0, 1.6, 2.0)])
    return stack, {b: rms for b in "gri"}


def test_measure_with_cuts_stops_early_but_agrees():
    # an LSB galaxy that passes and a compact one that fails the selection
    for hlr, flux, passes in [(5.0, 10.0, True), (1.0, 10.0, False)]:
        stack, rms = _sky_and_galaxy(hlr=hlr, flux=flux, seed=3)
        full = photometry.measure(stack, rms=rms, pixel_scale=1.048)
        quick = photometry.measure(stack, rms=rms, pixel_scale=1.048,
                                 cuts=photometry.SELECTION_CUTS)
        # array input is the same as a dict of bands
        as_dict = photometry.measure({b: stack[j] for j, b in enumerate("gri")}, rms=rms,
                                   pixel_scale=1.048)
        assert as_dict == pytest.approx(full, nan_ok=True)
        assert photometry.passes_cuts(full) == passes == photometry.passes_cuts(quick)
        measured = {k: v for k, v in quick.items() if not np.isnan(v)}
        assert measured and measured == pytest.approx({k: full[k] for k in measured})
        if passes:
            assert quick == pytest.approx(full, nan_ok=True)
        else:
            assert len(measured) < len(full)       # it did stop early


def test_box3_max_equals_scipy_uniform_filter():
    from scipy.ndimage import uniform_filter
    rng = np.random.default_rng(4)
    for _ in range(50):
        stack = rng.normal(size=(3, 64, 64))
        mask = np.zeros((64, 64), bool)
        y0, x0 = rng.integers(0, 62, 2)           # boxes touching the border included
        h, w = rng.integers(1, 30, 2)
        mask[y0:y0 + h, x0:x0 + w] = rng.random((64, 64))[y0:y0 + h, x0:x0 + w] < 0.7
        if not mask.any():
            continue
        ref = uniform_filter(stack, size=(1, 3, 3), mode="nearest")[:, mask].max(axis=1)
        got = photometry._box3_max(stack, mask)
        np.testing.assert_allclose(got, ref, rtol=1e-12)
        # bitwise the separable sums divided by 9 before the maximum over the mask
        pad = np.pad(stack, ((0, 0), (1, 1), (1, 1)), mode="edge")
        rs = pad[:, :, :-2] + pad[:, :, 1:-1] + pad[:, :, 2:]
        box = (rs[:, :-2] + rs[:, 1:-1] + rs[:, 2:]) / 9.0
        np.testing.assert_array_equal(got, box[:, mask].max(axis=1))


def test_pixels_within_are_those_of_the_full_distance_grid():
    # the same pixels, order and distances (bitwise) as thresholding np.hypot on the grid
    rng = np.random.default_rng(6)
    for _ in range(300):
        ny, nx = rng.integers(8, 80, 2)
        x, y = rng.uniform(-3, nx + 3), rng.uniform(-3, ny + 3)
        r_max = rng.choice([rng.uniform(0.1, 3), rng.uniform(3, 90), 5.0])
        x, y = (float(np.round(x)), float(np.round(y))) if rng.random() < 0.2 else (x, y)
        keep = rng.random((ny, nx)) < rng.uniform(0.2, 1.0)
        rr = np.hypot(np.arange(nx, dtype=float)[None, :] - x,
                      np.arange(ny, dtype=float)[:, None] - y)
        ref_idx = np.flatnonzero(keep & (rr < r_max))
        idx, r = photometry._pixels_within(np.float64(x), np.float64(y), np.float64(r_max),
                                           keep)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(r, rr.ravel()[ref_idx])


def test_annulus_mean_is_bitwise_the_masked_mean():
    rng = np.random.default_rng(7)
    img = rng.normal(size=(64, 64)) * 1e-3 + 1.0
    rr = np.hypot(np.arange(64.0)[None, :] - 30.3, np.arange(64.0)[:, None] - 33.6)
    keep = rng.random((64, 64)) < 0.8
    idx = np.flatnonzero(keep & (rr < 25.0))
    # annuli within the pixels given (measure() takes the full grid beyond them)
    for lo, hi in ((2.0, 3.1), (0.0, 24.9), (7.77, 7.78), (24.0, 24.999)):
        ann = keep & (rr >= lo) & (rr <= hi)
        ref = float(img[ann].mean()) if ann.any() else float("nan")
        got = photometry._annulus_mean(img, idx, rr.ravel()[idx], lo, hi)
        assert got == ref or (np.isnan(ref) and np.isnan(got))


def test_argsort_exact_is_the_stable_sort():
    rng = np.random.default_rng(2)
    for values in (rng.random(500), np.repeat(rng.random(50), 3), np.array([1.0]),
                   np.array([]), np.array([2.0, 1.0, 2.0, 1.0])):
        np.testing.assert_array_equal(photometry._argsort_exact(values),
                                      np.argsort(values, kind="stable"))


def test_passes_cuts_of_a_row_equals_the_vectorised_cuts():
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(3000):
        row = {c: float(v) for c, v in zip(photometry.SEXTRACTOR_COLUMNS,
                                            rng.normal(25, 1, len(photometry.SEXTRACTOR_COLUMNS)))}
        row.update(A_IMAGE=rng.uniform(1, 5), B_IMAGE=rng.uniform(0.3, 5),
                   flux_radius_g=rng.uniform(1, 22), mu_mean_model_g=rng.uniform(23, 30),
                   mag_auto_g=rng.uniform(18, 22))
        row["mag_auto_r"] = row["mag_auto_g"] - rng.uniform(-0.3, 1.2)
        row["mag_auto_i"] = row["mag_auto_g"] - rng.uniform(-0.3, 1.6)
        if rng.random() < 0.05:
            row["mu_eff_model_r"] = float("nan")
        rows.append(row)
    fast = np.array([photometry.passes_cuts(r) for r in rows])
    table = np.asarray(photometry.passes_cuts(pd.DataFrame(rows)))
    np.testing.assert_array_equal(fast, table)
    assert 0 < fast.sum() < len(fast)               # both outcomes are exercised

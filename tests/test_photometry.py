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
        np.testing.assert_allclose(photometry._box3_max(stack, mask), ref, rtol=1e-12)


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

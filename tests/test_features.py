"""Tests of deepshadows_lib.features."""

import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import features
from deepshadows_lib.errors import InputError


def _raw_catalog(n=5, seed=0):
    rng = np.random.default_rng(seed)
    data = {c: rng.uniform(1, 30, n) for c in features.SEXTRACTOR_COLUMNS}
    return pd.DataFrame(data)


def test_column_lists_match_paper():
    assert len(features.PAPER_FEATURES) == 16
    assert len(set(features.PAPER_FEATURES)) == 16
    assert len(features.SEXTRACTOR_COLUMNS) == 17
    for band in "gri":
        for q in ("mag_auto", "flux_radius", "mu_max_model", "mu_eff_model", "mu_mean_model"):
            assert f"{q}_{band}" in features.SEXTRACTOR_COLUMNS


def test_paper_features_values():
    cat = _raw_catalog()
    out = features.paper_features(cat)
    assert list(out.columns) == features.PAPER_FEATURES
    # independent reference, row by row
    for i in range(len(cat)):
        row = cat.iloc[i]
        assert out["ellipticity"].iloc[i] == pytest.approx(1 - row.B_IMAGE / row.A_IMAGE)
        assert out["g_i"].iloc[i] == pytest.approx(row.mag_auto_g - row.mag_auto_i)
        assert out["g_r"].iloc[i] == pytest.approx(row.mag_auto_g - row.mag_auto_r)
        assert out["r_i"].iloc[i] == pytest.approx(row.mag_auto_r - row.mag_auto_i)
        assert out["mu_eff_model_r"].iloc[i] == row.mu_eff_model_r
    assert (out.index == cat.index).all()


def test_paper_features_missing_column_named():
    cat = _raw_catalog().drop(columns=["mu_max_model_i"])
    with pytest.raises(InputError, match="mu_max_model_i"):
        features.paper_features(cat, path="cat.csv")


def test_paper_features_ignores_extra_columns():
    cat = _raw_catalog()
    cat["ra"] = 1.0
    assert list(features.paper_features(cat).columns) == features.PAPER_FEATURES


def test_measurement_names_are_re_exported_from_photometry():
    # the measurement moved to photometry; features.measure & co. keep working
    from deepshadows_lib import photometry
    for name in ("BANDS", "SEXTRACTOR_COLUMNS", "SELECTION_CUTS", "measure", "passes_cuts"):
        assert getattr(features, name) is getattr(photometry, name), name
        assert name in features.__all__

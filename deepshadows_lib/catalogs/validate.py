"""Validation of a catalog: columns present, numbers finite, positions on the sky."""

import warnings

import numpy as np
import pandas as pd

from ..errors import InputError
from .columns import DUPLICATE_TOLERANCE_ARCSEC

def validate_catalog(df, *, required=("ra", "dec"), path=None, line_of=None,
                     duplicates=True):
    """Check a catalog's schema in place; raise :class:`InputError` at the first problem.

    Parameters
    ----------
    df : pandas.DataFrame
        The catalog.
    required : sequence of str
        Columns that must be present, numeric and finite.
    path : str or path-like, optional
        Named in error messages.
    line_of : array_like of int, optional
        Line number in the file of each row (for messages); by default row ``i`` is
        reported as line ``i + 2`` (one header line).
    duplicates : bool, optional
        Count (and warn about) repeated positions.

    Returns
    -------
    pandas.DataFrame
        ``df`` itself, with required columns converted to float where they were read as
        text, and ``df.attrs["duplicates"]`` set.
    """
    path = path if path is not None else df.attrs.get("path")
    if line_of is None:
        line_of = np.arange(len(df)) + 2
    missing = [c for c in required if c not in df.columns]
    if missing:
        have = ", ".join(map(str, list(df.columns)[:8]))
        raise InputError(f"missing required column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (found: {have})", path=path,
                         column=missing[0])
    if len(df) == 0:
        raise InputError("no data rows", path=path)
    dup_cols = [c for c in required if list(df.columns).count(c) > 1]
    if dup_cols:
        raise InputError(f"column {dup_cols[0]!r} appears more than once", path=path,
                         column=dup_cols[0])
    for col in required:
        values = _numbers(df[col], path=path, line_of=line_of, column=col)
        finite = np.isfinite(values)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            what = "missing" if pd.isna(df[col].iloc[i]) else values[i]
            raise InputError(f"value is {what} (must be finite)", path=path,
                             row=int(line_of[i]), column=col)
        if df[col].dtype.kind != "f" or df[col].dtype != np.float64:
            df[col] = values
    for col, lo, hi, rule in (("ra", 0.0, 360.0, "0 <= ra < 360"),
                              ("dec", -90.0, 90.0, "-90 <= dec <= 90")):
        if col not in df.columns:
            continue
        v = df[col].to_numpy(dtype=float)
        out = (v < lo) | (v >= hi) if col == "ra" else (v < lo) | (v > hi)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise InputError(f"value {v[i]} out of range ({rule})", path=path,
                             row=int(line_of[i]), column=col)
    if duplicates and {"ra", "dec"} <= set(df.columns):
        dup = _duplicate_positions(df["ra"].to_numpy(float), df["dec"].to_numpy(float))
        df.attrs["duplicates"] = int(dup.sum())
        if dup.any():
            first = int(np.flatnonzero(dup)[0])
            warnings.warn(f"{path}: {int(dup.sum())} rows repeat an earlier position "
                          f"(within {DUPLICATE_TOLERANCE_ARCSEC}\"), first at line "
                          f"{int(line_of[first])}", stacklevel=2)
    return df


def _numbers(series, *, path, line_of, column):
    """The float64 values of a column that must hold numbers.

    Integers and floats pass (pandas' nullable ones too, a missing value becoming NaN);
    text passes where every non-missing value reads as a number.  Anything else is
    refused at its first value, whatever pandas or Parquet made of it: booleans
    (``True`` is not a coordinate, although ``pd.to_numeric`` turns it into 1), dates
    and durations (``pd.to_numeric`` turns them into nanoseconds), complex numbers,
    bytes, lists.
    """
    def fail(i, why):
        raise InputError(f"value {_short(series.iloc[i])} is {why}", path=path,
                         row=int(line_of[i]), column=column)

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
        dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if kind in "iuf":
        return series.to_numpy(dtype=float, na_value=np.nan)
    if kind != "O":  # bool, datetime, timedelta, complex, bytes, ...
        present = np.flatnonzero(series.notna().to_numpy())
        i = int(present[0]) if present.size else 0
        fail(i, f"a {_type_name(series.iloc[i])}, not a number")
    import decimal
    import fractions

    obj = series.to_numpy(dtype=object)
    types = [type(v) for v in obj]
    missing = np.array([v is None or v is pd.NA or (t is float and v != v)
                        for v, t in zip(obj, types)], dtype=bool)
    is_str = np.array([issubclass(t, str) for t in types], dtype=bool)
    is_num = np.array([issubclass(t, (int, float, np.integer, np.floating, decimal.Decimal,
                                      fractions.Fraction))
                       and not issubclass(t, (bool, np.bool_)) for t in types], dtype=bool)
    other = ~(missing | is_str | is_num)
    if other.any():
        i = int(np.flatnonzero(other)[0])
        fail(i, f"a {_type_name(obj[i])}, not a number")
    values = np.full(len(obj), np.nan)
    if is_num.any():
        values[is_num] = [_to_float(v) for v in obj[is_num]]
    if is_str.any():
        text = pd.Series(obj[is_str], dtype=object).str.strip()
        parsed = pd.to_numeric(text, errors="coerce")
        bad = parsed.isna().to_numpy() & ~text.str.lower().isin(["nan", "+nan", "-nan"]
                                                               ).to_numpy()
        if bad.any():
            fail(int(np.flatnonzero(is_str)[np.flatnonzero(bad)[0]]), "not a number")
        values[is_str] = [_to_float(v) for v in parsed.to_numpy(dtype=object)]
    return values


def _to_float(v):
    try:
        return float(v)
    except OverflowError:  # an integer beyond float range: infinite, refused as such
        return float("inf") if v > 0 else float("-inf")


def _type_name(v):
    return {bool: "boolean", np.bool_: "boolean", bytes: "byte string",
            complex: "complex number"}.get(type(v), type(v).__name__)


def _short(v, limit=40):
    # NumPy 2 scalars repr as "np.True_", "np.float64(1.0)": the user wrote True, 1.0
    text = repr(v.item() if isinstance(v, np.generic) else v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _duplicate_positions(ra, dec):
    """Mask of rows whose position lies within the duplicate tolerance of an earlier row."""
    dup = np.zeros(len(ra), bool)
    if len(ra) < 2:
        return dup
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky
    c = SkyCoord(np.asarray(ra, float) * u.deg, np.asarray(dec, float) * u.deg)
    i, j, _, _ = search_around_sky(c, c, DUPLICATE_TOLERANCE_ARCSEC * u.arcsec)
    dup[j[i < j]] = True
    return dup

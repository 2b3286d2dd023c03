"""Catalogs: read and validate the paper's tables, find the unshippable ones, make splits.

Shipped with the project (``Datasets/``, from the paper's public repository):

* ``Baseline_training.csv``, ``Baseline_validation.csv``, ``Baseline_test.csv`` -- positions
  of the paper's baseline split (30,000 / 5,000 / 5,000; no labels);
* ``hsc_LSBGs.dat`` -- 781 HSC LSBGs of Greco et al. (2018);
* ``hsc_artifacts.csv`` -- 641 HSC artifacts.

Not shippable (never made public): the class catalogs ``random_LSBGs_all.csv``,
``random_negative_all_1.csv`` and ``random_negative_all_2.csv``.  A user who has them puts
them in the data directory (``$DEEPSHADOWS_DATA``, default a per-user cache directory,
see :func:`data_dir`); :func:`load_class_catalog` says exactly where when they are absent.

Every reader validates what it returns: required columns present, numeric and finite,
``0 <= ra < 360`` and ``-90 <= dec <= 90``; duplicated positions are counted in
``df.attrs["duplicates"]`` and reported with a warning.  Bad input raises
:class:`~deepshadows_lib.errors.InputError` with one line naming the file, the line and the
column.

Labels follow the paper: LSBG = 1, artifact = 0.  For the three-class problem
``class_index`` is artifact2 = 0, lsbg = 1, artifact1 = 2, so that on the binary problem
the label equals the class index.
"""

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from .errors import InputError, MissingDataError

__all__ = [
    "DATASETS_DIR", "CLASSES", "CLASS_INDEX", "CLASS_FILES", "CLASS_COLUMNS",
    "HSC_LSBG_COLUMNS", "HSC_ARTIFACT_COLUMNS", "HSC_COMMON_FEATURES",
    "read_catalog", "validate_catalog", "data_dir", "load_baseline", "load_baseline_splits",
    "load_hsc_lsbgs", "load_hsc_artifacts", "load_hsc_features", "load_class_catalog",
    "load_class_catalogs", "add_labels", "random_split", "random_splits", "baseline_split",
    "paper_split", "match_positions",
]

#: Catalogs shipped with the project (the repository's ``Datasets/``).
DATASETS_DIR = Path(__file__).resolve().parent.parent / "Datasets"

#: Class names, in the order of ``class_index`` for the three-class problem.
CLASSES, CLASS_INDEX, LABELS = schema.CLASSES, schema.CLASS_INDEX, schema.LABELS

#: The original's class catalogs (not public; the user supplies them).
CLASS_FILES = {
    "lsbg": "random_LSBGs_all.csv",
    "artifact1": "random_negative_all_1.csv",
    "artifact2": "random_negative_all_2.csv",
}
BANDS = schema.BANDS
CLASS_COLUMNS = (["coadd_id", "ra", "dec", "A_IMAGE", "B_IMAGE"]
                 + [f"{q}_{b}" for q in ("mag_auto", "flux_radius", "mu_max_model",
                                         "mu_eff_model", "mu_mean_model") for b in BANDS])

#: Columns of ``hsc_LSBGs.dat`` (whitespace separated, no header).  ``m_tot`` is the total
#: g magnitude (m_g in Greco et al. 2018), named as in ``hsc_artifacts.csv``.  The order
#: is read off the data, not the listing in the paper's notes (which puts r_e before the
#: colours): columns 8 and 9 are g-r and g-i (0.05-0.99 and 0.05-1.48, g-i redder as in
#: the artifacts' table), column 10 is r_e in arcsec (2.6"-13.9") with its error after it.
HSC_LSBG_COLUMNS = ["id", "ra", "dec", "mu_0", "mu_0_err", "m_tot", "m_tot_err", "g-r",
                    "g-i", "r_e", "r_e_err", "n", "n_err", "ell", "ell_err", "A_g", "A_r",
                    "A_i"]
HSC_ARTIFACT_COLUMNS = ["ra", "dec", "mu_0", "m_tot", "r_e", "n", "ell", "g-i", "g-r",
                        "A_g", "A_r", "A_i"]
#: Measurements that both HSC tables carry (the real-data feature check).
HSC_COMMON_FEATURES = ["mu_0", "m_tot", "r_e", "n", "ell", "g-i", "g-r"]

# What each kind of catalog must contain, and how it is laid out on disk.
_KINDS = {
    "coordinates": dict(required=["ra", "dec"]),
    "baseline": dict(required=["ra", "dec"], index_col=0),
    "class": dict(required=CLASS_COLUMNS),
    "hsc_lsbgs": dict(required=HSC_LSBG_COLUMNS, whitespace=True, names=HSC_LSBG_COLUMNS),
    "hsc_artifacts": dict(required=HSC_ARTIFACT_COLUMNS),
}

#: Lines longer than this are rejected before parsing (a corrupt or binary file).
MAX_LINE_LENGTH = 100_000
#: Positions closer than this are reported as duplicates (arcsec): repeats of one entry,
#: not close pairs of distinct objects (the paper's files have some 0.1"-0.5" apart).
DUPLICATE_TOLERANCE_ARCSEC = 0.01


def _guess_kind(path):
    name = Path(path).name.lower()
    if name.startswith("baseline_"):
        return "baseline"
    if name.startswith("hsc_lsbgs"):
        return "hsc_lsbgs"
    if name.startswith("hsc_artifacts"):
        return "hsc_artifacts"
    if name.startswith("random_"):
        return "class"
    return "coordinates"


def _scan_lines(path, raw):
    """Check encoding and line lengths; return the 1-based numbers of non-blank lines."""
    if not raw.strip():
        raise InputError("file is empty (expected a table with a header line)", path=path)
    lines = raw.split(b"\n")
    numbers = []
    for i, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_LENGTH:
            raise InputError(f"line is {len(line):,} bytes long (limit {MAX_LINE_LENGTH:,}): "
                             "not a catalog, or a corrupt one", path=path, row=i)
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"bytes that are not UTF-8 at character {exc.start + 1} "
                             f"({line[exc.start:exc.start + 4]!r})", path=path, row=i) from None
        if line.strip():
            numbers.append(i)
    return numbers


def read_catalog(path, *, kind=None, validate=True):
    """Read a catalog file into a validated DataFrame.

    Parameters
    ----------
    path : str or path-like
        A CSV file with a header line, the whitespace-separated ``hsc_LSBGs.dat``, or a
        Parquet file.
    kind : {"coordinates", "baseline", "class", "hsc_lsbgs", "hsc_artifacts"}, optional
        What the file is; decides the required columns and the layout.  Guessed from the
        file name when omitted (``Baseline_*``, ``hsc_LSBGs*``, ``hsc_artifacts*``,
        ``random_*``; anything else is a table of coordinates with ``ra`` and ``dec``).
    validate : bool, optional
        Check the schema (see :func:`validate_catalog`).

    Returns
    -------
    pandas.DataFrame
        ``df.attrs`` holds ``path``, ``kind``, ``duplicates`` (number of rows whose position
        repeats an earlier row) and ``line_numbers`` is not stored; error messages give
        line numbers in the file.

    Raises
    ------
    InputError
        One line naming the file, the line and the column: missing file, empty file,
        header only, wrong delimiter, non-UTF-8 bytes, overlong line, missing column,
        non-numeric or non-finite value, coordinates out of range.
    """
    path = Path(path)
    kind = kind or _guess_kind(path)
    if kind not in _KINDS:
        raise InputError(f"unknown catalog kind {kind!r}; choose one of {', '.join(_KINDS)}",
                         path=path)
    spec = _KINDS[kind]
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.is_dir():
        raise InputError("is a directory, expected a catalog file", path=path)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise InputError(f"not a readable Parquet file ({type(exc).__name__})",
                             path=path) from None
        line_of = np.arange(len(df)) + 1
        header_lines = 0
    else:
        raw = path.read_bytes()
        numbers = _scan_lines(path, raw)
        header_lines = 0 if spec.get("whitespace") else 1
        if len(numbers) <= header_lines:
            raise InputError("header only, no data rows", path=path, row=numbers[-1])
        line_of = np.asarray(numbers[header_lines:])
        df, rows_at = _parse_text(path, raw, spec, first_line=numbers[0])
        if rows_at is not None:
            line_of = rows_at
    df.attrs.update(path=str(path), kind=kind)
    if validate:
        validate_catalog(df, required=spec["required"], path=path, line_of=line_of)
    return df


def _parse_text(path, raw, spec, *, first_line):
    from io import BytesIO
    if spec.get("whitespace"):
        try:
            df = pd.read_csv(BytesIO(raw), sep=r"\s+", header=None, comment="#",
                             engine="python")
        except pd.errors.ParserError as exc:
            raise InputError(f"cannot parse as a whitespace-separated table: {exc}",
                             path=path) from None
        names = spec["names"]
        if df.shape[1] != len(names):
            raise InputError(f"expected {len(names)} whitespace-separated columns "
                             f"({', '.join(names[:4])}, ...), found {df.shape[1]}",
                             path=path, row=first_line)
        df.columns = names
        return df, None
    rows_at = _scan_csv(path, raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mixed-type columns: validated below
            df = pd.read_csv(BytesIO(raw), index_col=spec.get("index_col", False),
                             low_memory=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError,
            OverflowError) as exc:
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise InputError(f"cannot parse as comma-separated values: {msg}", path=path) from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.index.name is not None or spec.get("index_col") is not None:
        df.index.name = None
    if len(df) != len(rows_at):  # lines pandas reads otherwise than the csv module
        rows_at = None
    return df, rows_at


def _scan_csv(path, raw):
    """Check a CSV file's structure; return the line where each data row starts.

    One line naming the file and line for what pandas would silently misread or report
    without a line: a row with more or fewer fields than the header (pandas turns one
    extra field into the index), an unterminated quote, a header separated by something
    else than commas.
    """
    import csv
    import io

    text = raw.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    starts, n_header, end = [], None, 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line (pandas skips it too)
            if n_header is None:
                n_header, header = len(record), ",".join(record).strip()
                names = [c.strip() for c in record]
                twice = [c for c in names if c and names.count(c) > 1]
                if twice:
                    raise InputError(f"column {twice[0]!r} appears more than once in the "
                                     "header", path=path, row=start, column=twice[0])
                if n_header == 1:
                    for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes"),
                                       (" ", "spaces")):
                        if sep in header:
                            raise InputError(f"header {header[:60]!r} is separated by "
                                             f"{label}, expected commas (wrong delimiter)",
                                             path=path, row=start)
                continue
            if len(record) != n_header:
                raise InputError(f"row has {len(record)} fields, the header has {n_header}",
                                 path=path, row=start)
            starts.append(start)
    except csv.Error as exc:
        raise InputError(f"cannot parse as comma-separated values: {exc}", path=path,
                         row=reader.line_num) from None
    if n_header is not None and not starts:
        raise InputError("header only, no data rows", path=path, row=end)
    return np.asarray(starts, dtype=np.int64)


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
    text = repr(v)
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


# --------------------------------------------------------------------------- shipped data
def _shipped(name):
    path = DATASETS_DIR / name
    if not path.exists():
        raise MissingDataError(f"shipped catalog missing from the project's Datasets/ "
                               f"directory (reinstall or re-clone)", path=path)
    return path


def load_baseline(split):
    """Positions of one split of the paper's baseline split.

    Parameters
    ----------
    split : {"training", "validation", "test"}

    Returns
    -------
    pandas.DataFrame
        Columns ra, dec (30,000, 5,000 and 5,000 rows).
    """
    if split not in ("training", "validation", "test"):
        raise ValueError(f"split must be training, validation or test, not {split!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the paper's files repeat some positions
        return read_catalog(_shipped(f"Baseline_{split}.csv"), kind="baseline")


def load_baseline_splits():
    """The three baseline splits as a dict ``{"training": df, "validation": df, "test": df}``."""
    return {s: load_baseline(s) for s in ("training", "validation", "test")}


def load_hsc_lsbgs():
    """The 781 HSC LSBGs of Greco et al. (2018) (columns :data:`HSC_LSBG_COLUMNS`)."""
    return read_catalog(_shipped("hsc_LSBGs.dat"), kind="hsc_lsbgs")


def load_hsc_artifacts():
    """The 641 HSC artifacts (columns :data:`HSC_ARTIFACT_COLUMNS`)."""
    return read_catalog(_shipped("hsc_artifacts.csv"), kind="hsc_artifacts")


def load_hsc_features():
    """The real HSC measurements of both classes, for the feature-based check.

    Returns
    -------
    X : pandas.DataFrame
        The :data:`HSC_COMMON_FEATURES` (mu_0, m_tot, r_e, n, ell, g-i, g-r).
    y : numpy.ndarray
        1 for the 781 LSBGs, 0 for the 641 artifacts.
    """
    lsbg, art = load_hsc_lsbgs(), load_hsc_artifacts()
    X = pd.concat([lsbg[HSC_COMMON_FEATURES], art[HSC_COMMON_FEATURES]], ignore_index=True)
    y = np.concatenate([np.ones(len(lsbg), int), np.zeros(len(art), int)])
    return X, y


# --------------------------------------------------------------------------- user data
def data_dir():
    """Directory where the user's own data live.

    ``$DEEPSHADOWS_DATA`` when set, otherwise the per-user cache directory
    (``~/.cache/deepshadows`` on Linux, ``~/Library/Caches/deepshadows`` on macOS).
    """
    env = os.environ.get("DEEPSHADOWS_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("deepshadows", appauthor=False))


def load_class_catalog(name, *, directory=None):
    """Load one of the original's class catalogs from the data directory.

    Parameters
    ----------
    name : {"lsbg", "artifact1", "artifact2"}
        ``random_LSBGs_all.csv``, ``random_negative_all_1.csv`` or
        ``random_negative_all_2.csv``.
    directory : str or path-like, optional
        Where to look; default :func:`data_dir`.

    Returns
    -------
    pandas.DataFrame
        The validated catalog with ``label``, ``class_name`` and ``class_index`` added.

    Raises
    ------
    MissingDataError
        When the file is absent: the message names the file and the exact path to put it.
    """
    if name not in CLASS_FILES:
        raise ValueError(f"class must be one of {', '.join(CLASS_FILES)}, not {name!r}")
    directory = Path(directory) if directory is not None else data_dir()
    path = directory / CLASS_FILES[name]
    if not path.exists():
        raise MissingDataError(
            f"the original DeepShadows catalog {CLASS_FILES[name]} is not public and cannot "
            f"be shipped: put your copy (columns {', '.join(CLASS_COLUMNS[:5])}, ...) at "
            f"{path}, or set DEEPSHADOWS_DATA to the directory that holds it", path=path)
    return add_labels(read_catalog(path, kind="class"), name)


def load_class_catalogs(classes=("lsbg", "artifact2"), *, directory=None):
    """Concatenate class catalogs in the paper's order (LSBGs first), with labels."""
    parts = [load_class_catalog(c, directory=directory) for c in classes]
    return pd.concat(parts, ignore_index=True)


def add_labels(df, class_name):
    """Return ``df`` with ``label`` (LSBG = 1, artifact = 0), ``class_name`` and ``class_index``."""
    if class_name not in CLASS_INDEX:
        raise ValueError(f"unknown class {class_name!r}; choose one of {', '.join(CLASSES)}")
    out = df.copy()
    out["label"] = LABELS[class_name]
    out["class_name"] = class_name
    out["class_index"] = CLASS_INDEX[class_name]
    return out


# --------------------------------------------------------------------------- splits
def _n_of(data):
    if isinstance(data, (int, np.integer)):
        return int(data)
    return len(data)


def random_split(data, *, seed, test_size=0.25, validation_size=0.5):
    """The paper's random split: ``train_test_split(test_size=0.25)``, then the held-out
    part split 50/50 into validation and test, with the same ``random_state``.

    Parameters
    ----------
    data : int or sized
        Number of objects, or anything with a length (a catalog, an array).
    seed : int
        ``random_state`` of both calls (the paper: 1, 3, 18, 33, 42, 96).
    test_size : float, optional
        Fraction held out from training.
    validation_size : float, optional
        Fraction of the held-out part that becomes the validation set.

    Returns
    -------
    dict
        ``{"train": idx, "validation": idx, "test": idx}``, integer index arrays into
        ``data``; for 40,000 objects 30,000 / 5,000 / 5,000.
    """
    from sklearn.model_selection import train_test_split
    n = _n_of(data)
    idx = np.arange(n)
    train, rest = train_test_split(idx, test_size=test_size, random_state=seed)
    val, test = train_test_split(rest, test_size=1 - validation_size, random_state=seed)
    return {"train": train, "validation": val, "test": test}


def random_splits(data, *, seeds=(1, 3, 18, 33, 42, 96), **kwargs):
    """:func:`random_split` for each seed: ``{seed: split}``."""
    return {s: random_split(data, seed=s, **kwargs) for s in seeds}


def match_positions(ra1, dec1, ra2, dec2, *, tolerance_arcsec=1.0):
    """One-to-one positional match of two lists of positions.

    Pairs closer than the tolerance are taken closest first, each position used at most
    once, so that repeated positions (the paper's files have some) pair up one by one.

    Returns
    -------
    i1, i2 : numpy.ndarray
        Indices into the first and second list of the matched pairs.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky
    c1 = SkyCoord(np.asarray(ra1, float) * u.deg, np.asarray(dec1, float) * u.deg)
    c2 = SkyCoord(np.asarray(ra2, float) * u.deg, np.asarray(dec2, float) * u.deg)
    i1, i2, sep, _ = search_around_sky(c1, c2, tolerance_arcsec * u.arcsec)
    order = np.lexsort((i2, i1, sep.arcsec))
    used1 = np.zeros(len(c1), bool)
    used2 = np.zeros(len(c2), bool)
    keep = []
    for k in order:  # greedy, closest first; loops only over candidate pairs
        a, b = i1[k], i2[k]
        if not used1[a] and not used2[b]:
            used1[a] = used2[b] = True
            keep.append(k)
    keep = np.asarray(keep, dtype=int)
    return i1[keep], i2[keep]


def baseline_split(catalog, *, tolerance_arcsec=1.0, baseline=None):
    """The paper's baseline split of a catalog, by position.

    Each row of ``Baseline_{training,validation,test}.csv`` is matched one to one with a
    row of ``catalog`` within the tolerance.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Must have ra and dec (for the paper: the LSBG and type-2 artifact class catalogs
        concatenated).
    tolerance_arcsec : float, optional
        Matching radius.
    baseline : dict, optional
        ``{"training": df, "validation": df, "test": df}``; default the shipped files.

    Returns
    -------
    dict
        ``{"train": idx, "validation": idx, "test": idx}`` index arrays into ``catalog``
        (sorted), and ``"unmatched"``: the number of baseline rows without a partner.

    Raises
    ------
    InputError
        When no position matches (a catalog that is not the paper's, e.g. a synthetic
        survey: use :func:`paper_split`).
    """
    baseline = baseline or load_baseline_splits()
    names = {"training": "train", "validation": "validation", "test": "test"}
    ra_b = np.concatenate([baseline[s]["ra"].to_numpy(float) for s in names])
    dec_b = np.concatenate([baseline[s]["dec"].to_numpy(float) for s in names])
    which = np.concatenate([np.full(len(baseline[s]), k) for k, s in enumerate(names)])
    ib, ic = match_positions(ra_b, dec_b, catalog["ra"], catalog["dec"],
                             tolerance_arcsec=tolerance_arcsec)
    if len(ib) == 0:
        raise InputError("no position matches the paper's baseline split within "
                         f"{tolerance_arcsec}\" (not the paper's objects?)",
                         path=catalog.attrs.get("path", "catalog"))
    out = {key: np.sort(ic[which[ib] == k]) for k, key in enumerate(names.values())}
    out["unmatched"] = int(len(ra_b) - len(ib))
    return out


def paper_split(catalog, *, seed=None, tolerance_arcsec=1.0):
    """The split a notebook should use for ``catalog``.

    The baseline split when the catalog holds the paper's objects (every baseline
    position matched), otherwise -- a synthetic survey, another sample -- the paper's
    random split with ``seed`` (default 42) in the same 75 / 12.5 / 12.5 proportions.

    Returns
    -------
    dict
        As :func:`random_split`, plus ``"kind"``: ``"baseline"`` or ``"random"``.
    """
    if not catalog.get("simulated", pd.Series([False])).astype(bool).any():
        try:
            split = baseline_split(catalog, tolerance_arcsec=tolerance_arcsec)
            if split["unmatched"] == 0:
                split["kind"] = "baseline"
                return split
        except InputError:
            pass
    split = random_split(catalog, seed=42 if seed is None else seed)
    split["kind"] = "random"
    return split

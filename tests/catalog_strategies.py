"""Hypothesis strategies of catalog files, good and bad, with what a reader must say.

A drawn case is ``(data, suffix, expect)``: the bytes of a file, its suffix (``.csv`` or
``.parquet``) and ``expect``, None for a good catalog or a dict of what the one-line error
must name: ``line`` (1-based line of the file, Parquet: row) and ``column``, each None
where the problem has no line or no column.  Every defect of the list in issue 19 is here:
types, encodings, delimiters, missing or extra columns, NaN, infinities, out-of-range and
non-numeric coordinates of any type, duplicates, huge lines, empty files.
"""

import io
import math

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from deepshadows_lib.catalogs import MAX_LINE_LENGTH

COORDS = ("ra", "dec")
_RANGE = {"ra": (0.0, 359.999999), "dec": (-90.0, 90.0)}


def _coord(col):
    lo, hi = _RANGE[col]
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _fmt(x):
    return repr(float(x))


@st.composite
def good_tables(draw, *, min_rows=1, max_rows=8):
    """A valid table of positions as a DataFrame, with optional extra columns."""
    n = draw(st.integers(min_rows, max_rows))
    ra = draw(st.lists(_coord("ra"), min_size=n, max_size=n))
    dec = draw(st.lists(_coord("dec"), min_size=n, max_size=n))
    df = pd.DataFrame({"ra": ra, "dec": dec})
    if draw(st.booleans()):  # extra columns are carried, never a problem
        df["name"] = [f"obj{i}" for i in range(n)]
    if draw(st.booleans()):
        df["mag"] = draw(st.lists(st.floats(10, 30), min_size=n, max_size=n))
    if draw(st.booleans()):  # a repeated position: reported, not rejected
        df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    order = draw(st.permutations(list(df.columns)))
    return df[order]


# Cell texts that are not finite numbers in range, and what the error names.
_NON_NUMBERS = st.one_of(
    st.sampled_from(["abc", "12h30m", "0x1F", "--1", "1e", "None", "null", "N/A",
                     "true", "TRUE", "[1.0]", "(1, 2)", "1+2j", "10 20", "é", "∞", "1.2.3",
                     "1_0x"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                   blacklist_characters=',"\r\n\x00'),
            min_size=1, max_size=12).filter(lambda t: _not_a_number(t)))


def _not_a_number(text):
    try:
        v = pd.to_numeric(pd.Series([text.strip()]), errors="coerce").iloc[0]
    except Exception:
        return True
    return pd.isna(v) and text.strip().lower() not in ("nan", "+nan", "-nan")


def _bad_value(col):
    lo, hi = _RANGE[col]
    return st.one_of(
        _NON_NUMBERS,
        st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "", "1e999"]),
        st.floats(hi + 1e-3, 1e300).map(_fmt),
        st.floats(-1e300, lo - 1e-3).map(_fmt),
        st.just("360.0") if col == "ra" else st.just("90.5"))


def _csv(header, rows, *, sep=",", eol="\n"):
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    return (eol.join(lines) + eol)


@st.composite
def csv_cases(draw):
    """A CSV catalog (bytes) and what reading it must give."""
    df = draw(good_tables())
    header = list(df.columns)
    rows = [[_fmt(v) if isinstance(v, float) else str(v) for v in r]
            for r in df.itertuples(index=False)]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    defect = draw(st.sampled_from([
        None, "bad_value", "boolean_column", "missing_column", "repeated_column",
        "delimiter", "extra_field", "missing_field", "latin1", "utf16", "huge_line",
        "empty", "header_only", "open_quote", "bom", "blank_lines"]))
    expect = {"line": None, "column": None}
    encoding = "utf-8"
    if defect is None:
        expect = None
    elif defect == "bad_value":
        col = draw(st.sampled_from(COORDS))
        r = draw(st.integers(0, len(rows) - 1))
        rows[r][header.index(col)] = draw(_bad_value(col))
        expect = {"line": r + 2, "column": col}
    elif defect == "boolean_column":  # read by pandas as booleans, not numbers
        col = draw(st.sampled_from(COORDS))
        for r in rows:
            r[header.index(col)] = draw(st.sampled_from(["True", "False"]))
        expect = {"line": 2, "column": col}
    elif defect == "missing_column":
        col = draw(st.sampled_from(COORDS))
        k = header.index(col)
        header = header[:k] + header[k + 1:]
        rows = [r[:k] + r[k + 1:] for r in rows]
        expect = {"line": None, "column": col}
    elif defect == "repeated_column":
        col = draw(st.sampled_from(COORDS))
        header = header + [col]
        rows = [r + [r[header.index(col)]] for r in rows]
        expect = {"line": 1, "column": col}
    elif defect == "delimiter":
        sep = draw(st.sampled_from([";", "\t", "|"]))
        text = _csv(header, rows, sep=sep, eol=eol)
        return text.encode(), ".csv", {"line": 1, "column": None}
    elif defect in ("extra_field", "missing_field"):
        r = draw(st.integers(0, len(rows) - 1))
        rows[r] = rows[r] + ["1.0"] if defect == "extra_field" else rows[r][:-1]
        expect = {"line": r + 2, "column": None}
    elif defect == "latin1":
        r = draw(st.integers(0, len(rows) - 1))
        rows[r][0] = rows[r][0] + "é"
        encoding = "latin-1"
        expect = {"line": r + 2, "column": None}
    elif defect == "utf16":
        encoding = "utf-16"
        expect = {"line": 1, "column": None}
    elif defect == "huge_line":
        r = draw(st.integers(0, len(rows) - 1))
        rows[r][-1] = rows[r][-1] + " " * (MAX_LINE_LENGTH + 1)
        expect = {"line": r + 2, "column": None}
    elif defect == "empty":
        return draw(st.sampled_from([b"", b"\n", b"  \n\n", b"\r\n"])), ".csv", expect
    elif defect == "header_only":
        return _csv(header, [], eol=eol).encode(), ".csv", {"line": 1, "column": None}
    elif defect == "open_quote":
        r = draw(st.integers(0, len(rows) - 1))
        rows[r][0] = '"' + rows[r][0]
        expect = {"line": None, "column": None}  # the line where the file ends
    elif defect == "bom":
        return ("\ufeff" + _csv(header, rows, eol=eol)).encode(), ".csv", None
    elif defect == "blank_lines":
        text = _csv(header, rows, eol=eol)
        lines = text.split(eol)
        lines.insert(1, "")
        return eol.join(lines).encode(), ".csv", None
    text = _csv(header, rows, eol=eol)
    return text.encode(encoding), ".csv", expect


_TYPED = {
    "bool": lambda n: [True] * n,
    "datetime": lambda n: pd.to_datetime(["2020-01-01"] * n),
    "timedelta": lambda n: pd.to_timedelta([1] * n, unit="s"),
    "bytes": lambda n: [b"10.5"] * n,
    "list": lambda n: [[10.5]] * n,
    "text": lambda n: ["10.5"] * (n - 1) + ["ten"],
    "nan": lambda n: [10.5] * (n - 1) + [math.nan],
    "inf": lambda n: [10.5] * (n - 1) + [math.inf],
    "out_of_range": lambda n: [10.5] * (n - 1) + [400.0],
    "nullable_missing": lambda n: pd.array([10] * (n - 1) + [None], dtype="Int64"),
}


@st.composite
def parquet_cases(draw):
    """A Parquet catalog (bytes) whose ra or dec column has a drawn type, and the verdict."""
    df = draw(good_tables(min_rows=2))
    kind = draw(st.sampled_from([None, "categorical", "string", "int"] + list(_TYPED)))
    col = draw(st.sampled_from(COORDS))
    n = len(df)
    expect = None
    if kind == "categorical":
        df[col] = pd.Categorical(df[col])
    elif kind == "string":
        df[col] = pd.array([_fmt(v) for v in df[col]], dtype="string")
    elif kind == "int":
        df[col] = np.clip(df[col].round(), 0, 90).astype("int64")
    elif kind is not None:
        df[col] = _TYPED[kind](n)
        bad_row = n if kind in ("text", "nan", "inf", "out_of_range",
                                "nullable_missing") else 1
        expect = {"line": bad_row, "column": col}
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue(), ".parquet", expect


def any_case():
    """A CSV or Parquet case."""
    return st.one_of(csv_cases(), parquet_cases())

"""Reading catalogs (CSV, whitespace tables, Parquet) with one-line errors on bad input."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .columns import _KINDS, MAX_LINE_LENGTH
from .validate import validate_catalog

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

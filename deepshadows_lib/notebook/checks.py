"""Smoke checks of what the notebooks wrote: images that are not blank, figures without
empty panels, tables without impossible numbers.

Each function returns a list of problems (strings, empty when none), so that
:func:`deepshadows_lib.notebook.runner.check_outputs` can report every problem at once.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .. import schema

__all__ = ["image_problems", "panel_problems", "table_problems", "RATE_WORDS", "COUNT_WORDS"]

#: A table value is a rate, which must lie in [0, 1], when its column or row names one of
#: these (``accuracy / this run``, ``recall lsbg``, ``auc (paper)``...).
RATE_WORDS = ("accuracy", "auc", "recall", "precision")
#: A value is a count, which must not be negative, when its column is named so.
COUNT_WORDS = ("objects", "flipped", "count", "tn", "fp", "fn", "tp") + schema.CLASSES

_WORD = re.compile(r"[a-z0-9_]+")


def image_problems(path):
    """Problems of a PNG: it does not open, is blank (no contrast) or is too small."""
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im.convert("L"), dtype=float)
    except Exception as exc:  # PIL raises several types for a broken file
        return [f"does not open as an image ({type(exc).__name__})"]
    if arr.size == 0 or arr.std() < 2.0:
        return ["is blank"]
    if min(arr.shape) < 100:
        return [f"is too small ({arr.shape[1]}x{arr.shape[0]})"]
    return []


def panel_problems(entry):
    """Problems of a figure's manifest entry: panels with nothing drawn in them
    (recorded at save time by :func:`deepshadows_lib.manifest.figure_panels`)."""
    panels = entry.get("panels")
    if panels is None:
        return []  # saved before panels were recorded: nothing to check
    if panels.get("panels", 0) == 0:
        return ["has no panel"]
    return [f"has an empty panel ({', '.join(map(str, panels['empty']))})"] \
        if panels.get("empty") else []


def _words(label):
    parts = label if isinstance(label, tuple) else (label,)
    return set(_WORD.findall(" ".join(str(p) for p in parts).lower()))


def table_problems(table):
    """Impossible numbers in a table (a DataFrame or the path of its CSV).

    A rate (column or row naming accuracy, AUC, recall or precision) outside [0, 1] is a
    problem, and so is a missing rate of this run (NaN where no column names the paper);
    a count (objects, flipped, the classes, confusion counts) below zero is one.
    """
    if not isinstance(table, pd.DataFrame):
        table = pd.read_csv(table, index_col=0)
    problems = []
    for col in table.columns:
        if table[col].dtype == bool:
            continue  # flags (met, holds) are not numbers
        cwords = _words(col)
        numeric = pd.to_numeric(table[col], errors="coerce")
        if not pd.api.types.is_numeric_dtype(table[col]):
            # strings (intervals, ranges, verdicts): only the cells that are numbers count
            numeric = numeric.where(table[col].map(lambda v: isinstance(v, (int, float))
                                                   and not isinstance(v, bool)))
        # a missing rate is a problem in a column of this run's numbers: one named for a
        # rate, or one that holds numbers elsewhere (not the paper's, not all empty)
        may_miss = "paper" in cwords or not pd.api.types.is_numeric_dtype(table[col]) or \
            (numeric.isna().all() and not cwords & set(RATE_WORDS))
        for row, value in numeric.items():
            where = f"row {row!r}, column {col!r}"
            if (cwords | _words(row)) & set(RATE_WORDS):
                if value != value:  # NaN
                    if not may_miss:
                        problems.append(f"{where}: missing value (NaN)")
                elif not 0.0 <= value <= 1.0:
                    problems.append(f"{where}: {value:g} is outside [0, 1]")
            if cwords & set(COUNT_WORDS) and value == value and value < 0:
                problems.append(f"{where}: count {value:g} is negative")
    return problems


def table_file_problems(path):
    """:func:`table_problems` of a CSV, with a problem when it does not parse."""
    try:
        return table_problems(Path(path))
    except (ValueError, pd.errors.ParserError) as exc:
        return [f"does not parse as CSV ({exc})"]

"""The verdict table: verdicts recorded per run, and ``conclusions.csv`` / ``.md``."""

import hashlib
import json
from pathlib import Path

import pandas as pd

from .._io import atomic_write_json, json_ready
from ..errors import InputError
from .claims import CLAIMS, NOT_RUN

__all__ = ["run_id", "record", "report_verdicts", "load_records", "verdict_table",
           "check_complete", "check_holds", "MAY_FAIL_PROFILES"]

#: Profiles whose runs are too small for the paper's claims to hold (CI's smoke run):
#: ``make paper-figures`` reports their rows that say no but does not fail on them.
MAY_FAIL_PROFILES = ("smoke",)


def run_id(parameters, data_sha256=None):
    """A short identifier of a run: its parameters and the content of its data.

    Verdicts recorded under another identifier (an earlier run in the same build
    directory, with other sizes or data) are not shown as this run's.
    """
    blob = json.dumps({"parameters": json_ready(parameters), "data": data_sha256},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def record(path, *verdicts, run=None):
    """Add (or replace) verdicts in the run's record file ``path`` (JSON, atomic).

    Parameters
    ----------
    path : str or path-like
        The record file (``build/PROFILE/conclusions.json``).
    *verdicts : Verdict
    run : str, optional
        :func:`run_id` of the run that made them.

    Returns
    -------
    dict
        Every recorded verdict, ``key -> dict``.
    """
    records = load_records(path)
    for v in verdicts:
        if v.key not in CLAIMS:
            raise InputError(f"unknown claim {v.key!r}; known: {', '.join(CLAIMS)}")
        records[v.key] = {**v.as_dict(), "run": run}
    atomic_write_json(path, records)
    return records


def report_verdicts(report, cfg, *verdicts, data=None):
    """Record verdicts of a notebook and save the whole verdict table with ``report``.

    Parameters
    ----------
    report : deepshadows_lib.manifest.Reporter
        Saves ``conclusions.csv`` and ``conclusions.md`` (with provenance).
    cfg : deepshadows_lib.pipeline.RunConfig
        The run: its record file is ``cfg.path("conclusions.json")``.
    *verdicts : Verdict
    data : deepshadows_lib.store.Store, optional
        The run's DES store; its content hash is part of the run's identifier, so rows
        recorded by a run on other data say ``not run``.

    Returns
    -------
    pandas.DataFrame
        The table (:func:`verdict_table`).
    """
    run = cfg.run_id(data)
    records = record(cfg.path("conclusions.json"), *verdicts, run=run)
    table = verdict_table(records, run=run)
    return report.table(table, "conclusions",
                        caption="The paper's conclusions tested on this run")


def load_records(path):
    """The verdicts recorded in ``path`` (empty when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"not a verdict record: {exc.msg}", path=path,
                         row=exc.lineno) from None


def verdict_table(records, *, run=None):
    """One row per claim of :data:`CLAIMS`: the paper's number, this run's, the test,
    whether it holds (``yes``, ``no`` or ``not run``) and a note.

    Parameters
    ----------
    records : dict or str or path-like
        :func:`record`'s result, or the path of the record file.
    run : str, optional
        Show only verdicts recorded by this run (:func:`run_id`).
    """
    if not isinstance(records, dict):
        records = load_records(records)
    rows = []
    for key, claim in CLAIMS.items():
        r = records.get(key)
        if r is not None and run is not None and r.get("run") != run:
            r = None
        rows.append({"claim": claim.claim, "paper": claim.paper,
                     "this run": r["this_run"] if r else "",
                     "test": (r.get("test") or claim.test) if r else claim.test,
                     "holds": ("yes" if r["holds"] else "no") if r else NOT_RUN,
                     "note": r.get("note", "") if r else f"runs in {claim.notebook}"})
    return pd.DataFrame(rows).set_index("claim")


def check_complete(figures_dir):
    """Read ``figures_dir/conclusions.csv`` and check that every claim has a verdict.

    Returns
    -------
    pandas.DataFrame
        The table.

    Raises
    ------
    InputError
        If the file is missing, or names the rows that are missing or not run.
    """
    path = Path(figures_dir) / "conclusions.csv"
    if not path.exists():
        raise InputError("conclusions.csv is missing (made by notebooks 02-05)", path=path)
    table = pd.read_csv(path, index_col=0, keep_default_na=False)
    if "holds" not in table.columns:
        raise InputError("conclusions.csv has no 'holds' column", path=path, column="holds")
    missing = [c.claim for c in CLAIMS.values() if c.claim not in table.index]
    not_run = [c for c in table.index if table.loc[c, "holds"] not in ("yes", "no")]
    if missing or not_run:
        raise InputError("verdicts missing for: " + "; ".join(missing + not_run), path=path)
    return table


def check_holds(table, *, profile, path=None):
    """Check that every claim holds, as issue 15 asks of the default (and paper) profile.

    A row that says ``no`` passes only with a note saying why it cannot hold on this
    machine (the issue: "where a row cannot hold ... say which and why in the table"),
    or in a profile of :data:`MAY_FAIL_PROFILES` (too small to test the paper).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`check_complete`'s table.
    profile : str
        The profile that made the table.
    path : path-like, optional
        The table's file, named in the error.

    Returns
    -------
    list of str
        The claims that do not hold (explained by a note, or allowed by the profile).

    Raises
    ------
    InputError
        Naming each claim that does not hold without a note, with this run's number.
    """
    broken = [c for c in table.index if table.loc[c, "holds"] != "yes"]
    if profile in MAY_FAIL_PROFILES:
        return broken
    notes = table["note"] if "note" in table.columns else pd.Series("", index=table.index)
    unexplained = [c for c in broken if not str(notes[c]).strip()]
    if unexplained:
        raise InputError(
            f"{len(unexplained)} claim(s) of the paper do not hold in this {profile} run, "
            "with no note saying why: " + "; ".join(
                f"{c} ({table.loc[c, 'this run']}; test: {table.loc[c, 'test']})"
                for c in unexplained), path=path)
    return broken

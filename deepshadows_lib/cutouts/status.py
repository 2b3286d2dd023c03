"""The per-object status table of a download, and the summary of a run."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_path
from ..errors import InputError

__all__ = ["DownloadSummary", "read_status", "STATUS_FILE"]

#: The status table's file name inside a download directory.
STATUS_FILE = "status.parquet"
_STATUS = STATUS_FILE


@dataclasses.dataclass
class DownloadSummary:
    """What a :func:`download` run did.

    Attributes
    ----------
    path : pathlib.Path
        The output directory (a store once every object is ok or failed).
    n : int
        Catalog rows.
    ok : int
        Rows whose cutout is in the store.
    failed : dict
        Failed rows by reason (``blank``, ``timeout``, ``http_503``, ...).
    pending : int
        Rows not yet fetched (only after an interrupted run).
    fetched : int
        Distinct positions requested by this run.
    reused : int
        Distinct positions already done by an earlier run and not requested again.
    seconds : float
        Wall time of this run.
    """

    path: Path
    n: int
    ok: int
    failed: dict
    pending: int
    fetched: int
    reused: int
    seconds: float

    @property
    def n_failed(self):
        """Number of failed rows."""
        return int(sum(self.failed.values()))

    @property
    def status_path(self):
        """The status table (read it with :func:`read_status`)."""
        return self.path / _STATUS

    def __str__(self):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.failed.items()))
        rate = self.fetched / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.ok} ok, {self.n_failed} failed" + (f" ({reasons})" if reasons else "")
                + (f", {self.pending} pending" if self.pending else "")
                + f" of {self.n} objects; {self.fetched} fetched in {self.seconds:.1f} s "
                f"({rate:.1f}/s), {self.reused} already done")


def read_status(path):
    """Read the per-object status table of a download.

    Parameters
    ----------
    path : str or path-like
        The output directory of :func:`download` (or the ``status.parquet`` file).

    Returns
    -------
    pandas.DataFrame
        One row per catalog row, in catalog order: ``row`` (0-based catalog row), ``ra``,
        ``dec``, ``status`` (``ok``, ``failed`` or ``pending``) and ``reason`` (empty
        unless failed).  The k-th ``ok`` row is image k of the store.
    """
    path = Path(path)
    table = path if path.suffix == ".parquet" else path / _STATUS
    if not table.is_file():
        raise InputError("no download status table here (run 'deepshadows download')",
                         path=path)
    return pd.read_parquet(table)


def status_table(catalog, codes, ok, failed):
    """One row per catalog row: ``row``, ``ra``, ``dec``, ``status``, ``reason``.

    ``codes`` maps each row to its distinct position; ``ok`` holds the positions staged
    or stored, ``failed`` maps positions to the reason they failed.
    """
    status = np.full(len(codes), "pending", dtype=object)
    reason = np.full(len(codes), "", dtype=object)
    is_ok = np.fromiter((u in ok for u in codes), bool, len(codes))
    why = [failed.get(u) for u in codes]
    is_failed = np.array([w is not None for w in why], bool) & ~is_ok
    status[is_ok] = "ok"
    status[is_failed] = "failed"
    reason[is_failed] = [w for w, f in zip(why, is_failed) if f]
    return pd.DataFrame({"row": np.arange(len(codes), dtype=np.int64),
                         "ra": catalog["ra"].to_numpy(float),
                         "dec": catalog["dec"].to_numpy(float),
                         "status": status.astype(str), "reason": reason.astype(str)})


def write_status(out, table):
    """Write the status table into the download directory ``out``, atomically."""
    with atomic_path(out / _STATUS) as tmp:
        table.to_parquet(tmp, index=False)

"""Atomic writes: a file or directory appears complete or not at all.

A crash (or ``kill -9``) in the middle of a write leaves the previous version intact and
at most a stray temporary file beside it, never a truncated result.
"""

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["json_ready", "atomic_path", "atomic_write_text", "atomic_write_json", "atomic_dir",
           "sha256_file", "remove_stale_temporaries"]


def _umask():
    """The process's file-creation mask (read without changing it, where Linux allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (the only portable reading)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, *, suffix=None):
    """Yield a temporary path in the same directory; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or path-like
        The final destination.
    suffix : str, optional
        Suffix of the temporary file (some writers infer the format from it);
        defaults to the suffix of ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=path.suffix if suffix is None else suffix)
    # mkstemp makes the file private (0600); the result should be as readable as any
    # file the user writes (colleagues on a shared disk, a web server publishing a model)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path, text, *, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_json(path, obj, *, indent=2):
    """Write ``obj`` as JSON to ``path`` atomically (keys sorted, for stable diffs)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, default=str)
                      + "\n")


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary directory; move it onto ``path`` on success.

    An existing ``path`` is replaced only after the new directory is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700, as for atomic_path's files
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(path):
    """Delete what killed atomic writes of ``path`` left beside it (``.NAME.*``).

    Call it only where no other process writes ``path`` at the same time.

    Returns
    -------
    list of pathlib.Path
        What was removed.
    """
    path = Path(path)
    removed = []
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def sha256_file(path, *, block=1 << 20):
    """Return the hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def json_ready(obj, *, drop=None):
    """``obj`` with numpy scalars and arrays, paths and data frames made JSON-ready.

    Dict keys become strings, arrays and tuples lists, numpy integers and booleans Python
    ones, non-finite floats None (JSON has no NaN), paths strings, and a pandas
    ``DataFrame`` a dict of columns (index included).  ``drop(key, value)``, when given,
    leaves out the dict items for which it is true, at every depth (e.g. trained models
    among a study's results).
    """
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_ready(v, drop=drop) for k, v in obj.items()
                if drop is None or not drop(k, v)}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v, drop=drop) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist(), drop=drop)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    pd = sys.modules.get("pandas")  # only a loaded pandas can have made a DataFrame
    if pd is not None and isinstance(obj, pd.DataFrame):
        return json_ready(obj.reset_index().to_dict(orient="list"), drop=drop)
    return obj

"""Resumable per-chunk results: ``OUT.parts/chunk-NNNNNN.parquet`` and the job record.

The unit of work is one store chunk.  Each finished chunk is written atomically; a rerun
of the same job skips those chunks.  ``OUT.parts/job.json`` records what the parts were
computed from (model and store hashes, batch size, columns), so that parts of a
different model or store are never mixed in.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .._io import atomic_dir, atomic_path, atomic_write_json, sha256_file
from ..errors import InputError

_PART_GLOB = "chunk-*.parquet"
_JOB = "job.json"


def parts_dir(out):
    """Directory of the per-chunk partial results of the output ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _part_path(parts, k):
    return parts / f"chunk-{k:06d}.parquet"


def _done_chunks(parts, n_chunks):
    done = set()
    for p in parts.glob(_PART_GLOB):
        try:
            k = int(p.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if 0 <= k < n_chunks:
            done.add(k)
    return done


def _write_part(parts, k, start, probs, columns):
    """Write chunk ``k``'s results (``store_row`` and ``columns``) atomically."""
    data = {"store_row": np.arange(start, start + len(probs), dtype=np.int64)}
    data.update({name: np.ascontiguousarray(probs[:, j], np.float32)
                 for j, name in enumerate(columns)})
    with atomic_path(_part_path(parts, k)) as tmp:
        pq.write_table(pa.table(data), tmp)


def _job_signature(model_path, store, batch_size, columns, *, precision="float32"):
    attrs = store.attrs
    # the default precision is left out, so that parts of runs made before the option
    # existed stay resumable
    extra = {} if precision == "float32" else {"precision": precision}
    return {
        "model": str(Path(model_path).resolve()),
        "model_sha256": sha256_file(model_path),
        "store": str(Path(store.path).resolve()),
        "store_content_sha256": attrs.get("content_sha256"),
        "n": store.n,
        "chunk_size": store.chunk_size,
        "batch_size": int(batch_size),
        "columns": list(columns),
        **extra,
    }


def _prepare_parts(parts, job, *, overwrite):
    """Create ``parts`` for ``job``, or reopen it if it holds parts of the same job."""
    meta = parts / _JOB
    if parts.exists() and not meta.exists() and not any(parts.iterdir()):
        # an empty directory without a job record holds nothing to lose: a run killed
        # while creating it (before creation was atomic)
        parts.rmdir()
    if parts.exists():
        try:
            old = json.loads(meta.read_text())
        except (OSError, ValueError):
            old = None
        if old != job:
            if not overwrite:
                raise InputError("holds partial results of a different run (another model, "
                                 "store or batch size); pass --overwrite to discard them",
                                 path=parts)
            shutil.rmtree(parts)
    if not parts.exists():
        # directory and job record appear together, so a kill here never leaves a
        # record-less directory that the next run would refuse
        with atomic_dir(parts) as tmp:
            atomic_write_json(tmp / _JOB, job)

"""Many objects: the interleaved order, in-memory batches, and stores written in parallel.

:func:`simulate_survey` writes a resumable cutout store chunk by chunk, in worker
processes; :func:`simulate_objects` returns the same objects in memory.
"""

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import schema
from ..errors import InputError
from ..photometry import SEXTRACTOR_COLUMNS
from ..store import StoreWriter, open_store, store_info
from .objects import _simulate_batch, simulate_one
from .surveys import GENERATOR_VERSION, SIZE, SURVEYS


#: objects taken through each stage together (code and tables stay in the CPU caches:
#: faster than one object at a time, bench/bench_simulate.py); results do not depend on it
BATCH = 64


def _check_args(n_per_class, survey, classes):
    if survey not in SURVEYS:
        raise InputError(f"unknown survey {survey!r}; choose one of {', '.join(SURVEYS)}")
    classes = tuple(classes)
    if not classes:
        raise InputError("no class given; choose among lsbg, artifact1, artifact2")
    for c in classes:
        if c not in schema.CLASS_INDEX:
            raise InputError(f"unknown class {c!r}; choose among lsbg, artifact1, artifact2")
    if len(set(classes)) != len(classes):
        raise InputError(f"a class is repeated in {','.join(classes)}")
    if int(n_per_class) <= 0:
        raise InputError(f"n_per_class must be positive, got {n_per_class}")
    return int(n_per_class), classes


def object_order(*, n_per_class, classes, seed=0):
    """The deterministic interleaving of the classes: a list of (class_name, k).

    The order is a permutation fixed by ``seed`` (and the sizes); object ``(c, k)``
    itself does not depend on it.
    """
    items = [(c, k) for c in classes for k in range(n_per_class)]
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 7919])).permutation(
        len(items))
    return [items[i] for i in perm]


def _render_block(items, seed, survey):
    images, rows = [], []
    for i in range(0, len(items), BATCH):
        imgs, r, _ = _simulate_batch(items[i:i + BATCH], seed, survey)
        images.append(imgs)
        rows.extend(r)
    if not images:
        return np.empty((0, SIZE, SIZE, 3), np.uint8), rows
    return np.concatenate(images), rows


_COLUMN_ORDER = (["ra", "dec", "label", "class_name", "class_index", "survey", "simulated",
                  "sim_index"] + SEXTRACTOR_COLUMNS)


def _to_frame(rows):
    df = pd.DataFrame(rows)
    rest = [c for c in df.columns if c not in _COLUMN_ORDER]
    df = df[_COLUMN_ORDER + sorted(rest)]
    return df.astype({"label": "int64", "class_index": "int64", "simulated": bool})


def simulate_objects(*, n_per_class, survey="des", classes=("lsbg", "artifact2"), seed=0,
                     start=0, stop=None):
    """Simulate objects in memory (for tests and notebooks).

    Parameters
    ----------
    n_per_class : int
        Objects per class.
    survey : {"des", "hsc"}
    classes : sequence of str
        Among ``lsbg``, ``artifact1``, ``artifact2``.
    seed : int
    start, stop : int, optional
        Render only positions ``start:stop`` of the interleaved order.

    Returns
    -------
    images : numpy.ndarray
        (N, 64, 64, 3) uint8.
    catalog : pandas.DataFrame
    """
    n_per_class, classes = _check_args(n_per_class, survey, classes)
    order = object_order(n_per_class=n_per_class, classes=classes, seed=seed)[start:stop]
    images, rows = _render_block(order, seed, survey)
    return images, _to_frame(rows)


def _job(n_per_class, survey, classes, seed):
    return f"simulate:v{GENERATOR_VERSION}:{survey}:{','.join(classes)}:{n_per_class}:{seed}"


def simulate_survey(out, *, n_per_class, survey="des", classes=("lsbg", "artifact2"), seed=0,
                    workers=None, chunk_size=1024, overwrite=False, progress=True):
    """Simulate a survey into a cutout store, chunk by chunk, in parallel.

    A rerun of the same command resumes an interrupted job; a different job on the same
    path is refused unless ``overwrite``.

    Parameters
    ----------
    out : str or path-like
        Store directory.
    n_per_class : int
        Objects per class (the paper: 20,000).
    survey : {"des", "hsc"}
    classes : sequence of str
        Among ``lsbg``, ``artifact1``, ``artifact2``.
    seed : int
    workers : int, optional
        Worker processes (default: all cores); 1 renders in this process.
    chunk_size : int
        Images per chunk on disk (the unit of resumption).
    overwrite : bool
        Replace an existing store.
    progress : bool
        Show a progress bar.

    Returns
    -------
    deepshadows_lib.store.Store
        The finished store, opened lazily.
    """
    n_per_class, classes = _check_args(n_per_class, survey, classes)
    order = object_order(n_per_class=n_per_class, classes=classes, seed=seed)
    attrs = {"simulated": True, "source": "simulate", "survey": survey, "seed": int(seed),
             "classes": list(classes), "n_per_class": n_per_class,
             "generator_version": GENERATOR_VERSION,
             "job": _job(n_per_class, survey, classes, seed),
             "label_note": "synthetic data (deepshadows_lib.simulate)"}
    if not overwrite and Path(out).is_dir():
        info = store_info(out)
        if info.get("complete") and info.get("job") == attrs["job"] and info.get(
                "chunk_size") == chunk_size:
            return open_store(out, lazy=True)     # the same job, already done
    writer = StoreWriter(out, n=len(order), chunk_size=chunk_size, attrs=attrs,
                         overwrite=overwrite)
    pending = writer.pending
    workers = int(workers or os.cpu_count() or 1)
    # blocks smaller than a chunk keep all workers busy and the bar moving
    block = max(16, min(256, chunk_size // max(1, workers)))
    bar = tqdm(total=len(order), disable=not progress, unit="cutout",
               desc=f"simulate {survey}",
               initial=len(order) - sum(writer.chunk_slice(k).stop - writer.chunk_slice(k).start
                                        for k in pending))
    try:
        if workers == 1:
            for k in pending:
                sl = writer.chunk_slice(k)
                imgs, rows = _render_block(order[sl], seed, survey)
                writer.write_chunk(k, imgs, _to_frame(rows))
                bar.update(len(rows))
        else:
            _run_parallel(writer, pending, order, seed, survey, workers, block, bar)
    finally:
        bar.close()
    return writer.finalize()


def _warm(survey):
    """Load what every object needs (modules, catalogs, PSF, GalSim tables) once.

    Called in the parent before the pool starts: forked workers inherit it instead of
    each paying ~1 s of imports and catalog parsing.
    """
    simulate_one("lsbg", 0, seed=0, survey=survey)


def _run_parallel(writer, pending, order, seed, survey, workers, block, bar):
    _warm(survey)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # bounded look-ahead: at most two chunks of work in flight
        window = max(1, 2)
        todo = list(pending)
        inflight = []
        while todo or inflight:
            while todo and len(inflight) < window:
                k = todo.pop(0)
                sl = writer.chunk_slice(k)
                items = order[sl]
                futs = [pool.submit(_render_block, items[i:i + block], seed, survey)
                        for i in range(0, len(items), block)]
                inflight.append((k, futs))
            k, futs = inflight.pop(0)
            imgs, rows = [], []
            for f in futs:
                a, r = f.result()
                imgs.append(a)
                rows.extend(r)
                bar.update(len(r))
            writer.write_chunk(k, np.concatenate(imgs), _to_frame(rows))

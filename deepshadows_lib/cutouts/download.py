"""The download job: a catalog of positions in, a resumable cutout store out.

Layout of an output directory ``OUT``::

    OUT/
      store.json  images/  catalog.parquet   the cutout store (see deepshadows_lib.store),
                                             in place once every object is ok or failed;
                                             it holds the ok objects, in catalog order
      .build/                                the next store, assembled chunk by chunk
                                             while the answers come in (.assemble)
      status.parquet                         one row per catalog row: row, ra, dec,
                                             status (ok, failed, pending), reason
      download.json                          the job (layer, positions hash, resizing)
      staging/                               fetched cutouts and failures while the run
                                             lasts (:mod:`.staging`); removed once the
                                             store is complete

Every file but the staged records is written atomically (temporary file, then rename).
So a run killed at any moment (even ``kill -9``) and started again fetches only what is
missing and ends with the same store as an uninterrupted run.  Objects that failed are
retried on the next run, except blank cutouts, which are off the survey footprint and
stay failed.
"""

import concurrent.futures as cf
import hashlib
import json
import queue
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import __version__ as pillow_version
from tqdm.auto import tqdm

from .. import catalogs, schema
from .._io import atomic_write_json, remove_stale_temporaries
from ..errors import InputError
from ..store import DEFAULT_CHUNK, iter_chunks, open_store, store_info
from .assemble import StoreAssembler, swap_in
from .client import (DEFAULT_BASE_URL, LAYERS, WRONG_ENDPOINT_ANSWERS, Client, WrongEndpoint,
                     cutout_url)
from .decode import BLANK_STD, CUTOUT_PIXELS, RESIZE_FILTER, SIZE, CutoutError
from .staging import Staging
from .status import STATUS_FILE, DownloadSummary, read_status, status_table, write_status

__all__ = ["download"]

_JOB = "download.json"
_STAGING = "staging"
_BUILD = ".build"


def _read_catalog(catalog):
    if isinstance(catalog, pd.DataFrame):
        return catalogs.validate_catalog(catalog.copy())
    return catalogs.read_catalog(catalog)


def _store_catalog(catalog, layer):
    """The catalog columns of the store: the input's, plus survey, simulated and, where
    the input names classes, label and class_index."""
    out = catalog.reset_index(drop=True).copy()
    if "survey" not in out.columns:
        out["survey"] = LAYERS[layer]
    if "simulated" not in out.columns:
        out["simulated"] = False
    if "class_name" in out.columns:
        if "label" not in out.columns:
            out["label"] = out["class_name"].map(schema.LABELS).astype("Int64")
        if "class_index" not in out.columns:
            out["class_index"] = out["class_name"].map(schema.CLASS_INDEX).astype("Int64")
    return out


def _job(positions, *, layer, zoom, blank_std):
    h = hashlib.sha256(np.ascontiguousarray(positions, dtype="<f8").tobytes()).hexdigest()
    return {"layer": layer, "zoom": int(zoom), "cutout_pixels": CUTOUT_PIXELS, "size": SIZE,
            "resize": f"PIL Image.resize(({SIZE}, {SIZE}), resample={RESIZE_FILTER})",
            "resize_filter": RESIZE_FILTER, "pillow": pillow_version,
            "blank_std": blank_std, "n_positions": int(len(positions)),
            "positions_sha256": h}


_IDENTITY = ("layer", "zoom", "cutout_pixels", "size", "resize_filter", "blank_std",
             "positions_sha256")


def _prepare(out, job, *, overwrite):
    """Create ``out`` or check that it holds the same job; return True if it was reset."""
    meta = out / _JOB
    for name in (_JOB, STATUS_FILE):  # a killed run's half-written temporaries
        remove_stale_temporaries(out / name)
    if out.exists():
        old = None
        if meta.is_file():
            try:
                old = json.loads(meta.read_text())
            except ValueError:
                old = None
        same = old is not None and all(old.get(k) == job[k] for k in _IDENTITY)
        if same and not overwrite:
            return False
        if not overwrite:
            if old is None and any(out.iterdir()):
                raise InputError("exists and is not a download directory; choose another "
                                 "--out or pass --overwrite", path=out)
            if old is not None:
                diff = [k for k in _IDENTITY if old.get(k) != job[k]]
                raise InputError(f"holds a download of a different job ({', '.join(diff)} "
                                 "differ); choose another --out or pass --overwrite",
                                 path=out)
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(meta, job)
    return True



def _is_complete(out):
    try:
        return bool(store_info(out).get("complete"))
    except InputError:
        return False


def _restage_from_store(out, codes, ok, staging):
    """Stage the images of a complete store again (before rebuilding it)."""
    status = read_status(out)
    ok_rows = status.loc[status["status"] == "ok", "row"].to_numpy()
    store = open_store(out, lazy=True)
    if len(store) != len(ok_rows):
        raise InputError(f"store holds {len(store)} images but the status table lists "
                         f"{len(ok_rows)} ok objects; rerun with --overwrite", path=out)
    for start, block in iter_chunks(store):
        for k in range(len(block)):
            u = int(codes[ok_rows[start + k]])
            if u not in ok:
                staging.add_ok(u, block[k])
    ok.update(staging.scan()[0])


def download(catalog, out, *, layer="des-dr1", base_url=DEFAULT_BASE_URL, workers=16,
             rate=40.0, timeout=30.0, retries=5, backoff=0.5, chunk_size=DEFAULT_CHUNK,
             retry_failed=True, overwrite=False, blank_std=BLANK_STD, zoom=15,
             progress=True, status_every=1.0):
    """Fetch the viewer cutouts of a catalog into a cutout store, resumably.

    Parameters
    ----------
    catalog : str, path-like or pandas.DataFrame
        Objects with ``ra`` and ``dec`` in degrees (a file is read with
        :func:`deepshadows_lib.catalogs.read_catalog`).  Every column is carried into the
        store's catalog.  Repeated positions are fetched once.
    out : str or path-like
        Output directory; see the module docstring for its layout.  Running again on the
        same directory resumes.
    layer : {"des-dr1", "hsc2", "ls-dr10"}, optional
        Viewer layer.
    base_url : str, optional
        The cutout service.
    workers : int, optional
        Concurrent requests.
    rate : float or None, optional
        At most this many requests per second, retries included, all workers together
        (None: no limit).
    timeout : float, optional
        Connect and read timeout of one request, in seconds.
    retries : int, optional
        Retries per object after the first attempt (any failure: connection, timeout,
        429/5xx, invalid content).
    backoff : float, optional
        Backoff factor: retry ``k >= 2`` waits ``backoff * 2**(k-1)`` seconds plus a
        uniform jitter of up to ``backoff`` (urllib3's formula; the first retry is
        immediate), or what ``Retry-After`` says (at most ``MAX_RETRY_AFTER``).
    chunk_size : int, optional
        Images per chunk of the store.
    retry_failed : bool, optional
        Ask again for objects that failed in an earlier run (never for blank ones).
    overwrite : bool, optional
        Start afresh, deleting what ``out`` holds.
    blank_std : float or None, optional
        Threshold of :func:`decode_cutout` for blank cutouts.
    zoom : int, optional
        Viewer zoom (15 in the paper).
    progress : bool, optional
        Show a progress bar (rate, ETA, ok and failed counts).
    status_every : float, optional
        Seconds between updates of the status table during the run.

    Returns
    -------
    DownloadSummary
        Counts of ok and failed (by reason) objects.  A run with failures still writes
        the store (with the ok objects) and returns normally; the command line exits 3.

    Raises
    ------
    InputError
        Bad catalog (one line naming file, line and column), unknown layer, bad base URL,
        or an ``out`` that holds something else; and, early, a base URL that is not a
        cutout service: when the first :data:`WRONG_ENDPOINT_ANSWERS` objects all get a
        404 or an HTML page and none a cutout, the run stops with one line naming the
        base URL and showing what a viewer cutout URL looks like (rather than marking
        every object failed).
    """
    t0 = time.monotonic()
    if layer not in LAYERS:
        raise InputError(f"unknown layer {layer!r}; choose one of {', '.join(LAYERS)}")
    if not re.match(r"^https?://[^/?#]+", str(base_url)):
        raise InputError(f"base URL {base_url!r} must start with http:// or https://")
    if int(workers) < 1 or int(chunk_size) < 1 or int(retries) < 0:
        raise InputError("workers and chunk size must be positive and retries >= 0")
    if rate is not None and not rate > 0:
        raise InputError(f"rate must be positive (or None for no limit), got {rate!r}")
    cat = _read_catalog(catalog)
    ra = cat["ra"].to_numpy(float)
    dec = cat["dec"].to_numpy(float)
    codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([ra, dec]))
    positions = np.column_stack([uniques.get_level_values(0).to_numpy(float),
                                 uniques.get_level_values(1).to_numpy(float)])
    out = Path(out)
    job = _job(positions, layer=layer, zoom=zoom, blank_std=blank_std)
    _prepare(out, job, overwrite=overwrite)

    staging = Staging(out / _STAGING)
    ok, failed = staging.scan()
    done_ok = set(ok)
    complete = _is_complete(out)
    in_store = set()
    if complete:
        # A complete store holds the ok objects of earlier runs; staging holds what a
        # later, interrupted run (retrying failures) fetched since.
        prev = read_status(out)
        in_store = {int(codes[r]) for r in prev.loc[prev["status"] == "ok", "row"]}
        done_ok |= in_store
        for r, reason in prev.loc[prev["status"] == "failed", ["row", "reason"]].itertuples(
                index=False):
            failed.setdefault(int(codes[r]), reason)
    todo = [u for u in range(len(positions)) if u not in done_ok
            and (u not in failed or (retry_failed and failed[u] != "blank"))]
    # Rebuild the store when there is anything new: objects to fetch, or objects that an
    # interrupted run staged after the store was complete.
    build = not complete or bool(todo) or bool(done_ok - in_store)
    if complete and build:
        _restage_from_store(out, codes, ok, staging)
    reused = len(positions) - len(todo)

    # the store is assembled while the answers come in (.assemble), in a directory of
    # its own that replaces the old store only once complete
    assembler = None
    if build:
        attrs = {"source": "legacysurvey-viewer", "layer": layer, "survey": LAYERS[layer],
                 "base_url": base_url, "simulated": False, "n_catalog": int(len(cat)),
                 "job": job["positions_sha256"],
                 **{k: job[k] for k in ("zoom", "cutout_pixels", "resize", "resize_filter",
                                        "pillow", "blank_std")}}
        assembler = StoreAssembler(out / _BUILD, _store_catalog(cat, layer), codes, todo, ok,
                                   staging, attrs=attrs, chunk_size=int(chunk_size))
    try:
        if todo:
            _fetch_all(out, staging, todo, positions, cat, codes, ok, failed, layer=layer,
                       base_url=base_url, zoom=zoom, workers=int(workers), rate=rate,
                       timeout=timeout, retries=int(retries), backoff=backoff,
                       blank_std=blank_std, progress=progress, status_every=status_every,
                       reused=reused, assembler=assembler)
    except BaseException:
        if assembler is not None:
            assembler.discard()
        raise
    if build:
        done_ok = set(ok)
    table = status_table(cat, codes, done_ok, failed)
    if build:
        n_failed = int((table["status"] == "failed").sum())
        write_status(out, table)
        rows = assembler.finish(n_failed=n_failed)
        if not np.array_equal(rows, np.flatnonzero(table["status"].to_numpy() == "ok")):
            raise RuntimeError("the assembled store and the status table disagree")
        swap_in(out, out / _BUILD)
    staging.remove()
    counts = table["status"].value_counts()
    summary = DownloadSummary(
        path=out, n=len(cat), ok=int(counts.get("ok", 0)),
        failed=dict(Counter(table.loc[table["status"] == "failed", "reason"])),
        pending=int(counts.get("pending", 0)), fetched=len(todo), reused=reused,
        seconds=time.monotonic() - t0)
    return summary


def _fetch_all(out, staging, todo, positions, cat, codes, ok, failed, *, layer, base_url,
               zoom, workers, rate, timeout, retries, backoff, blank_std, progress,
               status_every, reused, assembler=None):
    """Fetch positions ``todo`` with a bounded pool; update ``ok`` and ``failed``.

    ``assembler`` (a :class:`.assemble.StoreAssembler`), if given, learns of every
    answer and writes the store's chunks as they fill.
    """
    client = Client(workers=workers, rate=rate, timeout=timeout, retries=retries,
                     backoff=backoff, blank_std=blank_std,
                     wrong_after=min(WRONG_ENDPOINT_ANSWERS, len(todo)))

    def fetch(u):
        url = cutout_url(positions[u, 0], positions[u, 1], layer=layer, base_url=base_url,
                         zoom=zoom)
        try:
            image = client.get(url)
        except CutoutError as exc:
            staging.add_failed(u, exc.reason, exc.detail, url)
            return u, None, exc.reason
        # An object staged ok in any run is ok, whatever failures were recorded before.
        return u, staging.add_ok(u, image), ""

    bar = tqdm(total=len(positions), initial=reused, unit="cutout", disable=not progress,
               dynamic_ncols=True, desc="download", smoothing=0.1)
    pending = iter(todo)
    # Finished fetches arrive on a queue (O(1) each), rather than through cf.wait over
    # the whole window, which costs the main thread O(window) per wake-up.
    finished = queue.SimpleQueue()
    n_in_flight = 0
    last_status = time.monotonic()
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cutout")
    try:
        def refill():
            nonlocal n_in_flight
            # A window of 2 x workers tasks keeps the pool busy without queueing the catalog.
            while n_in_flight < 2 * workers:
                u = next(pending, None)
                if u is None:
                    return
                pool.submit(fetch, u).add_done_callback(finished.put)
                n_in_flight += 1

        refill()
        while n_in_flight:
            done = []
            try:
                done.append(finished.get(timeout=status_every))
                while True:  # bounded by the window: take whatever else has finished
                    done.append(finished.get_nowait())
            except queue.Empty:
                pass
            n_in_flight -= len(done)
            for fut in done:
                u, loc, reason = fut.result()
                if loc is not None:
                    ok[u] = loc
                    failed.pop(u, None)
                else:
                    failed[u] = reason
                if assembler is not None:
                    assembler.resolve(u)
                bar.update(1)
            refill()
            if assembler is not None:
                # after the refill: the pool stays busy while a chunk is written
                assembler.advance()
            if done:
                bar.set_postfix(ok=len(ok), failed=len(failed), refresh=False)
            if time.monotonic() - last_status >= status_every:
                write_status(out, status_table(cat, codes, set(ok), failed))
                last_status = time.monotonic()
    except WrongEndpoint as exc:
        url, what = exc.args[0]
        example = cutout_url(30.5, -4.25, layer=layer, zoom=zoom)
        raise InputError(
            f"base URL {base_url} is not a cutout service: the first {client.wrong_after} "
            f"objects got 404 or an HTML page and none a cutout (first: {url} -> {what}); "
            f"a viewer cutout URL looks like {example}: --base-url is its part before "
            f"'?' (default {DEFAULT_BASE_URL})") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        client.close()

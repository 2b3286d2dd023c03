"""Legacy Survey viewer client: fetch JPEG cutouts into a cutout store.

The paper fetched its 60,000 cutouts one at a time with ``urlretrieve``, without retries
or resumption.  :func:`download` fetches them concurrently from the viewer's
``jpeg-cutout`` service, politely (a bounded pool and a global request-rate limit),
robustly (timeouts; retries with exponential backoff and jitter by urllib3's
:class:`~urllib3.util.Retry`, which honours ``Retry-After`` on 429 and 503), validates
every answer (status, content type, a full JPEG decode, the 256 x 256 size, blank
off-footprint cutouts) and resizes to 64 x 64 exactly as the paper did
(``Image.resize((64, 64))``, i.e. bicubic, the default of Pillow >= 7).

Layout of an output directory ``OUT``::

    OUT/
      store.json  images/  catalog.parquet   the cutout store (see deepshadows_lib.store),
                                             written when every object is ok or failed;
                                             it holds the ok objects, in catalog order
      status.parquet                         one row per catalog row: row, ra, dec,
                                             status (ok, failed, pending), reason
      download.json                          the job (layer, positions hash, resizing)
      staging/                               fetched cutouts and failures while the run
                                             lasts; removed once the store is complete

Fetched cutouts are staged as fixed-size records (position index, CRC-32, 64 x 64 x 3
bytes), each written with one ``write`` to an append-only file of its worker thread;
failures as JSON lines.  A record cut short by a kill fails its length or CRC check and
is ignored, so a staged object counts only once it is entirely on disk.  (One file per
object would be simpler, but creating and deleting 60,000 small files costs minutes on
common file systems.)  Every other file is written atomically (temporary file, then
rename).  So a run killed at any moment (even ``kill -9``) and started again fetches only
what is missing and ends with the same store as an uninterrupted run.  Objects that failed
are retried on the next run, except blank cutouts, which are off the survey footprint and
stay failed.

Examples
--------
>>> from deepshadows_lib import cutouts                                  # doctest: +SKIP
>>> summary = cutouts.download("positions.csv", "des_cutouts", layer="des-dr1")
>>> images, catalog = cutouts.open_store("des_cutouts")
>>> cutouts.read_status("des_cutouts").status.value_counts()
"""

import concurrent.futures as cf
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import struct
import threading
import time
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from ._io import atomic_path, atomic_write_json, remove_stale_temporaries
from . import schema
from .errors import InputError
from .store import DEFAULT_CHUNK, StoreWriter, iter_chunks, open_store, store_info

__all__ = ["DEFAULT_BASE_URL", "LAYERS", "RESIZE_FILTER", "BLANK_STD", "CutoutError",
           "DownloadSummary", "RateLimiter", "cutout_url", "decode_cutout", "download",
           "open_store", "read_status"]

#: The viewer's cutout service.
DEFAULT_BASE_URL = "https://www.legacysurvey.org/viewer/jpeg-cutout"
#: Viewer layers known to the client, and the ``survey`` they are recorded as.
LAYERS = {"des-dr1": "des", "hsc2": "hsc", "ls-dr10": "ls"}
#: Side of the viewer's cutouts at ``zoom=15`` (0.262 arcsec per pixel).
CUTOUT_PIXELS = 256
#: Side of the stored cutouts.
SIZE = schema.CUTOUT_SIZE
#: The resampling filter of ``Image.resize((64, 64))`` on RGB images in Pillow >= 7 (and
#: so, most likely, in the paper's 2020 environment); passed explicitly so that the result
#: does not depend on the installed Pillow's default.
RESIZE_FILTER = "BICUBIC"
#: A cutout whose pixel standard deviation (0-255 scale) is below this is blank: the
#: viewer answers positions off the survey footprint with a constant (black) image.
BLANK_STD = 1.0
#: HTTP statuses retried with backoff (429 and 503 honour ``Retry-After``).
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Longest ``Retry-After`` honoured, in seconds; a longer one is cut to this.
MAX_RETRY_AFTER = 120.0
#: When this many objects (or all of them, when there are fewer) get a 404 or an HTML page
#: before any object gets a valid cutout, the base URL is not a cutout service: stop.
WRONG_ENDPOINT_ANSWERS = 8

_STATUS = "status.parquet"
_JOB = "download.json"
_STAGING = "staging"
_BUILD = ".build"
_RECORD = struct.Struct("<qI")  # position index, CRC-32 of the image bytes
_IMAGE_BYTES = SIZE * SIZE * 3


class CutoutError(Exception):
    """An answer of the service that is not a usable cutout.

    Parameters
    ----------
    reason : str
        Short token recorded in the status table: ``not_jpeg``, ``bad_jpeg``,
        ``wrong_size``, ``blank``, ``http_<status>``, ``timeout``, ``connection``,
        ``truncated``.
    detail : str, optional
        Human-readable detail.
    retryable : bool, optional
        Whether asking again may help (False for blank cutouts and final HTTP errors).
    """

    def __init__(self, reason, detail="", *, retryable=True):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable


class _WrongEndpoint(Exception):
    """The first answers of the service say that the base URL is not a cutout service."""


# --------------------------------------------------------------------------- one cutout
def cutout_url(ra, dec, *, layer="des-dr1", base_url=DEFAULT_BASE_URL, zoom=15):
    """Return the viewer URL of the JPEG cutout centred on (ra, dec).

    Parameters
    ----------
    ra, dec : float
        Position in degrees; written with ``repr`` so that the exact float round-trips.
    layer : {"des-dr1", "hsc2", "ls-dr10"}, optional
        Viewer layer.
    base_url : str, optional
        The service (a mirror, or a local imitation in tests).
    zoom : int, optional
        Viewer zoom; 15 gives 0.262 arcsec per pixel, as in the paper.

    Examples
    --------
    >>> cutout_url(30.5, -4.25)
    'https://www.legacysurvey.org/viewer/jpeg-cutout?ra=30.5&dec=-4.25&zoom=15&layer=des-dr1'
    """
    query = urlencode([("ra", repr(float(ra))), ("dec", repr(float(dec))),
                       ("zoom", int(zoom)), ("layer", layer)])
    return f"{base_url}{'&' if '?' in base_url else '?'}{query}"


def _resample():
    from PIL import Image
    return getattr(Image.Resampling, RESIZE_FILTER)


def decode_cutout(content, *, size=SIZE, expected_pixels=CUTOUT_PIXELS, blank_std=BLANK_STD):
    """Decode and check one JPEG cutout, and resize it as the paper did.

    Parameters
    ----------
    content : bytes
        The body of the answer.
    size : int, optional
        Side of the result (the paper: 64).
    expected_pixels : int or None, optional
        Side the service's cutout must have (256 at ``zoom=15``); None skips the check.
    blank_std : float or None, optional
        Reject cutouts whose pixel standard deviation is below this (off the footprint);
        None keeps them.

    Returns
    -------
    numpy.ndarray
        (size, size, 3) uint8, from ``Image.resize((size, size), resample=BICUBIC)``.

    Raises
    ------
    CutoutError
        ``not_jpeg`` (no JPEG signature, e.g. an HTML page), ``bad_jpeg`` (truncated or
        corrupt: the whole image is decoded), ``wrong_size``, ``blank`` (not retryable).
    """
    from PIL import Image, UnidentifiedImageError
    content = bytes(content)
    if not content.startswith(b"\xff\xd8\xff"):
        raise CutoutError("not_jpeg", f"body starts with {content[:16]!r}")
    # Pillow can be told (globally) to accept truncated files, so check the end marker too.
    if not content.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise CutoutError("bad_jpeg", "truncated: no end-of-image marker")
    try:
        with Image.open(io.BytesIO(content), formats=["JPEG"]) as img:
            img.load()
            if expected_pixels is not None and img.size != (expected_pixels,) * 2:
                raise CutoutError("wrong_size", f"{img.size[0]}x{img.size[1]} pixels, expected "
                                                f"{expected_pixels}x{expected_pixels}")
            rgb = img if img.mode == "RGB" else img.convert("RGB")
            small = np.asarray(rgb.resize((size, size), resample=_resample()), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError,
            Image.DecompressionBombError) as exc:
        raise CutoutError("bad_jpeg", f"{type(exc).__name__}: {exc}") from None
    if blank_std is not None and float(small.std()) < blank_std:
        raise CutoutError("blank", f"pixel std {small.std():.3f} < {blank_std} (off the "
                                   "survey footprint?)", retryable=False)
    return small


# --------------------------------------------------------------------------- HTTP
class RateLimiter:
    """Space requests at least ``1 / rate`` seconds apart, across all threads.

    Each caller reserves the next free slot under a lock and sleeps until it, so bursts
    are impossible and waiting threads are served in order.

    Parameters
    ----------
    rate : float or None
        Requests per second; None or 0 means no limit.
    """

    def __init__(self, rate):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self):
        """Block until this caller may send a request."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def _retry_class():
    from urllib3.util import Retry

    class PoliteRetry(Retry):
        """urllib3's Retry, with every retry also waiting for a rate-limit slot and
        ``Retry-After`` capped at ``MAX_RETRY_AFTER``."""

        limiter = None

        def new(self, **kw):
            new = super().new(**kw)
            new.limiter = self.limiter
            return new

        def get_retry_after(self, response):
            seconds = super().get_retry_after(response)
            return None if seconds is None else min(seconds, MAX_RETRY_AFTER)

        def sleep(self, response=None):
            super().sleep(response)
            if self.limiter is not None:
                self.limiter.wait()

    return PoliteRetry


def _reason_of(error):
    """Status-table reason of a transport error that exhausted the retries."""
    from urllib3 import exceptions as ux
    if isinstance(error, CutoutError):
        return error.reason
    if isinstance(error, (ux.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(error, ux.ProtocolError) and "IncompleteRead" in repr(error.args):
        return "truncated"
    if isinstance(error, (ux.ProtocolError, ux.NewConnectionError, ConnectionError, OSError)):
        return "connection"
    if isinstance(error, ux.ResponseError):
        return "http_error"
    return type(error).__name__.lower()


class _Client:
    """A pooled HTTP client that returns validated 64 x 64 cutouts."""

    def __init__(self, *, workers, rate, timeout, retries, backoff, blank_std,
                 wrong_after=WRONG_ENDPOINT_ANSWERS):
        import urllib3
        from . import __version__
        # answers that say "wrong endpoint" (404, an HTML page) before any valid cutout
        self._answers = threading.Lock()
        self._good = 0
        self._wrong = {}  # url -> what came back
        self.wrong_after = max(1, int(wrong_after))
        self.limiter = RateLimiter(rate)
        self.blank_std = blank_std
        retry_cls = _retry_class()
        self.retry = retry_cls(total=retries, connect=None, read=None, status=None,
                               other=None, redirect=3, allowed_methods=["GET"],
                               status_forcelist=RETRY_STATUSES, backoff_factor=backoff,
                               backoff_jitter=backoff, backoff_max=60.0,
                               respect_retry_after_header=True, raise_on_status=False)
        self.retry.limiter = self.limiter
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.http = urllib3.PoolManager(
            num_pools=4, maxsize=workers, block=True,
            headers={"User-Agent": f"deepshadows/{__version__} (arXiv:2011.12437)"})

    def close(self):
        self.http.clear()

    def get(self, url, retry=None):
        """Fetch and validate one cutout.

        Transport failures (timeouts, dropped connections, truncated bodies) and the
        statuses of ``RETRY_STATUSES`` are retried inside urllib3.  An answer that arrives
        but is not a valid cutout is retried here by continuing the *same* Retry object
        (``response.retries``), so one budget, backoff and jitter cover every failure;
        the recursion depth is bounded by that budget.
        """
        from urllib3.exceptions import HTTPError, MaxRetryError
        retry = self.retry if retry is None else retry
        if retry is self.retry:
            self.limiter.wait()  # first attempt; retries wait in PoliteRetry.sleep
        try:
            resp = self.http.request("GET", url, retries=retry, timeout=self.timeout,
                                     preload_content=True)
        except MaxRetryError as exc:
            raise CutoutError(_reason_of(exc.reason), str(exc.reason),
                              retryable=False) from None
        except (HTTPError, OSError) as exc:  # not retryable by urllib3's rules
            raise CutoutError(_reason_of(exc), str(exc), retryable=False) from None
        try:
            image = self._validate(resp)
        except CutoutError as exc:
            self._note_wrong(url, resp, exc)
            if not exc.retryable:
                raise
            try:
                retry = resp.retries.increment("GET", url, error=exc)
            except MaxRetryError:
                raise CutoutError(exc.reason, exc.detail, retryable=False) from None
            retry.sleep()
            return self.get(url, retry)
        with self._answers:
            self._good += 1
        return image

    def _note_wrong(self, url, resp, exc):
        """Count an answer that a wrong base URL gives; raise once there are enough."""
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        html = ctype == "text/html" or resp.data[:64].lstrip()[:1] == b"<"
        if resp.status != 404 and not (resp.status == 200 and html):
            return
        what = "404 Not Found" if resp.status == 404 else "an HTML page"
        with self._answers:
            if self._good:
                return
            if url not in self._wrong:
                self._wrong[url] = what
            if len(self._wrong) >= self.wrong_after:
                first = next(iter(self._wrong.items()))
                raise _WrongEndpoint(first)

    def _validate(self, resp):
        if resp.status != 200:
            # Retryable statuses were already retried by urllib3; others (404, ...) are final.
            raise CutoutError(f"http_{resp.status}", retryable=False)
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in ("image/jpeg", "image/jpg"):
            raise CutoutError("not_jpeg", f"content type {ctype or 'missing'!r}")
        return decode_cutout(resp.data, blank_std=self.blank_std)


# --------------------------------------------------------------------------- results
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


# --------------------------------------------------------------------------- the job
def _read_catalog(catalog):
    from . import catalogs
    if isinstance(catalog, pd.DataFrame):
        return catalogs.validate_catalog(catalog.copy())
    return catalogs.read_catalog(catalog)


def _store_catalog(catalog, layer):
    """The catalog columns of the store: the input's, plus survey, simulated and, where
    the input names classes, label and class_index."""
    from . import catalogs
    out = catalog.reset_index(drop=True).copy()
    if "survey" not in out.columns:
        out["survey"] = LAYERS[layer]
    if "simulated" not in out.columns:
        out["simulated"] = False
    if "class_name" in out.columns:
        if "label" not in out.columns:
            out["label"] = out["class_name"].map(catalogs.LABELS).astype("Int64")
        if "class_index" not in out.columns:
            out["class_index"] = out["class_name"].map(catalogs.CLASS_INDEX).astype("Int64")
    return out


def _job(positions, *, layer, zoom, blank_std):
    from PIL import __version__ as pillow_version
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
    for name in (_JOB, _STATUS):  # a killed run's half-written temporaries
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


class _Staging:
    """Fetched cutouts and failures of a download, appended by worker threads.

    Every thread of every run appends to files of its own (``ok-RUN-THREAD.bin``,
    ``failed-RUN-THREAD.jsonl``), so no two writers share a file and a torn record can
    only be the last one of a file, which :meth:`scan` skips.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.run = f"{os.getpid()}-{time.time_ns()}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._files = []
        self._readers = {}

    def _file(self, kind, suffix):
        fh = getattr(self._local, kind, None)
        if fh is None:
            name = f"{kind}-{self.run}-{threading.get_ident()}{suffix}"
            fh = open(str(self.root / name), "xb", buffering=0)  # one write() per record
            setattr(self._local, kind, fh)
            with self._lock:
                self._files.append(fh)
        return fh

    def add_ok(self, u, image):
        """Stage the (64, 64, 3) uint8 cutout of position ``u``; return its location."""
        data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
        if len(data) != _IMAGE_BYTES:
            raise ValueError(f"cutout has {len(data)} bytes, expected {_IMAGE_BYTES}")
        fh = self._file("ok", ".bin")
        offset = fh.tell()
        fh.write(_RECORD.pack(int(u), zlib.crc32(data)) + data)
        return Path(fh.name), offset + _RECORD.size

    def add_failed(self, u, reason, detail="", url=""):
        """Record why position ``u`` failed."""
        line = json.dumps({"u": int(u), "reason": reason, "detail": detail, "url": url})
        self._file("failed", ".jsonl").write((line + "\n").encode())

    def scan(self):
        """Return ``ok`` ({u: (file, offset)}) and ``failed`` ({u: reason}) on disk."""
        ok, failed = {}, {}
        step = _RECORD.size + _IMAGE_BYTES
        for path in sorted(self.root.glob("ok-*.bin")):
            with open(path, "rb") as fh:
                offset = 0
                while True:  # bounded by the file's length
                    rec = fh.read(step)
                    if len(rec) < step:
                        break  # end of file, or a record torn by a kill
                    u, crc = _RECORD.unpack_from(rec)
                    if zlib.crc32(rec[_RECORD.size:]) == crc:
                        ok[u] = (path, offset + _RECORD.size)
                    offset += step
        for path in sorted(self.root.glob("failed-*.jsonl")):
            for line in path.read_bytes().splitlines():
                try:
                    rec = json.loads(line)
                    failed[int(rec["u"])] = str(rec["reason"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill
        return ok, failed

    def read(self, loc):
        """The staged cutout at ``loc`` (from :meth:`scan` or :meth:`add_ok`)."""
        path, offset = loc
        fh = self._readers.get(path)
        if fh is None:
            fh = self._readers[path] = open(path, "rb")
        fh.seek(offset)
        return np.frombuffer(fh.read(_IMAGE_BYTES), np.uint8).reshape(SIZE, SIZE, 3)

    def close(self):
        with self._lock:
            for fh in self._files + list(self._readers.values()):
                fh.close()
            self._files.clear()
            self._readers.clear()

    def remove(self):
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)


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


def _status_table(catalog, codes, ok, failed):
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


def _write_status(out, table):
    with atomic_path(out / _STATUS) as tmp:
        table.to_parquet(tmp, index=False)


def _build_store(out, catalog, codes, table, ok, staging, *, attrs, chunk_size):
    """Write the store of the ok rows from staging, then swap it into ``out``.

    The new store is built complete in ``out/.build``; ``out/store.json`` disappears
    before the old images are replaced and comes back last, so a kill at any point
    leaves either a complete store or an incomplete one that the next run rebuilds.
    """
    ok_rows = np.flatnonzero(table["status"].to_numpy() == "ok")
    build = out / _BUILD
    shutil.rmtree(build, ignore_errors=True)
    writer = StoreWriter(build, n=len(ok_rows), chunk_size=chunk_size, attrs=attrs)
    store_cat = catalog.iloc[ok_rows].reset_index(drop=True)
    for k in writer.pending:
        sl = writer.chunk_slice(k)
        rows = ok_rows[sl]
        images = np.stack([staging.read(ok[int(codes[r])]) for r in rows]) if len(rows) \
            else np.zeros((0, SIZE, SIZE, 3), np.uint8)
        writer.write_chunk(k, images, store_cat.iloc[sl])
    writer.finalize()
    (out / "store.json").unlink(missing_ok=True)
    for name in ("images", "catalog.parquet"):
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(build / name, target)
    os.replace(build / "store.json", out / "store.json")
    shutil.rmtree(build, ignore_errors=True)


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

    staging = _Staging(out / _STAGING)
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

    if todo:
        _fetch_all(out, staging, todo, positions, cat, codes, ok, failed, layer=layer,
                   base_url=base_url, zoom=zoom, workers=int(workers), rate=rate,
                   timeout=timeout, retries=int(retries), backoff=backoff,
                   blank_std=blank_std, progress=progress, status_every=status_every,
                   reused=reused)
    if build:
        done_ok = set(ok)
    table = _status_table(cat, codes, done_ok, failed)
    if build:
        n_failed = int((table["status"] == "failed").sum())
        attrs = {"source": "legacysurvey-viewer", "layer": layer, "survey": LAYERS[layer],
                 "base_url": base_url, "simulated": False, "n_catalog": int(len(cat)),
                 "n_failed": n_failed, "job": job["positions_sha256"],
                 **{k: job[k] for k in ("zoom", "cutout_pixels", "resize", "resize_filter",
                                        "pillow", "blank_std")}}
        _write_status(out, table)
        _build_store(out, _store_catalog(cat, layer), codes, table, ok, staging,
                     attrs=attrs, chunk_size=int(chunk_size))
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
               status_every, reused):
    """Fetch positions ``todo`` with a bounded pool; update ``ok`` and ``failed``."""
    from tqdm.auto import tqdm
    client = _Client(workers=workers, rate=rate, timeout=timeout, retries=retries,
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
    in_flight = set()
    last_status = time.monotonic()
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cutout")
    try:
        def refill():
            # A window of 2 x workers tasks keeps the pool busy without queueing the catalog.
            while len(in_flight) < 2 * workers:
                u = next(pending, None)
                if u is None:
                    return
                in_flight.add(pool.submit(fetch, u))

        refill()
        while in_flight:
            done, not_done = cf.wait(in_flight, timeout=status_every,
                                     return_when=cf.FIRST_COMPLETED)
            in_flight.clear()
            in_flight.update(not_done)
            for fut in done:
                u, loc, reason = fut.result()
                if loc is not None:
                    ok[u] = loc
                    failed.pop(u, None)
                else:
                    failed[u] = reason
                bar.update(1)
            refill()
            if done:
                bar.set_postfix(ok=len(ok), failed=len(failed), refresh=False)
            if time.monotonic() - last_status >= status_every:
                _write_status(out, _status_table(cat, codes, set(ok), failed))
                last_status = time.monotonic()
    except _WrongEndpoint as exc:
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

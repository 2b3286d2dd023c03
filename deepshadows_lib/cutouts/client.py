"""The HTTP side of the viewer client: URLs, a global rate limit, retries, validation.

One :class:`Client` is shared by the download's worker threads.  Its pool is bounded
(``workers`` connections), every request (retries included) first waits for a slot of
the :class:`RateLimiter`, and urllib3's :class:`~urllib3.util.Retry` retries transport
failures and the statuses of :data:`RETRY_STATUSES` with exponential backoff and jitter,
honouring ``Retry-After``.  Answers that arrive but are not a valid cutout are retried on
the same budget.  When the first answers all look like a wrong base URL (404 or an HTML
page), the client raises :class:`WrongEndpoint` rather than let every object fail.
"""

import collections
import math
import threading
import time
from urllib.parse import urlencode

import urllib3
from urllib3 import exceptions as ux
from urllib3.util import Retry

from .. import __version__
from .decode import CutoutError, decode_cutout

__all__ = ["DEFAULT_BASE_URL", "LAYERS", "RETRY_STATUSES", "MAX_RETRY_AFTER",
           "WRONG_ENDPOINT_ANSWERS", "RateLimiter", "Client", "WrongEndpoint", "cutout_url"]

#: The viewer's cutout service.
DEFAULT_BASE_URL = "https://www.legacysurvey.org/viewer/jpeg-cutout"
#: Viewer layers known to the client, and the ``survey`` they are recorded as.
LAYERS = {"des-dr1": "des", "hsc2": "hsc", "ls-dr10": "ls"}
#: HTTP statuses retried with backoff (429 and 503 honour ``Retry-After``).
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Longest ``Retry-After`` honoured, in seconds; a longer one is cut to this.
MAX_RETRY_AFTER = 120.0
#: When this many objects (or all of them, when there are fewer) get a 404 or an HTML page
#: before any object gets a valid cutout, the base URL is not a cutout service: stop.
WRONG_ENDPOINT_ANSWERS = 8


class WrongEndpoint(Exception):
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



class RateLimiter:
    """At most ``rate`` requests in any one-second window, across all threads.

    Each caller books a slot on a grid ``1 / rate`` seconds apart when it arrives, sleeps
    until that slot holding no lock, then takes its grant under the lock, one at a time.
    So a caller that wakes late (a loaded machine oversleeps, or waits for the GIL)
    delays no other caller and does not push back the later slots, which keeps the
    average at ``rate``: the grid restarts from the present only when no caller is
    waiting, and moves on when the one-second window below holds it back.  The times
    actually granted are kept,
    and a grant comes neither sooner than half a slot after the one before (no bursts
    while catching up) nor sooner than one second after the ``floor(rate)``-th one before
    it plus ``margin``, counted from the time that request was sent (:meth:`sent`) where
    it is known.  So, however the threads are scheduled, no one-second window holds more
    than ``rate`` grants, and none of the requests as the server receives them unless
    their times from send to receipt differ by more than ``margin``.

    Parameters
    ----------
    rate : float or None
        Requests per second; None or 0 means no limit.
    margin : float, optional
        Seconds added to the one-second window (room for the jitter between the grant
        and the request's arrival), at a cost of at most ``margin`` of the throughput.

    Attributes
    ----------
    granted : int
        Grants given so far.
    """

    def __init__(self, rate, *, margin=0.025):
        self.margin = float(margin)
        self.interval = 1.0 / rate if rate else 0.0
        per_second = max(1, math.floor(rate + 1e-9)) if rate else 1
        # the latest grants, as [grant time, time the request was sent (or granted)]
        self._recent = collections.deque(maxlen=per_second)
        self._local = threading.local()  # the grant of this thread not yet sent
        self._next = time.monotonic()
        self._lock = threading.Lock()  # held while granting
        self._book = threading.Lock()  # held only to book a slot on the grid
        self.granted = 0

    def wait(self):
        """Block until this caller may send a request.

        Returns
        -------
        float or None
            The ``time.monotonic()`` of the grant (None without a limit).
        """
        if not self.interval:
            return None
        with self._book:
            # Book a slot on the grid at arrival.  A caller that wakes late (a loaded
            # machine oversleeps, or waits for the GIL) then delays no one: the others
            # keep their slots, and the grid moves on only by the bookings.
            pace = max(time.monotonic(), self._next)
            self._next = pace + self.interval
        while (now := time.monotonic()) < pace:  # sleep to the slot, holding no lock
            time.sleep(pace - now)
        with self._lock:  # the grants, one at a time, in time order
            while True:  # bounded: each pass sleeps until the latest constraint
                slot = now = time.monotonic()  # (the lock may have taken a while)
                if self._recent:  # catching up, at most twice the rate
                    slot = max(slot, self._recent[-1][0] + 0.5 * self.interval)
                if len(self._recent) == self._recent.maxlen:
                    # read again after each sleep: the request may have been sent since
                    window = self._recent[0][1] + 1.0 + self.margin
                    if window > slot:
                        slot = window
                        with self._book:  # the one-second window moves the grid on
                            self._next = max(self._next, window + self.interval)
                if now >= slot:
                    break
                time.sleep(slot - now)  # may end a hair early: checked again
            self._local.entry = entry = [now, now]
            self._recent.append(entry)
            self.granted += 1
        return now

    def before_send(self):
        """Wait for a grant if this thread's next request has none of its own.

        Called by the client's connections just before each request goes out.  The
        first attempt and every retry hold a grant already (:meth:`wait`); a redirect
        that urllib3 follows inside the same call does not, and is a request at the
        server all the same.
        """
        if self.interval and getattr(self._local, "entry", None) is None:
            self.wait()

    def sent(self):
        """Record that the request of this thread's latest grant has just been sent.

        The one-second window then counts from the time it was sent rather than granted,
        so a request that the machine held back between the two (a loaded machine, the
        GIL) cannot bring the next window's requests too close to it at the server.
        Called by the client's connections after writing a request; does nothing without
        a limit or a pending grant.
        """
        entry = getattr(self._local, "entry", None)
        if entry is not None:
            self._local.entry = None
            # No lock: this thread is the entry's only writer, and the grant in progress
            # reads the window's entry again after each of its sleeps.  (Taking the grant
            # lock could block for as long as the next grant waits for its slot.)
            entry[1] = max(entry[1], time.monotonic())


def _reporting_pools(limiter):
    """urllib3 pool classes whose connections hold a rate-limit grant for every request
    they send (``limiter.before_send()``) and report its send (``limiter.sent()``)."""
    classes = {}
    for scheme, pool_cls in urllib3.poolmanager.pool_classes_by_scheme.items():
        def request(self, *args, _base=pool_cls.ConnectionCls, **kwargs):
            limiter.before_send()
            _base.request(self, *args, **kwargs)
            limiter.sent()
        conn_cls = type(f"Reporting{pool_cls.ConnectionCls.__name__}",
                        (pool_cls.ConnectionCls,), {"request": request})
        classes[scheme] = type(f"Reporting{pool_cls.__name__}", (pool_cls,),
                               {"ConnectionCls": conn_cls})
    return classes


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


def _reason_of(error):
    """Status-table reason of a transport error that exhausted the retries."""
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


class Client:
    """A pooled HTTP client that returns validated 64 x 64 cutouts."""

    def __init__(self, *, workers, rate, timeout, retries, backoff, blank_std,
                 wrong_after=WRONG_ENDPOINT_ANSWERS):
        # answers that say "wrong endpoint" (404, an HTML page) before any valid cutout
        self._answers = threading.Lock()
        self._good = 0
        self._wrong = {}  # url -> what came back
        self.wrong_after = max(1, int(wrong_after))
        self.limiter = RateLimiter(rate)
        self.blank_std = blank_std
        self.retry = PoliteRetry(total=retries, connect=None, read=None, status=None,
                                 other=None, redirect=3, allowed_methods=["GET"],
                                 status_forcelist=RETRY_STATUSES, backoff_factor=backoff,
                                 backoff_jitter=backoff, backoff_max=60.0,
                                 respect_retry_after_header=True, raise_on_status=False)
        self.retry.limiter = self.limiter
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.http = urllib3.PoolManager(
            num_pools=4, maxsize=workers, block=True,
            headers={"User-Agent": f"deepshadows/{__version__} (arXiv:2011.12437)"})
        # the rate limit's window counts from the time each request is actually sent
        self.http.pool_classes_by_scheme = _reporting_pools(self.limiter)

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
        retry = self.retry if retry is None else retry
        if retry is self.retry:
            self.limiter.wait()  # first attempt; retries wait in PoliteRetry.sleep
        try:
            resp = self.http.request("GET", url, retries=retry, timeout=self.timeout,
                                     preload_content=True)
        except ux.MaxRetryError as exc:
            raise CutoutError(_reason_of(exc.reason), str(exc.reason),
                              retryable=False) from None
        except (ux.HTTPError, OSError) as exc:  # not retryable by urllib3's rules
            raise CutoutError(_reason_of(exc), str(exc), retryable=False) from None
        try:
            image = self._validate(resp)
        except CutoutError as exc:
            self._note_wrong(url, resp, exc)
            if not exc.retryable:
                raise
            try:
                retry = resp.retries.increment("GET", url, error=exc)
            except ux.MaxRetryError:
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
        # an HTML page whatever its status, but for those that say "later" (429, 5xx:
        # an overloaded service, not a wrong address): a 403 or 400 page of a site that
        # is not the viewer stops the run as early as its 404s do
        final = resp.status == 200 or (400 <= resp.status < 500 and resp.status != 429)
        if resp.status != 404 and not (html and final):
            return
        what = ("404 Not Found" if resp.status == 404 else "an HTML page"
                if resp.status == 200 else f"an HTML page (HTTP {resp.status})")
        with self._answers:
            if self._good:
                return
            if url not in self._wrong:
                self._wrong[url] = what
            if len(self._wrong) >= self.wrong_after:
                first = next(iter(self._wrong.items()))
                raise WrongEndpoint(first)

    def _validate(self, resp):
        if resp.status != 200:
            # Retryable statuses were already retried by urllib3; others (404, ...) are final.
            raise CutoutError(f"http_{resp.status}", retryable=False)
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in ("image/jpeg", "image/jpg"):
            raise CutoutError("not_jpeg", f"content type {ctype or 'missing'!r}")
        return decode_cutout(resp.data, blank_std=self.blank_std)


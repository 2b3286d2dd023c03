"""Legacy Survey viewer client: fetch JPEG cutouts into a cutout store.

The paper fetched its 60,000 cutouts one at a time with ``urlretrieve``, without retries
or resumption.  :func:`download` fetches them concurrently from the viewer's
``jpeg-cutout`` service, politely (a bounded pool and a global request-rate limit),
robustly (timeouts; retries with exponential backoff and jitter by urllib3's
:class:`~urllib3.util.Retry`, which honours ``Retry-After`` on 429 and 503), validates
every answer (status, content type, a full JPEG decode, the 256 x 256 size, blank
off-footprint cutouts) and resizes to 64 x 64 exactly as the paper did
(``Image.resize((64, 64))`` with the paper's Pillow default, nearest neighbour; see
:data:`~deepshadows_lib.cutouts.decode.RESIZE_FILTER`).

Modules
-------
colour    the viewer's asinh RGB mapping of g, r, z images (:func:`sdss_rgb`)
decode    one answer: JPEG checks, blank detection, the paper's resize
client    URLs, the global rate limit, retries, wrong-endpoint detection
staging   fetched cutouts as checksummed records that survive a kill
status    the per-object status table and the run's summary
download  the resumable job: catalog in, cutout store out

Examples
--------
>>> from deepshadows_lib import cutouts                                  # doctest: +SKIP
>>> summary = cutouts.download("positions.csv", "des_cutouts", layer="des-dr1")
>>> images, catalog = cutouts.open_store("des_cutouts")
>>> cutouts.read_status("des_cutouts").status.value_counts()
"""

from ..store import open_store
from .client import (DEFAULT_BASE_URL, LAYERS, MAX_RETRY_AFTER, RETRY_STATUSES,
                     WRONG_ENDPOINT_ANSWERS, Client, RateLimiter, WrongEndpoint, cutout_url)
from .colour import sdss_rgb
from .decode import (BLANK_STD, CUTOUT_PIXELS, RESIZE_FILTER, SIZE, CutoutError, _resample,
                     decode_cutout)
from .download import download
from .staging import Staging
from .status import DownloadSummary, read_status

# The names of the single module this package replaced, which tests and imagefiles use.
_Staging, _Client, _WrongEndpoint = Staging, Client, WrongEndpoint

__all__ = ["DEFAULT_BASE_URL", "LAYERS", "RESIZE_FILTER", "BLANK_STD", "CutoutError",
           "DownloadSummary", "RateLimiter", "cutout_url", "decode_cutout", "download",
           "open_store", "read_status", "sdss_rgb"]

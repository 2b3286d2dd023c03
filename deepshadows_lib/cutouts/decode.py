"""One viewer cutout: check the JPEG the service answers and resize it as the paper did."""

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from .. import schema

__all__ = ["CUTOUT_PIXELS", "SIZE", "RESIZE_FILTER", "BLANK_STD", "CutoutError",
           "decode_cutout"]

#: Side of the viewer's cutouts at ``zoom=15`` (0.262 arcsec per pixel).
CUTOUT_PIXELS = 256
#: Side of the stored cutouts.
SIZE = schema.CUTOUT_SIZE
#: The resampling filter of the paper's ``Image.resize((64, 64))``: ``NEAREST``, the
#: default of the Pillow it ran with (< 7; Pillow 7 made BICUBIC the default).  The 36 real
#: cutouts of the paper's Fig. 6 say so: their pixel noise is several times that of a
#: bicubic reduction and not positively correlated between neighbours
#: (:mod:`deepshadows_lib.realism`), i.e. each stored pixel is one 0.262" viewer pixel.
#: The synthetic survey reduces the same way, so a model trained on either sees the
#: same kind of pixels.  Passed explicitly, so the result does not depend on the installed
#: Pillow's default.
RESIZE_FILTER = "NEAREST"
#: A cutout whose pixel standard deviation (0-255 scale) is below this is blank: the
#: viewer answers positions off the survey footprint with a constant (black) image.
BLANK_STD = 1.0


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


def _resample():
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
        (size, size, 3) uint8, from ``Image.resize((size, size), resample=NEAREST)``
        (:data:`RESIZE_FILTER`): at 256 -> 64, viewer pixel (4i + 2, 4j + 2).

    Raises
    ------
    CutoutError
        ``not_jpeg`` (no JPEG signature, e.g. an HTML page), ``bad_jpeg`` (truncated or
        corrupt: the whole image is decoded), ``wrong_size``, ``blank`` (not retryable).
    """
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


"""Reading a user's own cutouts: JPEG, PNG and FITS files of any size, as 64x64x3 uint8.

The network was trained on the Legacy Survey viewer's colour JPEGs resized to 64x64 by
:func:`deepshadows_lib.cutouts.decode_cutout` (Pillow, nearest neighbour, as the paper's
pipeline did); :func:`read_image` resizes every image the same way, whatever its size,
and records the original size.

* JPEG and PNG: read with Pillow; RGB (an alpha channel is dropped).  A one-band
  (grey) image is refused: the network needs the three colour bands.
* FITS (``.fits``, ``.fit``, ``.fts``, optionally gzipped or tile-compressed with fpack,
  ``.fits.fz``): read with astropy, the first HDU with an image (leading axes of length
  1 dropped); a colour image stored as (3, H, W) or (H, W, 3) with values in
  0..255 (integers or floats) or in [0, 1] (floats); or a cube of band images in
  nanomaggies whose header names its planes (``BAND0``, ``BAND1``, ... or ``BANDS``,
  as the viewer's ``fits-cutout`` service writes them) and holds g, r and z: those are
  rendered with the viewer's own colour mapping (:data:`.cutouts.colour.VIEWER_RGB`),
  as its JPEGs are (without their JPEG compression).  Other fluxes (values outside
  those ranges, planes unnamed) are refused: the network expects the viewer's colour
  rendering.  FITS rows run bottom to top, so the image is flipped to the JPEG
  orientation.

Coordinates come from the FITS header (``RA``/``DEC``, ``RA_OBJ``/``DEC_OBJ`` or
``OBJRA``/``OBJDEC`` in degrees or as sexagesimal strings with RA in hours, or the world
coordinates of the image centre; for an image in an extension, then the primary
header's keywords) or from the file name (``..._ra12.345_dec-1.23``,
``ra=12.345,dec=-1.23``, ``12.345_-1.23``, ``12.345-1.23``, or an IAU designation with
J2000 sexagesimal coordinates such as ``SDSS J123456.78+012345.6``), else they stay
empty.
"""

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .cutouts.colour import VIEWER_RGB, sdss_rgb
from .cutouts.decode import RESIZE_FILTER, _resample

__all__ = ["IMAGE_SUFFIXES", "ImageReadError", "is_image_file", "iter_images",
           "count_images", "read_image", "coords_from_name"]

#: File endings read as images (case-insensitive).
_FITS = tuple(f"{base}{packed}" for packed in ("", ".gz", ".fz")
              for base in (".fits", ".fit", ".fts"))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png") + _FITS

_NUM = r"[+-]?\d+(?:\.\d+)?"
_NAME_PATTERNS = (
    re.compile(rf"ra[=_:\-\s]?(?P<ra>{_NUM})[_,;\s]*dec[=_:\s]?(?P<dec>{_NUM})", re.I),
    re.compile(rf"(?:^|[^\d.])(?P<ra>\d+\.\d+)[_,;\s](?P<dec>[+-]?\d+\.\d+)(?:$|[^\d])"),
    # the sign of the declination as the separator (``150.1234-2.3456``), as in an IAU
    # designation; not after a letter (a version number ``v1.5-0.3``, or a designation in
    # hours and minutes ``J0123.4+0012.3``, which is not in degrees)
    re.compile(rf"(?:^|[^\w.]|_)(?P<ra>\d+\.\d+)(?P<dec>[+-]\d+\.\d+)(?:$|[^\d])"),
)


class ImageReadError(Exception):
    """A file that cannot be classified; ``reason`` is one line for the output table."""

    def __init__(self, reason, *, original_size=None):
        super().__init__(reason)
        self.reason = str(reason).replace("\n", " ")
        self.original_size = original_size


def is_image_file(path):
    """Whether the name of ``path`` ends in one of :data:`IMAGE_SUFFIXES`."""
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def iter_images(paths):
    """Yield the image files of ``paths``: files as given, folders walked recursively.

    A folder contributes its image files (sorted by name, sub-folders after files, each
    sorted; hidden files and folders, whose names start with ``.``, are skipped: macOS
    resource forks ``._x.jpg`` and ``.ipynb_checkpoints`` are not cutouts); a file named
    explicitly is yielded whatever its name (it will then be reported as unsupported if
    it is not an image).  Only one folder's listing is held at a time.  A folder reached
    twice (a symbolic link back up the tree, or named twice) is walked once.
    """
    seen = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from _walk(p, seen)
        else:
            yield p


def _walk(folder, seen):
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a link loop would yield its files without end
            return
        seen.add((st.st_dev, st.st_ino))
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    dirs = []
    for e in entries:
        if e.name.startswith("."):
            continue
        if e.is_dir():
            dirs.append(e.path)
        elif is_image_file(e.name):
            yield Path(e.path)
    for d in dirs:
        yield from _walk(d, seen)


def count_images(paths):
    """The number of files :func:`iter_images` yields (for a progress bar)."""
    return sum(1 for _ in iter_images(paths))


def coords_from_name(name):
    """``(ra, dec)`` in degrees parsed from a file name, or None.

    Decimal degrees (``ra12.345_dec-1.23``, ``ra=12.345,dec=-1.23``, ``ra 12.345 dec
    -1.23``, ``12.345_-1.23``, ``12.345 -1.23``, ``12.345-1.23``, ``12.345+1.23``)
    first; then an IAU designation with J2000 sexagesimal coordinates
    (``J123456.78+012345.6``, ``2MASS J06495091-0737408``), read by astropy's parser of
    such names (the one ``SkyCoord.from_name(..., parse=True)`` uses, without its
    fall-back to a name server).  A designation's coordinates are truncated, not
    rounded (IAU convention): good to the last digit written.
    """
    stem = Path(name).name
    for pattern in _NAME_PATTERNS:
        m = pattern.search(stem)
        if m:
            ra, dec = float(m.group("ra")), float(m.group("dec"))
            if 0 <= ra <= 360 and -90 <= dec <= 90:
                return ra, dec
    return _coords_from_designation(stem)


def _coords_from_designation(stem):
    from astropy.coordinates import jparser

    if jparser.search(stem) is None:
        return None
    # the angles as written: a SkyCoord would wrap 25h to 1h instead of refusing it
    ra, dec = jparser.to_ra_dec_angles(stem)
    ra, dec = float(ra.to_value("hourangle")) * 15.0, float(dec.to_value("deg"))
    return (ra, dec) if 0 <= ra < 360 and -90 <= dec <= 90 else None


def _resize(rgb, size):
    """Resize a uint8 (H, W, 3) array as :func:`deepshadows_lib.cutouts.decode_cutout`."""
    if rgb.shape[:2] == (size, size):
        return np.ascontiguousarray(rgb), False
    small = Image.fromarray(np.ascontiguousarray(rgb)).resize(
        (size, size), resample=_resample())
    return np.asarray(small, dtype=np.uint8), True


def _read_pil(path):
    try:
        with Image.open(path) as img:
            img.load()
            size = f"{img.size[0]}x{img.size[1]}"
            bands = img.getbands()
            if len(bands) < 3 and img.mode != "P":
                raise ImageReadError(f"{len(bands)} band(s) ({img.mode}); a colour (RGB) "
                                     "image is needed", original_size=size)
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError,
            Image.DecompressionBombError) as exc:
        raise ImageReadError(f"unreadable image: {type(exc).__name__}: {exc}") from None
    return rgb, size, None


def _header_angle(value, *, hours):
    """A header's RA or Dec in degrees: a number (degrees) or a sexagesimal string
    (``'10:30:00.0'``, ``'10h30m00s'``, ``'10 30 00'``; RA in hours, as observatories
    write it); None when it is neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    if not text or text[0] not in "+-0123456789":
        return None
    from astropy.coordinates import Angle
    try:
        unit = "hourangle" if hours and not re.search(r"[d°]", text) else "deg"
        return float(Angle(text, unit=unit).to_value("deg"))
    except Exception:  # noqa: BLE001 -- astropy's parser raises several kinds
        return None


def _fits_coords(header, shape, primary=None):
    """``((ra, dec), source)`` from the image's header (keywords, then its WCS), else
    from the primary header's keywords (an image in an extension: the pointing is often
    recorded only there)."""
    found = _keyword_coords(header)
    if found[0] is None:
        found = _wcs_coords(header, shape)
    if found[0] is None and primary is not None and primary is not header:
        found = _keyword_coords(primary)
    return found


def _keyword_coords(header):
    for ra_key, dec_key in (("RA", "DEC"), ("RA_OBJ", "DEC_OBJ"), ("OBJRA", "OBJDEC")):
        if ra_key in header and dec_key in header:
            ra, dec = _header_angle(header[ra_key], hours=True), \
                _header_angle(header[dec_key], hours=False)
            if ra is not None and dec is not None and 0 <= ra <= 360 and -90 <= dec <= 90:
                return (ra, dec), "header"
    return None, None


def _wcs_coords(header, shape):
    if "CTYPE1" in header and "CTYPE2" in header:
        from astropy.wcs import WCS  # astropy is slow to import; only FITS needs it
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wcs = WCS(header).celestial
                if wcs.naxis == 2 and wcs.has_celestial:
                    ny, nx = shape
                    sky = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
                    return (float(sky.icrs.ra.deg), float(sky.icrs.dec.deg)), "wcs"
        except Exception:  # noqa: BLE001 -- a malformed WCS only loses the coordinates
            return None, None
    return None, None


def _fits_image(fits, path):
    """``(data, header, primary header)`` of the first HDU of ``path`` with an image."""
    with fits.open(path, memmap=False) as hdul:
        arrays = [h for h in hdul if getattr(h, "data", None) is not None
                  and hasattr(h.data, "ndim")]
        hdu = next((h for h in arrays if h.data.ndim >= 2), None)
        if hdu is None:
            shapes = ", ".join(str(tuple(h.data.shape)) for h in arrays)
            raise ImageReadError(f"FITS file has no image (data of shape {shapes})"
                                 if shapes else "FITS file has no image data")
        return np.asarray(hdu.data), hdu.header, hdul[0].header


def _read_fits(path):
    from astropy.io import fits  # astropy is slow to import; only FITS needs it
    try:
        # astropy's warnings (a truncated file...) would cut through the progress bar;
        # the one that explains a failure goes into its reason instead
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data, header, primary = _fits_image(fits, path)
    except ImageReadError:
        raise
    except (OSError, ValueError, TypeError, EOFError) as exc:
        truncated = [str(w.message) for w in caught if "truncated" in str(w.message)]
        why = truncated[0] if truncated else f"{type(exc).__name__}: {exc}"
        raise ImageReadError(f"unreadable FITS: {why}") from None
    while data.ndim > 3 and data.shape[0] == 1:  # (1, 3, H, W): a degenerate axis
        data = data[0]
    bands = _header_bands(header, data.shape[0]) if data.ndim == 3 else None
    if bands is not None:
        return _render_fluxes(data, bands, header, primary)
    if data.ndim == 3 and data.shape[0] == 3:
        data = np.moveaxis(data, 0, -1)
    if data.ndim != 3 or data.shape[-1] != 3:
        raise ImageReadError(f"FITS image of shape {data.shape}; a colour image (3, H, W) "
                             "or (H, W, 3) is needed",
                             original_size="x".join(str(s) for s in data.shape[::-1]))
    size = f"{data.shape[1]}x{data.shape[0]}"
    if not np.all(np.isfinite(data)):
        raise ImageReadError("FITS image has NaN or infinite pixels", original_size=size)
    lo, hi = float(data.min()), float(data.max())
    if np.issubdtype(data.dtype, np.floating) and lo >= 0 and hi <= 1:
        data = np.round(data * 255.0)
    elif lo < 0 or hi > 255:
        raise ImageReadError(f"FITS values span {lo:g}..{hi:g}: fluxes? name the planes "
                             "in the header (BANDS = 'grz', as the viewer's fits-cutout "
                             "does) to have them rendered, or give a colour image in "
                             "0..255 (or 0..1)", original_size=size)
    if np.issubdtype(data.dtype, np.floating):
        data = np.round(data)  # 0..255 floats: the nearest level, as for 0..1
    rgb = np.flipud(data).astype(np.uint8)  # FITS rows run bottom to top
    coords, source = _fits_coords(header, data.shape[:2], primary)
    return rgb, size, (coords, source)


def _header_bands(header, n_planes):
    """The band of each plane of a FITS cube, lower case, from its header; or None.

    ``BAND0``, ``BAND1``, ... (one per plane), else ``BANDS`` (one letter per plane):
    the keywords of the viewer's ``fits-cutout`` images.  Planes named r, g, b are the
    channels of a colour image, not bands: None.
    """
    names = [str(header.get(f"BAND{i}", "")).strip().lower() for i in range(n_planes)]
    if not all(names):
        letters = str(header.get("BANDS", "")).strip().lower()
        names = list(letters) if len(letters) == n_planes else None
    return None if names is None or sorted(names) == ["b", "g", "r"] else names


def _render_fluxes(cube, bands, header, primary=None):
    """A (n_bands, H, W) cube in nanomaggies as the viewer's colour image (uint8)."""
    size = f"{cube.shape[2]}x{cube.shape[1]}"
    need = ("g", "r", "z")
    missing = [b for b in need if b not in bands]
    if missing:
        raise ImageReadError(f"FITS planes are bands {''.join(bands)}; the network needs "
                             f"g, r and z (missing {', '.join(missing)})",
                             original_size=size)
    planes = [np.asarray(cube[bands.index(b)], np.float64) for b in need]
    if not all(np.all(np.isfinite(p)) for p in planes):
        raise ImageReadError("FITS image has NaN or infinite pixels", original_size=size)
    rgb = sdss_rgb(planes, bands=need, **VIEWER_RGB)
    coords, source = _fits_coords(header, rgb.shape[:2], primary)
    return np.flipud(rgb), size, (coords, source)  # FITS rows run bottom to top


def read_image(path, *, size=64):
    """One image file as a (size, size, 3) uint8 cutout, resized as the cutout client does.

    Parameters
    ----------
    path : str or path-like
    size : int, optional
        Side of the result (64, the network's input).

    Returns
    -------
    image : numpy.ndarray
        (size, size, 3) uint8.
    info : dict
        ``ra``, ``dec`` (None when unknown), ``coords_from`` (``header``, ``wcs``,
        ``name`` or ""), ``original_size`` ("WxH") and ``resized`` ("nearest" or "no").

    Raises
    ------
    ImageReadError
        Unsupported ending, unreadable file or wrong shape (``reason`` says which).
    """
    path = Path(path)
    name = path.name.lower()
    if not is_image_file(name):
        raise ImageReadError("unsupported file type (JPEG, PNG or FITS expected)")
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        raise ImageReadError(f"unreadable: {type(exc).__name__}: {exc}") from None
    if empty:
        raise ImageReadError("empty file (0 bytes)")
    if name.endswith(_FITS):
        rgb, original, fits_coords = _read_fits(path)
    else:
        rgb, original, fits_coords = _read_pil(path)
    image, resized = _resize(rgb, int(size))
    coords, source = fits_coords if fits_coords and fits_coords[0] else (None, "")
    if coords is None:
        coords = coords_from_name(path.name)
        source = "name" if coords else ""
    ra, dec = coords if coords else (None, None)
    return image, {"ra": ra, "dec": dec, "coords_from": source, "original_size": original,
                   "resized": RESIZE_FILTER.lower() if resized else "no"}

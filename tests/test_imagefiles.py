"""Tests of deepshadows_lib.imagefiles: a user's JPEG, PNG and FITS cutouts."""

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from deepshadows_lib import cutouts, imagefiles
from deepshadows_lib.imagefiles import ImageReadError


@pytest.fixture(scope="module")
def rgb():
    return np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)


def test_jpeg_of_any_size_is_resized_as_the_cutout_client_does(tmp_path, rgb):
    path = tmp_path / "cutout.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    image, info = imagefiles.read_image(path)
    # reference: the downloader's own decoder on the same bytes
    np.testing.assert_array_equal(image, cutouts.decode_cutout(path.read_bytes()))
    assert info["original_size"] == "256x256" and info["resized"] == "nearest"
    odd = tmp_path / "odd.jpg"
    Image.fromarray(rgb[:100, :170]).save(odd)
    image, info = imagefiles.read_image(odd)
    assert image.shape == (64, 64, 3) and info["original_size"] == "170x100"


def test_png_at_64_is_kept_exactly(tmp_path, rgb):
    path = tmp_path / "a.png"
    Image.fromarray(rgb[:64, :64]).save(path)
    image, info = imagefiles.read_image(path)
    np.testing.assert_array_equal(image, rgb[:64, :64])
    assert info["resized"] == "no"


@pytest.mark.parametrize("layout", ["planes", "last"])
def test_fits_colour_image_in_both_layouts_with_header_coordinates(tmp_path, rgb, layout):
    data = np.flipud(rgb[:64, :64])  # FITS rows run bottom to top
    if layout == "planes":
        data = np.moveaxis(data, -1, 0)
    header = fits.Header()
    header["RA"], header["DEC"] = 150.25, -2.5
    path = tmp_path / f"x_{layout}.fits"
    fits.PrimaryHDU(data, header=header).writeto(path)
    image, info = imagefiles.read_image(path)
    np.testing.assert_array_equal(image, rgb[:64, :64])
    assert (info["ra"], info["dec"], info["coords_from"]) == (150.25, -2.5, "header")


def test_fits_wcs_centre_and_float_01_values(tmp_path, rgb):
    from astropy.wcs import WCS
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [30.0, 10.0]
    w.wcs.crpix = [32.5, 32.5]  # 1-based: the centre of a 64-pixel image
    w.wcs.cdelt = [-0.262 / 3600, 0.262 / 3600]
    data = np.moveaxis(rgb[:64, :64] / 255.0, -1, 0)
    path = tmp_path / "w.fits.gz"
    fits.PrimaryHDU(data, header=w.to_header()).writeto(path)
    image, info = imagefiles.read_image(path)
    np.testing.assert_array_equal(image, np.flipud(rgb[:64, :64]))
    assert info["coords_from"] == "wcs"
    assert info["ra"] == pytest.approx(30.0, abs=1e-6)
    assert info["dec"] == pytest.approx(10.0, abs=1e-6)


def _flux_cube(seed=1, shape=(64, 64)):
    """g, r, z planes in nanomaggies: sky noise and a faint blob."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:shape[0], :shape[1]]
    blob = np.exp(-((x - 30) ** 2 + (y - 36) ** 2) / 60.0)
    return {b: (rng.normal(0, 0.01, shape) + k * blob).astype(np.float32)
            for b, k in (("g", 0.05), ("r", 0.08), ("z", 0.12))}


@pytest.mark.parametrize("order, keywords", [("grz", "planes"), ("zrg", "bands"),
                                             ("girz", "planes")])
def test_fits_flux_cube_is_rendered_with_the_viewers_mapping(tmp_path, order, keywords):
    planes = _flux_cube()
    cube = np.stack([planes.get(b, np.ones((64, 64), np.float32)) for b in order])
    header = fits.Header()
    if keywords == "planes":
        for i, b in enumerate(order):
            header[f"BAND{i}"] = b
    else:
        header["BANDS"] = order
    header["RA"], header["DEC"] = 12.5, -40.0
    path = tmp_path / f"cube_{order}.fits"
    fits.PrimaryHDU(cube, header=header).writeto(path)
    image, info = imagefiles.read_image(path)
    # reference: the viewer's mapping of the named planes, flipped to the JPEG's rows
    expected = np.flipud(cutouts.sdss_rgb([planes[b] for b in "grz"], bands="grz",
                                          **cutouts.colour.VIEWER_RGB))
    np.testing.assert_array_equal(image, expected)
    assert info["original_size"] == "64x64" and info["resized"] == "no"
    assert (info["ra"], info["dec"], info["coords_from"]) == (12.5, -40.0, "header")
    # the blob is brighter than the sky around it: the planes were not scrambled
    assert image[27, 30].sum() > image[5, 5].sum()


def test_fits_colour_planes_named_rgb_stay_a_colour_image(tmp_path, rgb):
    header = fits.Header()
    header["BANDS"] = "RGB"
    path = tmp_path / "named_rgb.fits"
    fits.PrimaryHDU(np.moveaxis(np.flipud(rgb[:64, :64]), -1, 0), header=header).writeto(path)
    image, _ = imagefiles.read_image(path)
    np.testing.assert_array_equal(image, rgb[:64, :64])


def test_fits_flux_cube_without_z_or_band_names_is_refused(tmp_path):
    planes = _flux_cube()
    header = fits.Header()
    header["BANDS"] = "gri"
    path = tmp_path / "gri.fits"
    fits.PrimaryHDU(np.stack([planes["g"], planes["r"], planes["r"]]),
                    header=header).writeto(path)
    with pytest.raises(ImageReadError, match="needs g, r and z .missing z"):
        imagefiles.read_image(path)
    unnamed = tmp_path / "unnamed.fits"
    fits.PrimaryHDU(np.stack([planes[b] for b in "grz"])).writeto(unnamed)
    with pytest.raises(ImageReadError, match="fluxes\\? name the planes"):
        imagefiles.read_image(unnamed)


@pytest.mark.parametrize("name, expected", [
    ("lsbg_ra12.5_dec-3.25.jpg", (12.5, -3.25)),
    ("RA=200.125,DEC=+45.5.png", (200.125, 45.5)),
    ("10.5_-2.5.png", (10.5, -2.5)),
    # the declination's sign as the separator, or a space, as users name cutouts
    ("150.1234-2.3456.png", (150.1234, -2.3456)),
    ("cutout_150.1234+2.3456.jpg", (150.1234, 2.3456)),
    ("150.1234 2.3456.png", (150.1234, 2.3456)),
    ("ra 150.1 dec -2.2.png", (150.1, -2.2)),
    ("model_v1.5-0.3.png", None),  # a version number, not a position
    ("J0123.4+0012.3.png", None),  # hours and minutes, not degrees
    ("object_17.jpg", None),
    ("ra400.0_dec1.0.jpg", None),  # out of range
    # IAU designations: 12h34m56.78s = 188.73658 deg, +01d23m45.6s = 1.396 deg
    ("SDSS J123456.78+012345.6.jpg", (188.7365833, 1.396)),
    ("J000000.00-301500.0_g.png", (0.0, -30.25)),
    ("2MASS_J06495091-0737408.fits", (102.4621250, -7.628)),
])
def test_coordinates_from_file_names(name, expected):
    got = imagefiles.coords_from_name(name)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("name", ["J253000.0+101010.0.jpg", "J120000.0+953000.0.jpg",
                                  "J2359-0001.png"])
def test_designations_out_of_range_or_truncated_to_minutes_give_none(name):
    # hours >= 24 or |dec| > 90 are no position; hhmm+ddmm designations are too coarse
    # for astropy's parser and stay empty rather than a minute of arc off
    assert imagefiles.coords_from_name(name) is None


def test_bad_files_give_a_reason(tmp_path, rgb):
    grey = tmp_path / "grey.png"
    Image.fromarray(rgb[..., 0]).save(grey)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"<html>not an image</html>")
    flux = tmp_path / "flux.fits"
    fits.PrimaryHDU(np.random.default_rng(1).normal(0, 100, (3, 20, 20))).writeto(flux)
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.zeros((5, 20, 20), np.uint8)).writeto(cube)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for path, reason in [(grey, "colour"), (junk, "unreadable"), (flux, "fluxes"),
                         (cube, "shape"), (text, "unsupported")]:
        with pytest.raises(ImageReadError, match=reason):
            imagefiles.read_image(path)


def test_folders_are_walked_recursively_in_sorted_order(tmp_path, rgb):
    (tmp_path / "b").mkdir()
    for name in ["b/z.png", "a.jpg", "c.FITS", "b/notes.txt", "d.jpeg"]:
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in imagefiles.iter_images([tmp_path])]
    assert found == ["a.jpg", "c.FITS", "d.jpeg", "b/z.png"]
    assert imagefiles.count_images([tmp_path, tmp_path / "a.jpg"]) == 5


@pytest.mark.parametrize("ra, dec", [("10:30:00.0", "-05:30:00"), ("10h30m00s", "-5d30m00s"),
                                     ("10 30 00.0", "-05 30 00.0")])
def test_fits_header_sexagesimal_coordinates(tmp_path, rgb, ra, dec):
    # many observatories write RA/DEC in the header as sexagesimal strings (RA in hours)
    header = fits.Header()
    header["RA"], header["DEC"] = ra, dec
    fits.PrimaryHDU(np.moveaxis(rgb[::-1], -1, 0), header=header).writeto(tmp_path / "s.fits")
    _, info = imagefiles.read_image(tmp_path / "s.fits")
    assert info["coords_from"] == "header"
    np.testing.assert_allclose([info["ra"], info["dec"]], [157.5, -5.5], atol=1e-9)


def test_fpacked_fits_with_coordinates_in_the_primary_header(tmp_path, rgb):
    # a tile-compressed (fpack, .fits.fz) colour image in an extension, its pointing in
    # the primary header: a common layout of survey and observatory archives
    primary = fits.PrimaryHDU()
    primary.header["RA"], primary.header["DEC"] = 150.25, 2.5
    image = fits.CompImageHDU(np.moveaxis(rgb[:64, :64][::-1], -1, 0).astype(np.int16))
    fits.HDUList([primary, image]).writeto(tmp_path / "c.fits.fz")
    assert imagefiles.is_image_file("c.fits.fz")
    assert [p.name for p in imagefiles.iter_images([tmp_path])] == ["c.fits.fz"]
    img, info = imagefiles.read_image(tmp_path / "c.fits.fz")
    np.testing.assert_array_equal(img, rgb[:64, :64])  # lossless for integers
    assert (info["ra"], info["dec"], info["coords_from"]) == (150.25, 2.5, "header")


def test_leading_unit_axes_of_a_fits_cube_are_dropped(tmp_path, rgb):
    cube = np.moveaxis(rgb[:64, :64][::-1], -1, 0)[None]  # (1, 3, H, W), as some write
    fits.PrimaryHDU(cube).writeto(tmp_path / "c.fits")
    img, _ = imagefiles.read_image(tmp_path / "c.fits")
    np.testing.assert_array_equal(img, rgb[:64, :64])


def test_empty_and_one_dimensional_files_say_what_they_are(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    fits.PrimaryHDU(np.arange(10.0)).writeto(tmp_path / "spectrum.fits")
    with pytest.raises(ImageReadError, match="empty file"):
        imagefiles.read_image(tmp_path / "empty.png")
    with pytest.raises(ImageReadError, match=r"shape \(10,\)"):
        imagefiles.read_image(tmp_path / "spectrum.fits")


def test_hidden_files_and_folders_are_skipped_in_folders(tmp_path):
    # macOS resource forks (._x.jpg) and tool folders (.ipynb_checkpoints) are not images
    (tmp_path / ".ipynb_checkpoints").mkdir()
    for name in ["a.jpg", "._a.jpg", ".ipynb_checkpoints/a.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in imagefiles.iter_images([tmp_path])] == ["a.jpg"]
    # named explicitly, a hidden file is still read
    assert list(imagefiles.iter_images([tmp_path / "._a.jpg"])) == [tmp_path / "._a.jpg"]


def test_fits_float_values_in_0_255_are_rounded_not_truncated(tmp_path, rgb):
    # a float colour image (e.g. a stack) carries fractional levels: 200.7 is 201
    data = np.moveaxis(rgb[:64, :64][::-1], -1, 0).astype(np.float32)
    jitter = np.random.default_rng(2).uniform(-0.49, 0.49, data.shape).astype(np.float32)
    fits.PrimaryHDU(np.clip(data + jitter, 0, 255)).writeto(tmp_path / "f.fits")
    img, _ = imagefiles.read_image(tmp_path / "f.fits")
    np.testing.assert_array_equal(img, rgb[:64, :64])


def test_a_symbolic_link_back_up_the_tree_is_walked_once(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "sub" / "b.png").write_bytes(b"x")
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)
    found = [p.relative_to(tmp_path).as_posix() for p in imagefiles.iter_images([tmp_path])]
    assert found == ["a.jpg", "sub/b.png"]
    assert imagefiles.count_images([tmp_path]) == 2


def test_a_truncated_fits_says_so_without_a_stray_warning(tmp_path, rgb, recwarn, capfd):
    # astropy's "File may have been truncated" line would cut through the progress bar
    # while the reason said only "cannot reshape array"
    whole = tmp_path / "whole.fits"
    fits.PrimaryHDU(np.moveaxis(rgb[:64, :64], -1, 0)).writeto(whole)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(whole.read_bytes()[:8640])  # the header and part of the data
    with pytest.raises(ImageReadError, match="unreadable FITS: File may have been "
                                             "truncated"):
        imagefiles.read_image(cut)
    assert len(recwarn) == 0 and "truncated" not in capfd.readouterr().err

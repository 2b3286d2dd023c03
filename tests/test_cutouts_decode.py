"""Tests of deepshadows_lib.cutouts.decode: one answer checked and resized as the paper did."""

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from deepshadows_lib import cutouts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_viewer import cutout_jpeg  # noqa: E402
from cutout_helpers import reference_cutout  # noqa: E402


def test_decode_matches_the_papers_resize():
    ra, dec = 31.25, -5.5
    got = cutouts.decode_cutout(cutout_jpeg(ra, dec))
    assert got.dtype == np.uint8 and got.shape == (64, 64, 3)
    np.testing.assert_array_equal(got, reference_cutout(ra, dec))
    # nearest neighbour at 256 -> 64: each stored pixel is the viewer's pixel (4i+2, 4j+2),
    # not an average of several (numpy's slicing as the independent reference)
    big = np.array(Image.open(io.BytesIO(cutout_jpeg(ra, dec))).convert("RGB"))
    np.testing.assert_array_equal(got, big[2::4, 2::4])


def test_decode_keeps_the_viewer_pixels_noise():
    # the real cutouts of the paper's Fig. 6 have per-pixel noise that neighbours do not
    # share (realism: correlation about -0.1); an antialiasing filter would smooth it
    rng = np.random.default_rng(3)
    noise = np.clip(128 + 20 * rng.standard_normal((256, 256, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="JPEG", quality=95)
    small = cutouts.decode_cutout(buf.getvalue()).astype(float)[..., 0]
    small -= small.mean()
    corr = (small[:, 1:] * small[:, :-1]).mean() / small.var()
    assert abs(corr) < 0.1
    assert small.std() > 10  # about 14 after the JPEG; a bicubic reduction leaves about 4


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_decode_rejects_truncated_jpeg(fraction, monkeypatch):
    body = cutout_jpeg(10.0, 10.0)
    cut = body[:int(len(body) * fraction)]
    with pytest.raises(cutouts.CutoutError) as err:
        cutouts.decode_cutout(cut)
    assert err.value.reason == "bad_jpeg" and err.value.retryable
    # even when Pillow is told to accept truncated files
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(cutouts.CutoutError):
        cutouts.decode_cutout(cut)


def test_decode_rejects_corrupt_middle():
    body = bytearray(cutout_jpeg(11.0, 11.0))
    body[600:2000] = b"\x00" * 1400  # scan data destroyed, markers at both ends intact
    try:
        got = cutouts.decode_cutout(bytes(body))
    except cutouts.CutoutError as exc:
        assert exc.reason == "bad_jpeg"
    else:  # libjpeg may decode garbage silently; then it must at least not be the original
        assert not np.array_equal(got, reference_cutout(11.0, 11.0))


def test_decode_rejects_html_wrong_size_and_blank():
    with pytest.raises(cutouts.CutoutError) as err:
        cutouts.decode_cutout(b"<!DOCTYPE html><html><body>Error</body></html>")
    assert err.value.reason == "not_jpeg" and err.value.retryable
    small = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8)
                    ).save(small, format="JPEG")
    with pytest.raises(cutouts.CutoutError) as err:
        cutouts.decode_cutout(small.getvalue())
    assert err.value.reason == "wrong_size"
    for value in (0, 128, 255):
        blank = io.BytesIO()
        Image.fromarray(np.full((256, 256, 3), value, np.uint8)).save(blank, format="JPEG")
        with pytest.raises(cutouts.CutoutError) as err:
            cutouts.decode_cutout(blank.getvalue())
        assert err.value.reason == "blank" and not err.value.retryable
        assert cutouts.decode_cutout(blank.getvalue(), blank_std=None).shape == (64, 64, 3)

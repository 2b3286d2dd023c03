"""Where does the CNN look?  Checks independent of Grad-CAM.

* :func:`occlusion_maps` -- occlusion sensitivity (Zeiler & Fergus 2014): slide a patch of
  sky over the cutout and record how much the class logit drops where it covers;
* :func:`hidden_region_accuracy` -- accuracy and AUC when the central disc, or everything
  outside it, is replaced by sky: how much of the decision each region carries;
* :func:`mask_neighbours` -- cutouts whose sources other than the central one are
  replaced by sky pixels (sep segmentation), to train a model that cannot use them.

"Sky" is each cutout's own background: the per-band median of the image for occlusion
and hiding (a flat patch), and pixels drawn from the image's source-free pixels for
masking neighbours (keeps the noise).
"""

import numpy as np
import sep
from scipy import ndimage

from . import evaluate
from .nn.inference import inference_function, predict

__all__ = ["occlusion_maps", "hidden_region_accuracy", "mask_neighbours", "central_mask"]


def central_mask(shape, *, radius=12.0):
    """Boolean (H, W) mask of the pixels within ``radius`` of the image centre."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 <= radius ** 2


def _logits(forward, x, batch_size=512):
    out = []
    for b in range(0, len(x), batch_size):
        out.append(np.asarray(forward(x[b:b + batch_size]), dtype=np.float64))
    p = np.clip(np.concatenate(out)[:, 0], 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def occlusion_maps(model, images, *, patch=8, stride=4, class_index=1):
    """Occlusion sensitivity of a binary model's logit, one map per image.

    Parameters
    ----------
    model : keras.Model
        Sigmoid output (1 = LSBG).
    images : numpy.ndarray
        (N, H, W, C) uint8.
    patch, stride : int, optional
        Side of the square sky patch and its step, in pixels.
    class_index : int, optional
        1: the drop of the LSBG logit; 0: the drop of the artifact logit (its negative).

    Returns
    -------
    numpy.ndarray
        (N, H, W) float32: at each pixel the mean, over the patches covering it, of the
        positive part of the logit's drop.  High where hiding the pixel costs evidence.
    """
    images = np.asarray(images)
    n, h, w, c = images.shape
    forward = inference_function(model, input_shape=(h, w, c))
    sign = 1.0 if class_index == 1 else -1.0
    tops = list(range(0, h - patch + 1, stride))
    lefts = list(range(0, w - patch + 1, stride))
    maps = np.zeros((n, h, w), np.float32)
    for i in range(n):
        img = images[i]
        sky = np.median(img.reshape(-1, c), axis=0).astype(np.uint8)
        batch = np.repeat(img[None], len(tops) * len(lefts) + 1, axis=0)
        k = 1
        for t in tops:
            for left in lefts:
                batch[k, t:t + patch, left:left + patch] = sky
                k += 1
        z = sign * _logits(forward, batch)
        drop = np.maximum(z[0] - z[1:], 0.0)
        acc = np.zeros((h, w))
        cover = np.zeros((h, w))
        k = 0
        for t in tops:
            for left in lefts:
                acc[t:t + patch, left:left + patch] += drop[k]
                cover[t:t + patch, left:left + patch] += 1
                k += 1
        maps[i] = acc / np.maximum(cover, 1)
    return maps


def hidden_region_accuracy(model, images, y_true, *, radius=12.0):
    """Test metrics with nothing hidden, with the centre hidden, with the surroundings
    hidden.

    Parameters
    ----------
    model : keras.Model
    images : numpy.ndarray
        (N, H, W, C) uint8 test cutouts.
    y_true : array_like
        Binary labels.
    radius : float, optional
        Radius of the central disc (pixels).

    Returns
    -------
    dict
        ``{"full", "centre_hidden", "surroundings_hidden"} -> {"accuracy", "auc",
        "frac_pred_lsbg"}``.  A model that decides from the surroundings keeps its
        accuracy with the centre hidden.
    """
    images = np.asarray(images)
    y = np.asarray(y_true).astype(int)
    disc = central_mask(images.shape[1:3], radius=radius)
    sky = np.median(images.reshape(len(images), -1, images.shape[-1]), axis=1)
    sky = sky.astype(np.uint8)[:, None, None, :]
    centre_hidden = np.where(disc[None, :, :, None], sky, images)
    around_hidden = np.where(disc[None, :, :, None], images, sky)
    out = {}
    for name, x in (("full", images), ("centre_hidden", centre_hidden),
                    ("surroundings_hidden", around_hidden)):
        p = predict(model, x)
        m = evaluate.binary_metrics(y, p)
        out[name] = {"accuracy": float(m["accuracy"]), "auc": float(m["auc"]),
                     "frac_pred_lsbg": float((p > 0.5).mean())}
    return out


def mask_neighbours(images, *, thresh=1.5, minarea=5, dilate=2, seed=0):
    """Replace every source except the central one by sky pixels of the same cutout.

    Sources are found with sep on the sum of the bands (background subtracted, threshold
    ``thresh`` times the background rms, ``minarea`` pixels); the segment that holds the
    centre (or, when none does, the one closest to it) is kept; the others, grown by
    ``dilate`` pixels, are filled with pixels drawn at random from the cutout's pixels
    outside every segment.

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W, C) uint8.

    Returns
    -------
    numpy.ndarray
        A masked copy, uint8.
    """
    images = np.asarray(images)
    out = images.copy()
    rng = np.random.default_rng(seed)
    n, h, w, _ = images.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for i in range(n):
        det = images[i].astype(np.float64).sum(axis=2)
        det = np.ascontiguousarray(det)
        bkg = sep.Background(det, bw=16, bh=16)
        sub = det - bkg.back()
        try:
            objs, seg = sep.extract(sub, thresh, err=bkg.globalrms, minarea=minarea,
                                    segmentation_map=True)
        except Exception:  # sep refuses pathological images: leave them as they are
            continue
        if len(objs) == 0:
            continue
        centre_id = seg[int(round(cy)), int(round(cx))]
        if centre_id == 0:
            d = (objs["x"] - cx) ** 2 + (objs["y"] - cy) ** 2
            centre_id = int(np.argmin(d)) + 1
        others = (seg > 0) & (seg != centre_id)
        if not others.any():
            continue
        others = ndimage.binary_dilation(others, iterations=int(dilate))
        others &= seg != centre_id
        free = np.flatnonzero(seg.ravel() == 0)
        if free.size == 0:
            continue
        pick = rng.choice(free, size=int(others.sum()))
        flat = images[i].reshape(-1, images.shape[-1])
        out[i][others] = flat[pick]
    return out

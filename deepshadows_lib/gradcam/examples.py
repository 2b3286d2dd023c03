"""The Grad-CAM figure's examples (high-confidence TP, TN, FP, FN) and how much of a map
lies on the central object, beside occlusion sensitivity.
"""

import numpy as np
import pandas as pd

from .. import occlusion as occ
from ..errors import InputError
from ..occlusion import central_mask
from .maps import gradcam_maps

__all__ = ["CATEGORIES", "select_examples", "gradcam_examples", "count_examples",
           "disc_share", "central_share", "centre_evidence"]

#: the four panels of the Grad-CAM figure
CATEGORIES = ("TP", "TN", "FP", "FN")


def select_examples(y_true, p, *, n=4, high=0.8, low=0.2, seed=0):
    """Indices of high-confidence correct and wrong classifications.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True labels (1 = LSBG).
    p : array-like of float, shape (N,) or (N, 1)
        Predicted LSBG probabilities.
    n : int, optional
        Examples per category; fewer where fewer qualify.
    high, low : float, optional
        Confidence cuts: TP ``y = 1, p > high``; TN ``y = 0, p < low``; FP ``y = 0,
        p > high``; FN ``y = 1, p < low`` (the paper: 0.8 and 0.2).
    seed : int or numpy.random.Generator, optional
        The examples are drawn at random (without replacement) among those that qualify.

    Returns
    -------
    dict
        ``{"TP": idx, "TN": idx, "FP": idx, "FN": idx}``, sorted int arrays.
    """
    y = np.asarray(y_true).ravel()
    q = np.asarray(p, dtype=float).ravel()  # (N,) or Keras' (N, 1)
    if len(q) != len(y):
        raise InputError(f"p has {len(q)} values but y_true has {len(y)}")
    if not np.isin(y, (0, 1)).all():
        raise InputError("y_true must contain only 0 and 1")
    if not low <= high:
        raise InputError(f"need low <= high, got low={low}, high={high}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    masks = {"TP": (y == 1) & (q > high), "TN": (y == 0) & (q < low),
             "FP": (y == 0) & (q > high), "FN": (y == 1) & (q < low)}
    out = {}
    for name in CATEGORIES:
        idx = np.flatnonzero(masks[name])
        if len(idx) > n:
            idx = np.sort(rng.choice(idx, size=int(n), replace=False))
        out[name] = idx
    return out


def gradcam_examples(model, images, y_true, p, *, n=4, high=0.8, low=0.2, seed=0,
                     layer_name=None, batch_size=32, method="gradcam"):
    """Grad-CAM maps of high-confidence TP, TN, FP and FN examples (Fig. 6).

    Each map explains the model's predicted class for that image.

    Parameters
    ----------
    model, images
        As in :func:`gradcam_maps`.
    y_true, p, n, high, low, seed
        As in :func:`select_examples`.
    method : {"gradcam", "hirescam"}, optional
        As in :func:`gradcam_maps`.

    Returns
    -------
    dict
        ``category -> {"index": (k,), "image": (k, H, W, C) uint8/float as given,
        "map": (k, H, W), "p": (k,)}`` for each of TP, TN, FP, FN.
    """
    sel = select_examples(y_true, p, n=n, high=high, low=low, seed=seed)
    q = np.asarray(p, dtype=float).ravel()
    out = {}
    for name in CATEGORIES:
        idx = sel[name]
        imgs = np.stack([np.asarray(images[int(i)]) for i in idx]) if len(idx) else \
            np.zeros((0,) + tuple(images.shape[1:]), dtype=np.asarray(images[:0]).dtype)
        maps = (gradcam_maps(model, imgs, layer_name=layer_name, batch_size=batch_size,
                             method=method)
                if len(idx) else np.zeros(imgs.shape[:3], np.float32))
        out[name] = {"index": idx, "image": imgs, "map": maps, "p": q[idx]}
    return out


def count_examples(examples):
    """Number of examples per category of :func:`gradcam_examples`' result."""
    return {name: int(len(v["index"])) for name, v in examples.items()}


def disc_share(shape, *, radius=12.0):
    """Fraction of an image of ``shape`` (H, W) within ``radius`` pixels of its centre."""
    return float(central_mask(shape, radius=radius).mean())


def central_share(maps, *, radius=12.0):
    """Share of each map's total within ``radius`` pixels of the image centre.

    A map that ignores position has the share of the disc in the image
    (:func:`disc_share`: 0.11 for 12 pixels of a 64x64 cutout); one concentrated on the
    central object approaches 1.  An all-zero map has share NaN.

    Parameters
    ----------
    maps : array_like
        (N, H, W) or (H, W) non-negative maps (Grad-CAM, occlusion).

    Returns
    -------
    numpy.ndarray or float
    """
    m = np.asarray(maps, dtype=np.float64)
    single = m.ndim == 2
    m = m[None] if single else m
    disc = central_mask(m.shape[1:], radius=radius)
    total = m.sum(axis=(1, 2))
    inner = m[:, disc].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, inner / np.where(total > 0, total, 1), np.nan)
    return float(share[0]) if single else share


def centre_evidence(model, images, y_true, p, *, n_max=200, high=0.8, radius=12.0, seed=0,
                    occlusion=True):
    """How much of the evidence for confident true positives sits on the central object.

    The confident true positives (``y = 1``, ``p > high``; at most ``n_max``, drawn with
    ``seed``) get a Grad-CAM map of the LSBG score and, as an independent check, an
    occlusion-sensitivity map (:func:`deepshadows_lib.occlusion.occlusion_maps`); each
    map's :func:`central_share` is compared with the disc's share of the image.

    Parameters
    ----------
    model : keras.Model
        A binary model.
    images : numpy.ndarray
        (N, H, W, C) uint8 test cutouts.
    y_true, p : array_like
        Labels and the model's LSBG probabilities for ``images``.

    Returns
    -------
    dict
        ``index`` (rows used), ``gradcam_share``, ``hirescam_share`` and
        ``occlusion_share`` (one per example), ``disc_share`` and ``table`` (a DataFrame
        of the medians and quartiles).
    """
    y = np.asarray(y_true).ravel()
    q = np.asarray(p, dtype=float).ravel()
    idx = np.flatnonzero((y == 1) & (q > high))
    rng = np.random.default_rng(seed)
    if len(idx) > n_max:
        idx = np.sort(rng.choice(idx, size=int(n_max), replace=False))
    images = np.asarray(images)
    disc = disc_share(images.shape[1:3], radius=radius)
    out = {"index": idx, "disc_share": disc}
    if len(idx) == 0:
        out.update(gradcam_share=np.zeros(0), hirescam_share=np.zeros(0),
                   occlusion_share=np.zeros(0),
                   table=pd.DataFrame())
        return out
    x = images[idx]
    out["gradcam_share"] = central_share(gradcam_maps(model, x, class_index=1),
                                         radius=radius)
    out["hirescam_share"] = central_share(gradcam_maps(model, x, class_index=1,
                                                       method="hirescam"), radius=radius)
    rows = {"Grad-CAM, channel-averaged gradients (the paper)": out["gradcam_share"],
            "HiResCAM, gradients kept per position": out["hirescam_share"]}
    if occlusion:
        out["occlusion_share"] = central_share(occ.occlusion_maps(model, x), radius=radius)
        rows["occlusion sensitivity"] = out["occlusion_share"]
    table = pd.DataFrame({name: {"median share": float(np.nanmedian(s)),
                                 "lower quartile": float(np.nanquantile(s, 0.25)),
                                 "upper quartile": float(np.nanquantile(s, 0.75)),
                                 "maps": int(np.isfinite(s).sum()),
                                 "disc share": disc}
                          for name, s in rows.items()}).T.rename_axis("map")
    out["table"] = table
    return out

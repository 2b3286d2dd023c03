"""Calibrated predictions with uncertainty, for a store or for a user's own image files.

:class:`Predictor` wraps a saved model and its sidecar (:mod:`deepshadows_lib.provenance`):

* the model outputs one LSBG probability per ensemble member (one for the paper's CNN,
  K for a ``plus`` ensemble, :func:`deepshadows_lib.plus.combine_members`);
* with test-time augmentation (``tta`` in the sidecar) each cutout is classified in its
  eight rotations and flips (:mod:`deepshadows_lib.augment`);
* the probability reported is the mean over members and views, scaled by the
  temperature (and, with Platt scaling, shifted by the bias; or mapped through isotonic
  knots) fitted on the validation set (``p_lsbg``), and its uncertainty is the standard deviation of the
  calibrated probabilities of the members and views
  (``uncertainty``; NaN for a single network without test-time augmentation, which has
  nothing to spread over).

:func:`predict_files` runs a Predictor over image files and folders (JPEG, PNG, FITS) in
streaming batches and writes ``predictions.csv``: the command ``deepshadows predict``.
"""

import csv
import os
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ._io import atomic_path
from .augment import N_VIEWS, dihedral_view
from .calibration import apply_isotonic, apply_temperature
from .errors import InputError
from .nn import inference, runtime, saving
from .imagefiles import ImageReadError, count_images, iter_images, read_image
from .provenance import read_sidecar, sidecar_path

__all__ = ["Predictor", "OUTPUT_COLUMNS", "predict_files", "PredictSummary",
           "UnverifiedModelWarning"]


class UnverifiedModelWarning(UserWarning):
    """A model file without its sidecar: nothing to verify it against, and no calibration
    (temperature, test-time augmentation) to apply."""


def unverified_message(path):
    """The one line said about a model file without a sidecar."""
    return (f"{path}: no sidecar {sidecar_path(path).name}: the model is not verified "
            "against a SHA-256 and its probabilities are not calibrated (no temperature, "
            "no test-time augmentation)")

#: Columns of ``deepshadows predict``'s table, in order.
OUTPUT_COLUMNS = ("file", "ra", "dec", "p_lsbg", "uncertainty", "status", "reason",
                  "original_size", "resized", "coords_from")


class Predictor:
    """A model with its calibration: calibrated LSBG probability and its uncertainty.

    Parameters
    ----------
    model : keras.Model
        Input (64, 64, 3) in [0, 1]; output (B, K): one sigmoid probability per member.
    temperature : float, optional
        Divides the logit of the averaged probability (1: uncalibrated).
    bias : float, optional
        Added to the scaled logit (Platt scaling; 0: temperature scaling only).
    isotonic : dict, optional
        Knots of an isotonic calibration (:func:`~deepshadows_lib.calibration.fit_isotonic`),
        applied after the temperature and bias (None: none).
    tta : bool, optional
        Average over the eight rotations and flips.
    info : dict, optional
        The sidecar (kept for the record).
    precision : {"float32", "bfloat16"}, optional
        The network's arithmetic (:func:`deepshadows_lib.nn.inference.inference_function`):
        float32 by default; ``"bfloat16"`` is a faster opt-in whose probabilities differ
        by up to a few 1e-3.
    """

    def __init__(self, model, *, temperature=1.0, bias=0.0, isotonic=None, tta=False,
                 info=None, precision="float32"):
        self.model = model
        self.temperature = float(temperature)
        self.bias = float(bias)
        if isotonic is not None:
            apply_isotonic(0.5, isotonic)  # a malformed sidecar fails here, not mid-run
        self.isotonic = isotonic
        self.tta = bool(tta)
        self.info = dict(info or {})
        self.input_shape = tuple(model.input_shape[1:])
        self.n_members = int(model.output_shape[-1])
        self.precision = inference._check_precision(precision)
        self._forwards = {}  # precision -> compiled function, built on first use

    @classmethod
    def from_path(cls, path, *, precision="float32"):
        """Load a model file (verified against its sidecar) and its calibration."""
        try:
            model = saving.load_model(path, compile=False)
            info = read_sidecar(path)
            if info is None:
                warnings.warn(unverified_message(path), UnverifiedModelWarning,
                              stacklevel=2)
            return cls.from_sidecar(model, info or {}, precision=precision)
        except InputError as exc:
            if exc.path is not None:
                raise
            raise InputError(exc.reason, path=path) from None

    @classmethod
    def from_sidecar(cls, model, info, *, precision="float32"):
        """A loaded model with the calibration and views its sidecar ``info`` records.

        Raises
        ------
        InputError
            If the model has more outputs than the ensemble members its sidecar records
            (a three-class softmax model: its outputs are classes, not members).
        """
        info = dict(info or {})
        n_out = int(model.output_shape[-1])
        # the sidecar's count, else the nested members of plus.combine_members
        n_members = int(info.get("n_members") or len(_members(model)) or 1)
        n_classes = int(info.get("n_classes") or 2)
        if n_out > 1 and (n_out != n_members or n_classes > 2):
            raise InputError(
                f"model has {n_out} outputs but {n_members} ensemble member(s) "
                f"(n_classes {n_classes}): a three-class model's outputs are "
                "classes, not members; predict needs a binary model or a plus ensemble "
                "(deepshadows classify gives a three-class model's probabilities)")
        return cls(model, temperature=info.get("temperature") or 1.0,
                   bias=info.get("bias") or 0.0, isotonic=info.get("isotonic"),
                   tta=bool(info.get("tta", False)), info=info, precision=precision)

    def _function(self, precision=None):
        precision = inference._check_precision(precision or self.precision)
        forward = self._forwards.get(precision)
        if forward is None:
            forward = self._forwards[precision] = _ensemble_function(
                self.model, self.n_members, self.input_shape, precision=precision)
        return forward

    @property
    def n_views(self):
        return N_VIEWS if self.tta else 1

    def member_probabilities(self, images, *, precision=None):
        """Raw probabilities of each view and member: (N, views, members) float64.

        ``precision``: None for the Predictor's own, or ``"float32"``/``"bfloat16"``.
        """
        x = np.asarray(images)
        forward = self._function(precision)
        out = np.empty((len(x), self.n_views, self.n_members), dtype=np.float64)
        for v in range(self.n_views):
            xv = np.ascontiguousarray(dihedral_view(x, v)) if v else x
            out[:, v, :] = np.asarray(forward(xv)).reshape(len(x), self.n_members)
        return out

    def predict(self, images, *, batch_size=256, precision=None):
        """Calibrated probability and uncertainty of uint8 cutouts.

        Parameters
        ----------
        images : array_like
            (N, 64, 64, 3) uint8.
        batch_size : int, optional
            Cutouts per forward pass.
        precision : {None, "float32", "bfloat16"}, optional
            The network's arithmetic; None: the Predictor's own (:attr:`precision`).

        Returns
        -------
        p : numpy.ndarray
            (N,) calibrated LSBG probability.
        uncertainty : numpy.ndarray
            (N,) standard deviation over members and views (NaN with only one of each).
        """
        x = np.asarray(images)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape or x.dtype != np.uint8:
            raise InputError(f"images must be (N, {', '.join(map(str, self.input_shape))}) "
                             f"uint8, got {x.shape} {x.dtype}")
        p, unc = np.empty(len(x)), np.empty(len(x))
        for start in range(0, len(x), int(batch_size)):
            raw = self.member_probabilities(x[start:start + int(batch_size)],
                                            precision=precision)
            sl = slice(start, start + len(raw))
            p[sl], unc[sl] = self.combine(raw)
        return p, unc

    def combine(self, raw):
        """``(p, uncertainty)`` from :meth:`member_probabilities`' (N, views, members)."""
        raw = np.asarray(raw, dtype=np.float64)
        n = raw.shape[1] * raw.shape[2]
        if n == 1:
            return self.calibrate(raw[:, 0, 0]), np.full(len(raw), np.nan)
        mean = raw.reshape(len(raw), -1).mean(axis=1)
        scaled = self.calibrate(raw).reshape(len(raw), -1)
        return self.calibrate(mean), scaled.std(axis=1, ddof=1)

    def calibrate(self, p):
        """Probabilities through this Predictor's calibration: temperature and bias,
        then the isotonic knots when it has them."""
        q = apply_temperature(p, self.temperature, bias=self.bias)
        return apply_isotonic(q, self.isotonic) if self.isotonic is not None else q


def _members(model):
    """The nested member networks of an ensemble (:func:`.plus.combine_members`)."""
    return [layer for layer in getattr(model, "layers", [])
            if hasattr(layer, "layers") and layer.name.startswith("member")]


def _ensemble_function(model, n_members, input_shape, *, precision="float32"):
    """One compiled ``uint8 batch -> (B, members)`` function of ``model``.

    An ensemble of DeepShadows networks (nested models ``member0``...) runs each member's
    folded inference graph (:func:`deepshadows_lib.nn.inference.inference_function`: batch
    normalisation folded, 1/255 in conv1) inside one traced function; any other model
    runs as itself (float32 only: ``precision="bfloat16"`` needs folded networks).
    """
    members = _members(model)
    if not members or len(members) != n_members:
        return inference.inference_function(model, input_shape=input_shape,
                                            precision=precision)
    tf = runtime.tf()

    def plain(member):
        if precision != "float32":
            raise ValueError(f"precision={precision!r} needs folded DeepShadows members; "
                             f"{member.name} does not fold")
        return lambda x: member(tf.cast(x, tf.float32) / 255.0, training=False)

    parts = [inference._folded_deepshadows(m, precision=precision) or plain(m)
             for m in members]

    def forward(x):
        return tf.concat([tf.reshape(f(x), (-1, 1)) for f in parts], axis=1)

    return tf.function(runtime.per_model_function(forward), reduce_retracing=True,
                       input_signature=[tf.TensorSpec((None, *input_shape), tf.uint8)])


class PredictSummary(dict):
    """``n``, ``n_ok``, ``n_failed``, ``out`` and the first failures of :func:`predict_files`."""

    def __str__(self):
        return (f"{self['n_ok']} of {self['n']} images classified, {self['n_failed']} "
                f"failed, {self['n_lsbg']} with p_lsbg > 0.5")


def _fmt(v):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, float):
        return repr(round(v, 8))
    return str(v)


def predict_files(model, paths, out, *, batch_size=256, progress=True, overwrite=False,
                  precision=None):
    """Classify image files and folders and write a CSV table of predictions.

    Files and folders (searched recursively for ``.jpg``, ``.jpeg``, ``.png``, ``.fits``,
    ``.fit``, ``.fts``, ``.fits.gz`` and ``.fits.fz``, in sorted order, hidden files
    skipped) are read one batch at a time
    (:func:`deepshadows_lib.imagefiles.read_image`: any size, resized to 64x64 as the
    cutout client does), classified, and their rows appended to a temporary file that
    becomes ``out`` at the end: memory stays flat whatever the number of files.  A file
    that cannot be read or has the wrong shape gets a row with ``status`` ``failed`` and
    its ``reason``; the others are still classified.  Rows follow the order of the files.

    Parameters
    ----------
    model : str, path-like or Predictor
        A model file (verified against its sidecar; its temperature and test-time
        augmentation are used) or a :class:`Predictor`.
    paths : str, path-like or iterable of them
        Image files and folders.
    out : str or path-like
        The CSV table to write (columns :data:`OUTPUT_COLUMNS`), ending in ``.csv``.
    batch_size : int, optional
        Images per batch.
    progress : bool, optional
        A progress bar over files.
    overwrite : bool, optional
        Replace an existing ``out``.
    precision : {None, "float32", "bfloat16"}, optional
        The network's arithmetic (see :class:`Predictor`); None: float32, or the
        Predictor's own.

    Returns
    -------
    PredictSummary

    Raises
    ------
    InputError
        No images found, a path that does not exist, an ``out`` that is a folder or
        does not end in ``.csv``, or a bad model.
    FileExistsError
        ``out`` exists and ``overwrite`` is False.
    """
    if isinstance(paths, (str, os.PathLike)):  # one folder, not its name's characters
        paths = [paths]
    paths = [Path(p) for p in paths]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError("no such file or folder", path=missing[0])
    out = Path(out)
    if out.is_dir():  # otherwise found at the end, after every image was classified
        raise InputError("is a folder; name the CSV table to write "
                         "(e.g. predictions.csv)", path=out)
    if out.suffix and out.suffix.lower() != ".csv":  # e.g. .parquet: CSV under that name
        raise InputError(f"predict writes a CSV table; name it .csv, not {out.suffix}",
                         path=out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass --overwrite to replace it)")
    total = count_images(paths)
    if total == 0:
        raise InputError("no image files (.jpg, .jpeg, .png, .fits) found in "
                         + ", ".join(str(p) for p in paths))
    if precision is not None and precision not in inference.PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(inference.PRECISIONS)}, "
                         f"got {precision!r}")
    predictor = (model if isinstance(model, Predictor)
                 else Predictor.from_path(model, precision=precision or "float32"))
    summary = PredictSummary(n=0, n_ok=0, n_failed=0, n_lsbg=0, out=str(out), failures=[])
    size = predictor.input_shape[0]
    with atomic_path(out, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh, \
            tqdm(total=total, desc="classifying", unit="img", disable=not progress,
                 dynamic_ncols=True) as bar:
        writer = csv.writer(fh)
        writer.writerow(OUTPUT_COLUMNS)
        # rows wait for their batch so that the table keeps the order of the files,
        # failed ones included; a run of failures is flushed too, so memory stays flat
        batch, rows = [], []

        def flush():
            if batch:
                p, unc = predictor.predict(np.stack(batch), batch_size=batch_size,
                                           precision=precision)
                predicted = iter(zip(p, unc))
            for m in rows:
                if m["status"] == "failed":
                    writer.writerow([m["file"], "", "", "", "", "failed", m["reason"],
                                     m["original_size"] or "", "", ""])
                    continue
                pi, ui = next(predicted)
                writer.writerow([_fmt(m.get(c)) for c in OUTPUT_COLUMNS[:3]]
                                + [_fmt(float(pi)), _fmt(float(ui)), "ok", "",
                                   m["original_size"], m["resized"], m["coords_from"]])
                summary["n_lsbg"] += int(pi > 0.5)
            summary["n_ok"] += len(batch)
            bar.update(len(rows))
            batch.clear()
            rows.clear()

        for path in iter_images(paths):
            summary["n"] += 1
            try:
                image, info = read_image(path, size=size)
            except ImageReadError as exc:
                rows.append({"file": str(path), "status": "failed", "reason": exc.reason,
                             "original_size": exc.original_size})
                summary["n_failed"] += 1
                if len(summary["failures"]) < 10:
                    summary["failures"].append((str(path), exc.reason))
            else:
                batch.append(image)
                rows.append({"file": str(path), "status": "ok", **info})
            if len(batch) >= int(batch_size) or len(rows) >= 4 * int(batch_size):
                flush()
        flush()
        fh.flush()
        os.fsync(fh.fileno())
    return summary

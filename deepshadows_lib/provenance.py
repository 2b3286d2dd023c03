"""A trained model's provenance: the JSON sidecar written next to every saved model.

:func:`deepshadows_lib.nn.save_model` writes ``NAME.keras`` and, beside it,
``NAME.json``::

    {"format": "deepshadows-model/1",
     "model_file": "NAME.keras", "sha256": "<SHA-256 of NAME.keras>",
     "recipe": "paper" | "plus", "profile": ..., "data": {"source", "sha256", "simulated"},
     "split": {"kind", "seed", "n_train", "n_validation", "n_test", "sha256"},
     "metrics": {...}, "temperature": 1.0, "tta": false, "n_members": 1,
     "library_versions": {...}, "saved": "<UTC time>",
     "content_sha256": "<SHA-256 of the other fields>"}

:func:`deepshadows_lib.nn.load_model` recomputes the SHA-256 of the model file and
refuses a file that does not match its sidecar (a corrupted download, a model replaced
after its metrics were computed), and refuses a sidecar whose fields were edited after
it was written (``content_sha256``: the calibration it holds is what predictions use).
:func:`deepshadows_lib.predict.Predictor` reads the temperature, the test-time
augmentation and the ensemble size from it.
"""

import datetime as _dt
import hashlib
import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ._io import atomic_write_json, json_ready, sha256_file
from .errors import InputError

__all__ = ["FORMAT", "sidecar_path", "split_summary", "describe_data", "make_provenance",
           "write_sidecar", "read_sidecar", "verify_model_file", "library_versions",
           "content_sha256"]

#: the distributions whose versions shape the results (recorded with every model)
_LIBRARIES = ("deepshadows_lib", "tensorflow", "tensorflow-cpu", "keras", "tf-keras-vis",
              "numpy", "pandas", "scikit-learn", "scipy", "galsim", "sep", "astropy",
              "matplotlib", "seaborn", "zarr", "pillow", "papermill", "dask")


def library_versions():
    """Versions of Python and the libraries that shape the results."""
    out = {"python": sys.version.split()[0]}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out

FORMAT = "deepshadows-model/1"


def sidecar_path(model_path):
    """The sidecar of ``model_path``: the same name with ``.json`` for ``.keras``."""
    return Path(model_path).with_suffix(".json")


def split_summary(split, *, seed=None):
    """Sizes, kind and a SHA-256 of a split's index arrays (the indices are not stored).

    Parameters
    ----------
    split : dict
        ``train``, ``validation``, ``test`` index arrays (and optionally ``kind``).
    seed : int, optional
        The seed the split was drawn with.
    """
    digest = hashlib.sha256()
    out = {"kind": split.get("kind"), "seed": None if seed is None else int(seed)}
    for name in ("train", "validation", "test"):
        idx = np.asarray(split.get(name, []), dtype=np.int64)
        out[f"n_{name}"] = int(idx.size)
        digest.update(name.encode() + idx.tobytes())
    out["sha256"] = digest.hexdigest()
    return out


def describe_data(store):
    """``{"source", "sha256", "simulated", "survey"}`` of a cutout store (or None)."""
    if store is None:
        return None
    attrs = getattr(store, "attrs", {}) or {}
    return {"source": str(getattr(store, "path", "")), "sha256": attrs.get("content_sha256"),
            "simulated": bool(attrs.get("simulated", False)), "survey": attrs.get("survey")}


def make_provenance(*, recipe="paper", profile=None, data=None, split=None, metrics=None,
                    temperature=1.0, tta=False, n_members=1, **extra):
    """The provenance fields of a sidecar (without the file's hash).

    Parameters
    ----------
    recipe : {"paper", "plus"}
        How the model was trained.
    profile : str or Profile, optional
        The run profile.
    data : dict or Store, optional
        The training data (:func:`describe_data` of a store, or a dict).
    split : dict, optional
        :func:`split_summary` of the split, or a split itself (summarised with the run's
        ``seed`` from ``extra``, the seed a random split is drawn with).
    metrics : dict, optional
        Metrics of the model (test set, validation set ...).
    temperature : float, optional
        Temperature of the calibrated probability (1: none).
    tta : bool, optional
        Whether predictions average the eight rotations and flips.
    n_members : int, optional
        Networks in the ensemble (the model outputs one probability per member).
    **extra
        Any other JSON-ready fields (head, epochs, seeds, ...).
    """
    if profile is not None and not isinstance(profile, str):
        profile = getattr(profile, "name", str(profile))
    if data is not None and not isinstance(data, dict):
        data = describe_data(data)
    if split is not None and "n_train" not in split:
        split = split_summary(split, seed=extra.get("seed"))
    out = {"format": FORMAT, "recipe": str(recipe), "profile": profile, "data": data,
           "split": split, "metrics": metrics or {}, "temperature": float(temperature),
           "tta": bool(tta), "n_members": int(n_members),
           "library_versions": library_versions()}
    out.update(extra)
    return out


def write_sidecar(model_path, provenance=None):
    """Write the sidecar of a saved model: its SHA-256 and ``provenance`` (atomic).

    Fields missing from ``provenance`` take :func:`make_provenance`'s defaults (the
    paper's recipe, no temperature, no test-time augmentation, one network).

    Returns
    -------
    pathlib.Path
        The sidecar.
    """
    model_path = Path(model_path)
    info = make_provenance()
    info.update(provenance or {})
    split = info.get("split")
    if isinstance(split, dict) and "n_train" not in split:  # a split itself: summarise it
        info["split"] = split_summary(split)
    if info.get("data") is not None and not isinstance(info["data"], dict):
        info["data"] = describe_data(info["data"])
    info.update({"format": FORMAT, "model_file": model_path.name,
                 "sha256": sha256_file(model_path),
                 "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    info = json_ready(info)
    info["content_sha256"] = content_sha256(info)
    path = sidecar_path(model_path)
    atomic_write_json(path, info)
    return path


def content_sha256(info):
    """SHA-256 of a sidecar's fields other than ``content_sha256`` itself.

    The fields are hashed as canonical JSON (keys sorted, no spaces) after a round trip
    through JSON, so the hash of the dict written equals that of the file read back.
    """
    body = {k: v for k, v in info.items() if k != "content_sha256"}
    body = json.loads(json.dumps(json_ready(body), default=str))
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_content(info, path):
    """Refuse a sidecar edited by hand (its ``content_sha256`` no longer matches).

    A sidecar written before the content hash existed has none and is taken as it is.
    """
    want = info.get("content_sha256")
    if want is not None and content_sha256(info) != want:
        raise InputError("model sidecar was edited after it was written (its fields no "
                         "longer match its content_sha256), so its calibration and record "
                         "cannot be trusted; rewrite it with provenance.write_sidecar or "
                         "save the model again", path=path)


def read_sidecar(model_path, *, check=True):
    """The sidecar of ``model_path`` as a dict, or None when there is none.

    Parameters
    ----------
    model_path : path-like
    check : bool, optional
        Refuse a sidecar whose fields were edited after it was written
        (``content_sha256``).

    Raises
    ------
    InputError
        If the sidecar exists but is not a JSON object of this format, or (``check``)
        was edited.
    """
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable model sidecar: {exc}", path=path) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(f"not a model sidecar (format {FORMAT} expected)", path=path)
    if check:
        _check_content(info, path)
    return info


def verify_model_file(model_path, sidecar=None):
    """Check the model file against the SHA-256 of its sidecar.

    Parameters
    ----------
    model_path : path-like
    sidecar : dict, optional
        Already read; default: :func:`read_sidecar`.

    Returns
    -------
    dict or None
        The sidecar (None when the model has none: nothing to verify).

    Raises
    ------
    InputError
        If the hashes differ, or the sidecar was edited after it was written.
    """
    # the model file first: a replaced model is the more telling error
    info = read_sidecar(model_path, check=False) if sidecar is None else sidecar
    if info is None:
        return None
    want = str(info.get("sha256", ""))
    got = sha256_file(model_path)
    if got != want:
        raise InputError(f"model file does not match its sidecar {sidecar_path(model_path).name}"
                         f" (SHA-256 {got[:12]}..., expected {want[:12]}...): corrupted or "
                         "replaced; retrain or download it again", path=model_path)
    _check_content(info, sidecar_path(model_path))
    return info

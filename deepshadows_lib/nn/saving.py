"""Models on disk and in memory: save with a provenance sidecar, load safely, copy.

Keras is imported inside the functions (through :func:`.runtime.tf`): see
:mod:`.runtime`.
"""

import zipfile
from pathlib import Path

from .._io import atomic_path
from ..errors import InputError
from ..provenance import verify_model_file, write_sidecar
from .runtime import tf as _tf

__all__ = ["save_model", "load_model", "copy_model"]


def copy_model(model):
    """A new model with the same architecture and weights (uncompiled)."""
    import keras
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def save_model(model, path, *, provenance=None):
    """Save a model to a ``.keras`` file atomically, with its provenance sidecar.

    Beside ``NAME.keras`` goes ``NAME.json`` (:mod:`deepshadows_lib.provenance`): the
    SHA-256 of the model file, which :func:`load_model` verifies, and ``provenance``
    (recipe, profile, data hash, split, metrics, temperature, library versions).

    Parameters
    ----------
    model : keras.Model
    path : str or path-like
        Must end in ``.keras``.
    provenance : dict, optional
        Fields of the sidecar (see :func:`deepshadows_lib.provenance.make_provenance`);
        default: the paper's recipe without further details.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise InputError("model files end in .keras", path=path)
    with atomic_path(path) as tmp:
        model.save(tmp)
    write_sidecar(path, provenance)
    return path


def load_model(path, *, compile=True, verify=True):
    """Load a ``.keras`` model with Keras' safe mode on (no arbitrary code runs).

    When the model has a sidecar (``NAME.json``, written by :func:`save_model`), the
    file's SHA-256 must match it.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    compile : bool, optional
        Restore the optimizer and loss too.
    verify : bool, optional
        Check the SHA-256 recorded in the sidecar.

    Returns
    -------
    keras.Model

    Raises
    ------
    InputError
        If the file is missing, is not a Keras model, or does not match its sidecar.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("model file not found", path=path)
    if verify:  # first: a truncated download is a corrupted model, not "not a model"
        verify_model_file(path)
    if not zipfile.is_zipfile(path):
        raise InputError("not a Keras model file (.keras archive expected)", path=path)
    _tf()
    import keras
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a loadable Keras model: {first}", path=path) from None


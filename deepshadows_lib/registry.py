"""Published trained models: a registry name -> URL and SHA-256, fetched with pooch.

A published model is two files: ``NAME.keras`` and its sidecar ``NAME.json``
(:mod:`deepshadows_lib.provenance`).  The registry records the URL and SHA-256 of each;
:func:`fetch_model` downloads them into a cache (``pooch``; each file is checked against
its SHA-256 before it is used, and a cached copy is reused when it still matches), and
:func:`deepshadows_lib.nn.load_model` then checks the model against its sidecar.

:data:`PUBLISHED` is the registry shipped with the package.  It is empty: no trained
weights have been published from this repository yet.  How to publish one (README,
"Publishing a trained model")::

    from deepshadows_lib import registry
    entry = registry.registry_entry("build/default/plus.keras",
                                    base_url="https://zenodo.org/records/NNN/files/")
    # upload plus.keras and plus.json to base_url, then add
    #   "deepshadows-plus-v1": entry
    # to PUBLISHED below (or ship it in a JSON file and pass registry=that file).

Another registry -- a JSON file ``{name: entry}``, a dict, or the environment variable
``DEEPSHADOWS_REGISTRY`` naming such a file -- can be given wherever a name is looked up;
the tests use one served from 127.0.0.1.
"""

import json
import logging
import os
from pathlib import Path

import pooch

from ._io import sha256_file
from .errors import InputError
from .provenance import sidecar_path, verify_model_file

__all__ = ["PUBLISHED", "ENV_VAR", "load_registry", "registry_entry", "fetch_model",
           "resolve_model", "cache_dir"]

#: name -> {"url", "sha256", "sidecar_url", "sidecar_sha256", "description"}
PUBLISHED = {}

#: Environment variable naming a JSON registry file that extends :data:`PUBLISHED`.
ENV_VAR = "DEEPSHADOWS_REGISTRY"

_KEYS = ("url", "sha256", "sidecar_url", "sidecar_sha256")


def cache_dir():
    """Where fetched models are kept (pooch's per-user cache for ``deepshadows``)."""
    return Path(pooch.os_cache("deepshadows")) / "models"


def load_registry(registry=None):
    """The registry as a dict: :data:`PUBLISHED`, extended by ``registry`` or the file
    named by :data:`ENV_VAR`.

    Parameters
    ----------
    registry : dict, str or path-like, optional
        A dict ``{name: entry}`` or the path of a JSON file holding one.

    Raises
    ------
    InputError
        If the file is unreadable or an entry lacks ``url``, ``sha256``, ``sidecar_url``
        or ``sidecar_sha256``.
    """
    out = dict(PUBLISHED)
    source = registry if registry is not None else os.environ.get(ENV_VAR) or None
    if source is None:
        return out
    if isinstance(source, dict):
        extra = source
    else:
        try:
            extra = json.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"unreadable model registry: {exc}", path=source) from None
        if not isinstance(extra, dict):
            raise InputError("a model registry is a JSON object {name: entry}", path=source)
    for name, entry in extra.items():
        missing = [k for k in _KEYS if not isinstance(entry, dict) or not entry.get(k)]
        if missing:
            raise InputError(f"registry entry {name!r} lacks {', '.join(missing)}",
                             path=None if isinstance(source, dict) else source)
        out[name] = dict(entry)
    return out


def registry_entry(model_path, *, base_url, description=""):
    """The registry entry of a saved model, once uploaded under ``base_url``.

    Parameters
    ----------
    model_path : path-like
        ``NAME.keras`` with its sidecar ``NAME.json`` beside it.
    base_url : str
        Where both files will be reachable (ending in ``/``).
    description : str, optional
    """
    model_path = Path(model_path)
    side = sidecar_path(model_path)
    if verify_model_file(model_path) is None:
        raise InputError("model has no sidecar; save it with nn.save_model",
                         path=model_path)
    base = base_url if base_url.endswith("/") else base_url + "/"
    return {"url": base + model_path.name, "sha256": sha256_file(model_path),
            "sidecar_url": base + side.name, "sidecar_sha256": sha256_file(side),
            "description": description}


def fetch_model(name, *, registry=None, cache=None, progress=False):
    """Download a published model and its sidecar (checked by SHA-256); return its path.

    Parameters
    ----------
    name : str
        A registry name.
    registry : dict, str or path-like, optional
        See :func:`load_registry`.
    cache : str or path-like, optional
        Download folder (default :func:`cache_dir`).
    progress : bool, optional
        Show pooch's download progress bar.

    Returns
    -------
    pathlib.Path
        ``CACHE/NAME.keras`` (with ``CACHE/NAME.json`` beside it).

    Raises
    ------
    InputError
        An unknown name, a download that fails, or a file whose SHA-256 differs.
    """
    entries = load_registry(registry)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none published yet"
        raise InputError(f"unknown model {name!r} (registry: {known})")
    entry = entries[name]
    folder = Path(cache) if cache is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    got = {}
    logger = pooch.get_logger()
    # quiet: no "Downloading data from ..." lines either.  A filter, not setLevel: pooch's
    # logger is not registered with logging, so a level change would leave its cached
    # level checks stale after being undone
    quiet = None if progress else (lambda record: record.levelno >= logging.WARNING)
    if quiet is not None:
        logger.addFilter(quiet)
    try:
        for key, url_key, suffix in (("sha256", "url", ".keras"),
                                     ("sidecar_sha256", "sidecar_url", ".json")):
            got[suffix] = _retrieve(name, entry, key, url_key, suffix, folder, progress)
    finally:
        if quiet is not None:
            logger.removeFilter(quiet)
    return Path(got[".keras"])


def _retrieve(name, entry, key, url_key, suffix, folder, progress):
    """One file of a registry entry, fetched with pooch and checked (its local path)."""
    try:
        return pooch.retrieve(entry[url_key], known_hash=f"sha256:{entry[key]}",
                              fname=f"{name}{suffix}", path=folder,
                              progressbar=progress)
    except ValueError as exc:  # pooch: hash mismatch (the download is deleted)
        raise InputError(f"download of {name!r} does not match the registry's SHA-256: "
                         f"{str(exc).splitlines()[0]}", path=entry[url_key]) from None
    except Exception as exc:  # noqa: BLE001 -- HTTP, connection, unsupported scheme
        raise InputError(f"cannot download {name!r}: {type(exc).__name__}: {exc}",
                         path=entry[url_key]) from None


def resolve_model(model, *, registry=None, progress=False):
    """A model file path: ``model`` itself if it is a file, else a registry name fetched.

    Raises
    ------
    InputError
        Neither an existing file nor a registry name.
    """
    path = Path(model)
    if path.exists() or str(model).endswith(".keras"):
        if not path.is_file():
            raise InputError("model file not found", path=path)
        return path
    return fetch_model(str(model), registry=registry, progress=progress)

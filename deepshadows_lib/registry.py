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

An entry needs only ``url`` and ``sha256``: the sidecar is then looked for beside the
model (``NAME.json`` for ``NAME.keras``) and, since the registry holds no hash of it,
downloaded afresh each time and trusted through the model's hash it records.  A URL may
be ``http(s)://``, ``ftp://``, ``doi:``, or a local file (``file://`` or a plain path: a
mirror on a shared disk).

Another registry -- a JSON file ``{name: entry}``, a dict, or the environment variable
``DEEPSHADOWS_REGISTRY`` naming such a file -- can be given wherever a name is looked up;
the tests use one served from 127.0.0.1 and one of local files.
"""

import json
import logging
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pooch
import pooch.downloaders

from ._io import sha256_file
from .errors import InputError
from .provenance import sidecar_path, verify_model_file

__all__ = ["PUBLISHED", "ENV_VAR", "load_registry", "registry_entry", "fetch_model",
           "resolve_model", "cache_dir"]

#: name -> {"url", "sha256", "sidecar_url", "sidecar_sha256", "description"}
#: (``url`` and ``sha256`` required)
PUBLISHED = {}

#: Environment variable naming a JSON registry file that extends :data:`PUBLISHED`.
ENV_VAR = "DEEPSHADOWS_REGISTRY"

_KEYS = ("url", "sha256", "sidecar_url", "sidecar_sha256")
_REQUIRED = ("url", "sha256")


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
        If the file is unreadable or an entry lacks ``url`` or ``sha256`` (or has an
        empty ``sidecar_url`` or ``sidecar_sha256``).
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
        missing = [k for k in _KEYS if not isinstance(entry, dict)
                   or (k in _REQUIRED or k in entry) and not entry.get(k)]
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
        ``CACHE/NAME.keras`` (with ``CACHE/NAME.json`` beside it, unless the entry
        lists no ``sidecar_url`` and none lies beside the model's URL).

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
    logger = pooch.get_logger()
    # quiet: no "Downloading data from ..." lines either.  A filter, not setLevel: pooch's
    # logger is not registered with logging, so a level change would leave its cached
    # level checks stale after being undone
    quiet = None if progress else (lambda record: record.levelno >= logging.WARNING)
    if quiet is not None:
        logger.addFilter(quiet)
    try:
        model = _retrieve(name, entry["url"], entry["sha256"], ".keras", folder, progress)
        side_url = entry.get("sidecar_url") or _sidecar_url(entry["url"])
        if side_url is not None:  # an unlisted sidecar may be missing: the model alone
            _retrieve(name, side_url, entry.get("sidecar_sha256"), ".json", folder,
                      progress, optional="sidecar_url" not in entry)
    finally:
        if quiet is not None:
            logger.removeFilter(quiet)
    return Path(model)


def _sidecar_url(url):
    """Where the sidecar of the model at ``url`` lies by the naming rule, or None."""
    parts = urllib.parse.urlsplit(url)
    if not parts.path.endswith(".keras"):
        return None
    return urllib.parse.urlunsplit(parts._replace(path=parts.path[:-6] + ".json"))


def _local_path(url):
    """The file a ``file://`` URL or a plain path names; None for a remote URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return Path(urllib.request.url2pathname(parts.path))
    if parts.scheme and len(parts.scheme) > 1:  # (a Windows drive letter is no scheme)
        return None
    return Path(url).expanduser()


def _copy_local(url, output_file, pooch_obj):
    """A pooch downloader for local files (pooch itself knows only network protocols)."""
    source = _local_path(url)
    if not source.is_file():
        raise FileNotFoundError(f"no such file: {source}")
    shutil.copyfile(source, output_file)


def _retrieve(name, url, sha256, suffix, folder, progress, *, optional=False):
    """One file of a registry entry, fetched with pooch and checked (its local path).

    ``sha256`` None: no hash to check (a sidecar the registry does not list), so any copy
    in the cache is replaced by a fresh download.  ``optional``: a file that cannot be
    downloaded gives None instead of an error.
    """
    target = folder / f"{name}{suffix}"
    if sha256 is None:
        target.unlink(missing_ok=True)
    try:
        downloader = (_copy_local if _local_path(url) is not None
                      else pooch.downloaders.choose_downloader(url, progressbar=progress))
    except ValueError as exc:  # a protocol pooch does not know
        raise InputError(f"cannot download {name!r}: {exc}", path=url) from None
    known = None if sha256 is None else f"sha256:{sha256}"
    try:
        return pooch.retrieve(url, known_hash=known, fname=target.name, path=folder,
                              progressbar=progress, downloader=downloader)
    except ValueError as exc:  # pooch: hash mismatch (the download is deleted)
        raise InputError(f"download of {name!r} does not match the registry's SHA-256: "
                         f"{str(exc).splitlines()[0]}", path=url) from None
    except Exception as exc:  # noqa: BLE001 -- HTTP, connection, unsupported scheme
        if optional:
            return None
        raise InputError(f"cannot download {name!r}: {type(exc).__name__}: {exc}",
                         path=url) from None


def resolve_model(model, *, registry=None, progress=False):
    """A model file path: ``model`` itself if it is a file, ``model/model.keras`` if it is
    a folder (what ``deepshadows train --out`` writes), else a registry name fetched.

    Raises
    ------
    InputError
        Neither an existing file, nor a folder with ``model.keras``, nor a registry name.
    """
    path = Path(model)
    if path.is_dir():
        if not (path / "model.keras").is_file():
            raise InputError("is a folder without model.keras; give the .keras file",
                             path=path)
        return path / "model.keras"
    if path.exists() or str(model).endswith(".keras"):
        if not path.is_file():
            raise InputError("model file not found", path=path)
        return path
    return fetch_model(str(model), registry=registry, progress=progress)

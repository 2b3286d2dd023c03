"""Tests of deepshadows_lib.registry: a local registry served from 127.0.0.1."""

import functools
import hashlib
import http.server
import json
import shutil
import threading

import pytest

from deepshadows_lib import registry, training
from deepshadows_lib.errors import InputError
from deepshadows_lib.models import build_deepshadows

pytestmark = pytest.mark.tf  # builds or runs TensorFlow models


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A folder with a published model, served over HTTP on 127.0.0.1."""
    root = tmp_path_factory.mktemp("published")
    training.save_model(build_deepshadows(compile=False, head="gap"), root / "tiny.keras",
                        provenance={"recipe": "plus", "temperature": 1.3})
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass

    httpd = Quiet(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a, **k: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_published_entries_pass_the_registry_check_and_files_extend_them(tmp_path,
                                                                         monkeypatch):
    # the package's own entries go through the same check as a user's registry file
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    assert registry.load_registry() == registry.PUBLISHED
    entry = {k: f"https://example.org/{k}" for k in registry._KEYS}
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"extra": entry}))
    monkeypatch.setenv(registry.ENV_VAR, str(extra))
    assert registry.load_registry() == {**registry.PUBLISHED, "extra": entry}
    extra.write_text(json.dumps({"broken": {**entry, "sidecar_sha256": ""}}))
    with pytest.raises(InputError, match="'broken' lacks sidecar_sha256"):
        registry.load_registry()


def test_fetch_from_local_registry_verifies_and_loads(server, tmp_path):
    root, url = server
    entry = registry.registry_entry(root / "tiny.keras", base_url=url)
    reg = tmp_path / "registry.json"
    reg.write_text(json.dumps({"tiny": entry}))
    path = registry.fetch_model("tiny", registry=reg, cache=tmp_path / "cache")
    assert path.name == "tiny.keras" and path.with_suffix(".json").is_file()
    model = training.load_model(path, compile=False)  # sidecar check passes
    assert model.count_params() == 24_097
    # a second fetch reuses the cached, still matching, copy
    assert registry.fetch_model("tiny", registry=reg, cache=tmp_path / "cache") == path


def test_resolve_model_accepts_a_file_or_a_name(server, tmp_path, monkeypatch):
    root, url = server
    reg = tmp_path / "r.json"
    reg.write_text(json.dumps({"tiny": registry.registry_entry(root / "tiny.keras",
                                                               base_url=url)}))
    monkeypatch.setenv(registry.ENV_VAR, str(reg))
    monkeypatch.setattr(registry, "cache_dir", lambda: tmp_path / "c")
    assert registry.resolve_model(root / "tiny.keras") == root / "tiny.keras"
    assert registry.resolve_model("tiny").parent == tmp_path / "c"
    with pytest.raises(InputError, match="unknown model 'nope'"):
        registry.resolve_model("nope")
    with pytest.raises(InputError, match="not found"):
        registry.resolve_model(tmp_path / "missing.keras")
    # the folder deepshadows train --out wrote: its model.keras (it said "not found")
    (tmp_path / "run").mkdir()
    with pytest.raises(InputError, match="run: is a folder without model.keras"):
        registry.resolve_model(tmp_path / "run")
    shutil.copy(root / "tiny.keras", tmp_path / "run" / "model.keras")
    assert registry.resolve_model(tmp_path / "run") == tmp_path / "run" / "model.keras"


def test_wrong_sha256_is_refused_and_nothing_kept(server, tmp_path):
    root, url = server
    entry = registry.registry_entry(root / "tiny.keras", base_url=url)
    entry["sha256"] = "1" * 64
    with pytest.raises(InputError, match="SHA-256"):
        registry.fetch_model("tiny", registry={"tiny": entry}, cache=tmp_path / "c")
    assert not (tmp_path / "c" / "tiny.keras").exists()


def test_tampered_file_on_the_server_is_refused(server, tmp_path):
    root, url = server
    entry = registry.registry_entry(root / "tiny.keras", base_url=url)
    shutil.copy(root / "tiny.keras", tmp_path / "backup.keras")
    try:
        (root / "tiny.keras").write_bytes(b"PK" + b"\0" * 100)
        with pytest.raises(InputError, match="SHA-256"):
            registry.fetch_model("tiny", registry={"tiny": entry}, cache=tmp_path / "c")
    finally:
        shutil.copy(tmp_path / "backup.keras", root / "tiny.keras")


def test_unreachable_url_and_incomplete_entry_are_clear_errors(tmp_path):
    entry = {"url": "http://127.0.0.1:9/none.keras", "sha256": "0" * 64,
             "sidecar_url": "http://127.0.0.1:9/none.json", "sidecar_sha256": "0" * 64}
    with pytest.raises(InputError, match="cannot download 'x'"):
        registry.fetch_model("x", registry={"x": entry}, cache=tmp_path)
    with pytest.raises(InputError, match="lacks url"):
        registry.load_registry({"y": {"sha256": "s", "sidecar_url": "u"}})
    with pytest.raises(InputError, match="lacks sidecar_url"):  # listed but empty
        registry.load_registry({"y": {"url": "u", "sha256": "s", "sidecar_url": ""}})


def test_an_unknown_protocol_is_not_called_a_hash_mismatch(tmp_path):
    entry = {"url": "s3://bucket/m.keras", "sha256": "0" * 64}
    with pytest.raises(InputError, match="cannot download 'x'.*protocol"):
        registry.fetch_model("x", registry={"x": entry}, cache=tmp_path)


@pytest.mark.parametrize("where", ["http", "file URL", "plain path"])
def test_an_entry_of_url_and_sha256_alone_fetches_model_and_sidecar(server, tmp_path,
                                                                    where):
    # the registry: name -> URL, SHA-256; the sidecar lies beside the model
    root, url = server
    base = {"http": url, "file URL": (root.as_uri() + "/"),
            "plain path": f"{root}/"}[where]
    sha = hashlib.sha256((root / "tiny.keras").read_bytes()).hexdigest()
    reg = tmp_path / "registry.json"
    reg.write_text(json.dumps({"tiny": {"url": base + "tiny.keras", "sha256": sha}}))
    path = registry.fetch_model("tiny", registry=reg, cache=tmp_path / "cache")
    assert path.read_bytes() == (root / "tiny.keras").read_bytes()
    assert path.with_suffix(".json").read_bytes() == (root / "tiny.json").read_bytes()
    assert training.load_model(path, compile=False).count_params() == 24_097
    # unlisted, the sidecar is not trusted from the cache: a stale one is replaced
    path.with_suffix(".json").write_text("{}")
    registry.fetch_model("tiny", registry=reg, cache=tmp_path / "cache")
    assert path.with_suffix(".json").read_bytes() == (root / "tiny.json").read_bytes()
    bad = {"tiny": {"url": base + "tiny.keras", "sha256": "1" * 64}}
    with pytest.raises(InputError, match="does not match the registry's SHA-256"):
        registry.fetch_model("tiny", registry=bad, cache=tmp_path / "other")
    missing = {"tiny": {"url": base + "none.keras", "sha256": sha}}
    with pytest.raises(InputError, match="cannot download 'tiny'"):
        registry.fetch_model("tiny", registry=missing, cache=tmp_path / "other")


def test_a_model_published_without_a_sidecar_is_fetched_alone(tmp_path):
    import keras
    folder = tmp_path / "mirror"
    folder.mkdir()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.save(folder / "bare.keras")  # keras' own save: no sidecar
    sha = hashlib.sha256((folder / "bare.keras").read_bytes()).hexdigest()
    entry = {"url": (folder / "bare.keras").as_uri(), "sha256": sha}
    path = registry.fetch_model("bare", registry={"bare": entry}, cache=tmp_path / "c")
    assert path.is_file() and not path.with_suffix(".json").exists()
    # a sidecar the entry lists must be there
    entry["sidecar_url"] = (folder / "bare.json").as_uri()
    with pytest.raises(InputError, match="cannot download 'bare'"):
        registry.fetch_model("bare", registry={"bare": entry}, cache=tmp_path / "c")


def test_quiet_fetch_logs_nothing(server, tmp_path):
    # --quiet: neither a progress bar nor pooch's "Downloading data from ..." line
    import logging

    import pooch
    root, url = server
    entry = registry.registry_entry(root / "tiny.keras", base_url=url)
    logger = pooch.get_logger()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        registry.fetch_model("tiny", registry={"tiny": entry}, cache=tmp_path / "c")
        assert records == []
        assert logger.level == logging.INFO  # restored afterwards
        registry.fetch_model("tiny", registry={"tiny": entry}, cache=tmp_path / "d",
                             progress=True)
        assert any("Downloading" in r.getMessage() for r in records), records  # told
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

"""Tests of deepshadows_lib.provenance and the sidecar that save_model / load_model use."""

import hashlib
import json

import numpy as np
import pytest

from deepshadows_lib import provenance, training
from deepshadows_lib.errors import InputError
from deepshadows_lib.models import build_deepshadows

pytestmark = pytest.mark.tf  # builds or runs TensorFlow models


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "m.keras"
    split = {"train": np.arange(0, 6), "validation": np.arange(6, 8),
             "test": np.arange(8, 10), "kind": "random"}
    info = provenance.make_provenance(recipe="plus", profile="smoke",
                                      data={"source": "x.zarr", "sha256": "ab" * 32,
                                            "simulated": True},
                                      split=split, metrics={"test": {"accuracy": 0.9}},
                                      temperature=1.7, tta=True, n_members=1)
    training.save_model(build_deepshadows(compile=False), path, provenance=info)
    return path


def test_sidecar_holds_hash_and_provenance(saved):
    side = json.loads(saved.with_suffix(".json").read_text())
    assert side["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert side["model_file"] == "m.keras" and side["format"] == provenance.FORMAT
    assert side["recipe"] == "plus" and side["profile"] == "smoke"
    assert side["temperature"] == 1.7 and side["tta"] is True
    assert side["data"]["sha256"] == "ab" * 32
    assert side["split"]["n_train"] == 6 and side["split"]["n_test"] == 2
    assert len(side["split"]["sha256"]) == 64
    assert side["metrics"]["test"]["accuracy"] == 0.9
    assert "tensorflow" in side["library_versions"] or "tensorflow-cpu" in \
        side["library_versions"]


def test_split_hash_changes_with_the_split():
    a = provenance.split_summary({"train": [0, 1], "validation": [2], "test": [3]})
    b = provenance.split_summary({"train": [0, 2], "validation": [1], "test": [3]})
    assert a["sha256"] != b["sha256"] and a["n_train"] == b["n_train"] == 2


def test_a_raw_split_is_summarised_with_the_runs_seed():
    # notebooks pass the split itself and the run's seed, which drew a random split
    split = {"train": np.arange(4), "validation": [4], "test": [5], "kind": "random"}
    info = provenance.make_provenance(split=split, seed=42)
    assert info["split"]["seed"] == 42 and info["seed"] == 42
    assert provenance.make_provenance(split=split)["split"]["seed"] is None


def test_load_model_verifies_the_sha256(saved, tmp_path):
    assert training.load_model(saved, compile=False).count_params() == 4_220_385
    bad = tmp_path / "m.keras"
    bad.write_bytes(saved.read_bytes())
    side = json.loads(saved.with_suffix(".json").read_text())
    side["sha256"] = "0" * 64
    bad.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(InputError, match="does not match its sidecar"):
        training.load_model(bad)
    training.load_model(bad, compile=False, verify=False)  # explicitly unchecked


def test_model_replaced_after_saving_is_refused(saved, tmp_path):
    import shutil
    target = tmp_path / "r.keras"
    shutil.copy(saved, target)
    shutil.copy(saved.with_suffix(".json"), target.with_suffix(".json"))
    other = tmp_path / "other.keras"
    training.save_model(build_deepshadows(compile=False, head="gap"), other)
    shutil.copy(other, target)  # a different model under the old sidecar
    with pytest.raises(InputError, match="r.keras"):
        training.load_model(target)


@pytest.mark.parametrize("damage", ["truncated", "byte flipped"])
def test_a_damaged_download_is_refused_by_its_sha256(saved, tmp_path, damage):
    # a cut-off download is no zip archive any more: the SHA-256 says what happened
    import shutil
    target = tmp_path / "d.keras"
    data = bytearray(saved.read_bytes())
    if damage == "truncated":
        data = data[:len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    shutil.copy(saved.with_suffix(".json"), target.with_suffix(".json"))
    with pytest.raises(InputError, match=r"d.keras: model file does not match its sidecar "
                                         r"d.json \(SHA-256"):
        training.load_model(target)


def test_default_sidecar_is_the_papers_recipe(tmp_path):
    path = training.save_model(build_deepshadows(compile=False), tmp_path / "p.keras")
    side = provenance.read_sidecar(path)
    assert side["recipe"] == "paper" and side["temperature"] == 1.0
    assert side["tta"] is False and side["n_members"] == 1


def test_broken_sidecar_is_one_clear_error(saved, tmp_path):
    import shutil
    target = tmp_path / "b.keras"
    shutil.copy(saved, target)
    target.with_suffix(".json").write_text("{not json")
    with pytest.raises(InputError, match="b.json"):
        training.load_model(target)


@pytest.mark.parametrize("field, value", [("temperature", 9.5), ("tta", False),
                                          ("metrics", {"test": {"accuracy": 0.99}})])
def test_edited_sidecar_is_refused_naming_it(saved, tmp_path, field, value):
    # the calibration and the record live in the sidecar: an edit must not pass silently
    import shutil
    target = tmp_path / "e.keras"
    shutil.copy(saved, target)
    side = json.loads(saved.with_suffix(".json").read_text())
    assert side["content_sha256"] == provenance.content_sha256(side)
    side[field] = value
    target.with_suffix(".json").write_text(json.dumps(side, indent=2))
    with pytest.raises(InputError, match=r"e\.json.*edited") as exc:
        training.load_model(target)
    assert "\n" not in str(exc.value)
    # rewriting the sidecar through the library records the change and passes again
    provenance.write_sidecar(target, {k: v for k, v in side.items()
                                      if k not in ("sha256", "content_sha256")})
    assert provenance.read_sidecar(target)[field] == value
    training.load_model(target, compile=False)


def test_sidecar_without_a_content_hash_still_loads(saved, tmp_path):
    # sidecars written before the content hash existed are read as they are
    import shutil
    target = tmp_path / "old.keras"
    shutil.copy(saved, target)
    side = json.loads(saved.with_suffix(".json").read_text())
    del side["content_sha256"]
    target.with_suffix(".json").write_text(json.dumps(side))
    training.load_model(target, compile=False)

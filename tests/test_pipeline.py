"""Tests of deepshadows_lib.pipeline: configuration, data for the notebooks, output checks."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepshadows_lib import pipeline
from deepshadows_lib.errors import InputError
from deepshadows_lib.store import open_store, write_store


def test_configure_overrides_the_profile(tmp_path):
    cfg = pipeline.configure(profile="smoke", n_per_class=12, epochs=1, seed=5,
                             build_dir=tmp_path / "b", figures_dir=tmp_path / "f")
    assert cfg.profile.n_per_class == 12 and cfg.profile.epochs == 1
    assert cfg.profile.name == "smoke" and cfg.simulated and cfg.seed == 5
    assert cfg.des_store == tmp_path / "b" / "des.zarr"
    with pytest.raises(InputError, match="synthetic"):
        pipeline.configure(data=str(tmp_path / "nothing.zarr"), build_dir=tmp_path / "b")


def _labelled_store(path, n_per_class=20):
    names = ["lsbg", "artifact2", "artifact1"] * n_per_class
    cat = pd.DataFrame({"ra": np.linspace(10, 20, len(names)), "dec": np.zeros(len(names)),
                        "class_name": names, "simulated": True})
    cat["label"] = (cat["class_name"] == "lsbg").astype(int)
    imgs = np.arange(len(names), dtype=np.uint8)[:, None, None, None] * np.ones(
        (1, 64, 64, 3), np.uint8)
    write_store(path, imgs, cat, attrs={"simulated": True})
    return open_store(path, lazy=True)


def test_load_problem_binary_and_three_class(tmp_path):
    store = _labelled_store(tmp_path / "s")
    binary = pipeline.load_problem(store, classes=("lsbg", "artifact2"), seed=1)
    assert len(binary.labels) == 40 and binary.labels.sum() == 20
    # images follow their catalog rows (pixel value = original row number)
    rows = np.flatnonzero(store.catalog["class_name"].isin(["lsbg", "artifact2"]))
    assert np.array_equal(binary.images[:, 0, 0, 0], rows.astype(np.uint8))
    assert binary.split["kind"] == "random"
    three = pipeline.load_problem(store, classes=("lsbg", "artifact2", "artifact1"), seed=1)
    assert sorted(np.unique(three.labels)) == [0, 1, 2]
    assert (three.labels[three.catalog["class_name"] == "artifact1"] == 2).all()
    t1 = pipeline.data_table({"binary": binary, "three-class": three})
    assert t1.loc[("binary", "train"), "objects"] == 30
    assert t1.loc[("binary", "train"), "objects (paper)"] == 30000
    ex = pipeline.example_images(binary, per_class=3, seed=0)
    assert set(ex) == {0, 1} and ex[1].shape == (3, 64, 64, 3)


def test_start_sets_up_a_notebook(tmp_path):
    cfg, stores, three, report = pipeline.start(
        "05_three_class", classes=("lsbg", "artifact2", "artifact1"), profile="smoke",
        n_per_class=6, n_hsc_per_class=3, seed=4, build_dir=tmp_path / "b",
        figures_dir=tmp_path / "f")
    assert cfg.seed == 4 and cfg.profile.n_per_class == 6
    assert set(stores) == {"des", "hsc"} and len(stores["hsc"].catalog) == 6
    # the problem is load_problem's on the DES store, the reporter the notebook's
    ref = pipeline.load_problem(stores["des"], classes=("lsbg", "artifact2", "artifact1"),
                                seed=4)
    assert np.array_equal(three.images, ref.images) and np.array_equal(three.labels, ref.labels)
    assert sorted(np.unique(three.labels)) == [0, 1, 2]
    assert report.notebook == "05_three_class" and report.simulated


def test_check_outputs_reports_missing_and_blank(tmp_path):
    with pytest.raises(InputError, match="fig1_examples.png .*is missing"):
        pipeline.check_outputs(tmp_path, notebooks=("01_file_creation",))
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(tmp_path / "fig1_examples.png")
    with pytest.raises(InputError, match="fig1_examples.png .*is blank"):
        pipeline.check_outputs(tmp_path, notebooks=("01_file_creation",))


def test_every_expected_item_has_a_notebook():
    assert set(pipeline.EXPECTED) == set(pipeline.NOTEBOOKS)
    figs = [f for v in pipeline.EXPECTED.values() for f in v["figures"]]
    for paper_fig in ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig9",
                      "figA10", "figA11"):
        assert any(f.startswith(paper_fig + "_") for f in figs), paper_fig
    tables = [t for v in pipeline.EXPECTED.values() for t in v["tables"]]
    for k in range(1, 7):
        assert any(t.startswith(f"table{k}_") for t in tables)


def test_check_outputs_wants_a_complete_verdict_table(tmp_path):
    with pytest.raises(InputError, match="conclusions.csv"):
        pipeline.check_outputs(tmp_path)
    # not asked for when the notebooks that make it are not all checked
    with pytest.raises(InputError) as err:
        pipeline.check_outputs(tmp_path, notebooks=("02_deepshadows",))
    assert "conclusions" not in str(err.value)


def test_pipeline_re_exports_the_notebook_package():
    from deepshadows_lib import notebook
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is getattr(notebook, name), name


def test_example_panels_and_type1_rows(tmp_path):
    from deepshadows_lib import notebook
    store = _labelled_store(tmp_path / "s")
    binary = notebook.load_problem(store, classes=("lsbg", "artifact2"), seed=1)
    three = notebook.load_problem(store, classes=("lsbg", "artifact2", "artifact1"), seed=1)
    ex = notebook.example_images(binary, per_class=3, seed=2)
    panels = notebook.example_panels(binary, per_class=3, seed=2)
    assert list(panels) == ["LSBGs", "Artifacts"]
    assert np.array_equal(panels["LSBGs"], ex[1]) and np.array_equal(panels["Artifacts"], ex[0])
    assert list(notebook.example_panels(three, per_class=2, seed=0)) == ["LSBGs", "Type-2",
                                                                         "Type-1"]
    rows = notebook.type1_examples(three, n=6, seed=3)
    ref = notebook.example_images(three, per_class=6, seed=3)[2]
    assert np.array_equal(np.concatenate([rows["Type-1"], rows["artifacts"]]), ref)
    assert len(rows["Type-1"]) == 3
    # every type-1 example is a type-1 artifact (pixel value = original catalog row)
    t1_rows = set(np.flatnonzero(store.catalog["class_name"] == "artifact1"))
    assert {int(v) for v in ref[:, 0, 0, 0]} <= t1_rows
    assert notebook.split_sizes(binary) == {k: len(v) for k, v in binary.split.items()
                                            if k != "kind"}
    assert notebook.other_head("flatten") == "gap" and notebook.other_head("gap") == "flatten"

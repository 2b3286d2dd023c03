"""Tests of deepshadows_lib.manifest: files and provenance of figures and tables."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from PIL import Image

from deepshadows_lib import manifest, plots
from deepshadows_lib.manifest import figure_panels, portable_path


def _fig():
    with plots.style() as plt:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
    return fig


def test_figure_and_table_are_saved_with_provenance(tmp_path):
    rep = manifest.Reporter(notebook="nb", figures_dir=tmp_path, parameters={"epochs": 3},
                            data={"source": "x.zarr", "sha256": "ab" * 32, "simulated": True},
                            seed=7)
    rep.figure(_fig(), "fig_x", caption="a figure")
    rep.table(pd.DataFrame({"a": [1.0, 0.5]}, index=["m1", "m2"]), "tab_x")
    assert Image.open(tmp_path / "fig_x.png").size[0] > 100
    assert (tmp_path / "fig_x.pdf").read_bytes().startswith(b"%PDF")
    assert pd.read_csv(tmp_path / "tab_x.csv", index_col=0).loc["m2", "a"] == 0.5
    md = (tmp_path / "tab_x.md").read_text()
    assert "| m1 | 1 |" in md and "simulated" in md
    m = json.loads((tmp_path / "MANIFEST.json").read_text())
    e = m["items"]["fig_x"]
    assert e["notebook"] == "nb" and e["seed"] == 7 and e["simulated"] is True
    assert e["parameters"] == {"epochs": 3}
    assert e["data"]["sha256"] == "ab" * 32
    assert e["files"] == ["fig_x.png", "fig_x.pdf"]
    assert "numpy" in e["versions"] and "python" in e["versions"]
    assert set(m["items"]) == {"fig_x", "tab_x"}
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_simulated_run_stamps_unstamped_figures(tmp_path):
    rep = manifest.Reporter(notebook="nb", figures_dir=tmp_path, simulated=True)
    fig = rep.figure(_fig(), "f")
    assert any(t.get_text() == plots.SIMULATED_TEXT for t in fig.texts)
    real = manifest.Reporter(notebook="nb", figures_dir=tmp_path, simulated=False)
    fig = real.figure(_fig(), "g")
    assert not fig.texts
    assert json.loads((tmp_path / "MANIFEST.json").read_text())["items"]["g"]["simulated"] is False


def test_store_is_described_by_its_hash(tmp_path):
    from deepshadows_lib.store import open_store, write_store
    imgs = np.zeros((2, 64, 64, 3), np.uint8)
    write_store(tmp_path / "s", imgs, pd.DataFrame({"ra": [1.0, 2.0], "dec": [0.0, 0.0]}),
                attrs={"simulated": True, "survey": "des"})
    s = open_store(tmp_path / "s", lazy=True)
    rep = manifest.Reporter(notebook="nb", figures_dir=tmp_path / "f", data=s)
    assert rep.data["sha256"] == s.attrs["content_sha256"] and rep.simulated


def test_table_markdown_formats():
    df = pd.DataFrame({("acc", "this run"): [0.91234], ("acc", "paper"): [np.nan]},
                      index=pd.Index(["CNN"], name="model"))
    md = manifest.table_markdown(df)
    assert "| model | acc / this run | acc / paper |" in md
    assert "| CNN | 0.912 |  |" in md


ROOT = Path(__file__).resolve().parent.parent


def test_portable_path_never_keeps_this_machines_path(tmp_path):
    assert portable_path(ROOT / "build" / "smoke") == "build/smoke"
    assert portable_path(tmp_path / "b" / "des.zarr", build_dir=tmp_path / "b") \
        == "<build>/des.zarr"
    assert portable_path("/data/survey/des.zarr") == "<external>/des.zarr"
    assert portable_path("Datasets/Baseline_*.csv") == "Datasets/Baseline_*.csv"


def _empty_panel_figure():
    with plots.style() as plt:
        fig, (a, b) = plt.subplots(1, 2)
        a.plot([0, 1], [0, 1])
        b.set_title("nothing here")
    return fig


def test_figure_panels_finds_an_empty_panel():
    assert figure_panels(_empty_panel_figure()) == {"panels": 2,
                                                             "empty": ["nothing here"]}
    fig = plots.draw_confusion_matrix(np.array([[3, 1], [0, 4]]))
    assert figure_panels(fig) == {"panels": 1, "empty": []}

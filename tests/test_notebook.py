"""Tests of deepshadows_lib.notebook: cell provenance of the manifest, --explain, and the
smoke checks (empty panels, impossible numbers in tables)."""

import copy
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import nbformat
import numpy as np
import pandas as pd
import pytest

from deepshadows_lib import manifest, notebook, plots
from deepshadows_lib.errors import InputError
from deepshadows_lib.notebook import cells, checks, runner

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
NB = ROOT / "notebooks"


def _strings(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


# --------------------------------------------------------------------------- provenance
def test_every_committed_manifest_item_resolves_to_its_cell():
    items = manifest.read_manifest(FIGURES)["items"]
    assert len(items) >= 30
    for name, entry in items.items():
        cell = entry["cell"]
        py = ROOT / cell["source"]
        assert py.exists() and py.name == f"{entry['notebook']}.py", name
        lines = py.read_text().splitlines()
        assert 1 <= cell["line"] <= len(lines), name
        # the recorded line names the item (or calls the function that saves it)
        assert f'"{name}"' in lines[cell["line"] - 1] or \
            "report_verdicts" in lines[cell["line"] - 1], (name, lines[cell["line"] - 1])
        # the tag and the id exist together on one cell of the committed .ipynb (read with
        # nbformat, independently of the module under test)
        nb = nbformat.read(ROOT / cell["notebook"], as_version=4)
        tagged = [c for c in nb.cells if cell["tag"] in c.metadata.get("tags", [])]
        assert len(tagged) == 1, name
        assert tagged[0].get("id") == cell["id"], name
        assert f'"{name}"' in tagged[0].source or "report_verdicts" in tagged[0].source
    assert notebook.check_manifest(FIGURES) == []


def test_committed_manifest_names_no_absolute_path():
    data = json.loads((FIGURES / "MANIFEST.json").read_text())
    absolute = [s for s in _strings(data) if s.startswith("/") or re.match(r"[A-Z]:\\", s)]
    assert absolute == []


def test_check_item_reports_a_wrong_line_tag_id_or_file():
    good = manifest.read_manifest(FIGURES)["items"]["fig4_roc"]
    assert cells.check_item("fig4_roc", good) == []
    for change, words in ((("line", 1), "does not save"), (("tag", "fig5_probabilities"),
                                                             "not tagged"),
                          (("id", "00000000"), "cell id"),
                          (("source", "notebooks/nothing.py"), "does not exist"),
                          (("line", 10 ** 6), "outside")):
        bad = copy.deepcopy(good)
        bad["cell"][change[0]] = change[1]
        problems = cells.check_item("fig4_roc", bad)
        assert problems and words in " ".join(problems), (change, problems)
    # another item's cell does not save this one
    other = copy.deepcopy(manifest.read_manifest(FIGURES)["items"]["fig5_probabilities"])
    assert "does not save" in " ".join(cells.check_item("fig4_roc", other))


def test_every_saving_cell_is_tagged_and_tags_are_unique():
    for name in runner.NOTEBOOKS:
        parsed = cells.read_cells(NB / f"{name}.py")
        tags = [t for c in parsed for t in c.tags if t != "parameters"]
        assert len(tags) == len(set(tags)), name
        for c in parsed:
            if c.kind == "code" and ("report." in c.source or "report_verdicts" in c.source):
                assert c.tags, (name, c.first_line)


def test_upgrade_turns_an_old_entry_into_a_resolving_one(tmp_path):
    entry = {"kind": "figure", "files": ["fig4_roc.png", "fig4_roc.pdf"],
             "notebook": "02_deepshadows", "cell": {"index": 17, "id": "003e5f02",
                                                    "execution_count": 11},
             "parameters": {"build_dir": "/somewhere/else/build/default", "seed": 42},
             "data": {"source": "/somewhere/else/build/default/des.zarr", "simulated": True}}
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"items": {"fig4_roc": entry}}))
    assert notebook.upgrade_manifest(tmp_path) == []
    new = manifest.read_manifest(tmp_path)["items"]["fig4_roc"]
    assert cells.check_item("fig4_roc", new) == []
    assert new["cell"]["execution_count"] == 11 and "index" not in new["cell"]
    assert new["parameters"]["build_dir"] == "build/default"
    assert new["data"]["source"] == "build/default/des.zarr"


def test_runner_records_the_cell_of_the_executed_notebook(tmp_path):
    # an executed notebook as papermill leaves it: an injected cell shifts every index
    src = nbformat.read(NB / "02_deepshadows.ipynb", as_version=4)
    executed = copy.deepcopy(src)
    executed.cells.insert(3, nbformat.v4.new_code_cell("profile = 'smoke'",
                                                       metadata={"tags": ["injected-parameters"]}))
    roc = next(c for c in executed.cells if "fig4_roc" in c.metadata.get("tags", []))
    roc.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                          text=f"{manifest.MARKER} fig4_roc: fig4_roc.png\n")]
    roc.execution_count = 11
    (tmp_path / "MANIFEST.json").write_text(json.dumps(
        {"items": {"fig4_roc": {"notebook": "02_deepshadows", "kind": "figure"}}}))
    runner._record_cells(executed, tmp_path, "02_deepshadows", NB / "02_deepshadows.py")
    cell = manifest.read_manifest(tmp_path)["items"]["fig4_roc"]["cell"]
    assert cell["tag"] == "fig4_roc" and cell["id"] == roc.id
    assert cell["source"] == "notebooks/02_deepshadows.py"
    assert cell["execution_count"] == 11
    assert '"fig4_roc"' in (NB / "02_deepshadows.py").read_text().splitlines()[cell["line"] - 1]


def test_explain_prints_notebook_cell_lines_and_library_calls():
    text = notebook.explain("fig4_roc", figures_dir=FIGURES)
    cell = manifest.read_manifest(FIGURES)["items"]["fig4_roc"]["cell"]
    assert "notebooks/02_deepshadows.ipynb" in text and "notebooks/02_deepshadows.py" in text
    assert f"'{cell['tag']}'" in text and cell["id"] in text
    source = (NB / "02_deepshadows.py").read_text().splitlines()
    assert f"{cell['line']:5d} | {source[cell['line'] - 1]}" in text
    assert "deepshadows_lib.plots.draw_roc_curves" in text
    assert "deepshadows_lib.tables.roc_curves_with_bands" in text
    with pytest.raises(InputError, match="no item 'fig99'"):
        notebook.explain("fig99", figures_dir=FIGURES)


@pytest.mark.parametrize("typo, near", [("fig4_rco", "fig4_roc"), ("Fig4_ROC", "fig4_roc"),
                                         ("fig5_probablities", "fig5_probabilities"),
                                         ("fig4", "fig4_confusion or fig4_roc")])
def test_explain_of_a_typo_names_the_near_items(typo, near):
    with pytest.raises(InputError, match=f"did you mean {near}\\?"):
        notebook.explain(typo, figures_dir=FIGURES)
    with pytest.raises(InputError) as info:
        notebook.explain("xyz", figures_dir=FIGURES)
    assert "did you mean" not in str(info.value) and "fig4_roc" in str(info.value)


def test_explain_without_a_manifest_says_to_make_the_figures(tmp_path):
    with pytest.raises(InputError, match="make paper-figures"):
        notebook.explain("fig4_roc", figures_dir=tmp_path)


def test_explain_takes_a_file_name_for_its_item():
    assert notebook.explain("fig4_roc.png", figures_dir=FIGURES) == \
        notebook.explain("fig4_roc", figures_dir=FIGURES)
    assert notebook.explain("figures/table2_metrics.csv", figures_dir=FIGURES) == \
        notebook.explain("table2_metrics", figures_dir=FIGURES)


def test_library_calls_lists_module_functions_of_the_library_only():
    src = "x = plots.draw_roc_curves(a)\ny = np.mean(x)\nz = tables.table2(evaluate.roc(a))\n"
    assert cells.library_calls(src) == ["deepshadows_lib.plots.draw_roc_curves",
                                        "deepshadows_lib.tables.table2",
                                        "deepshadows_lib.evaluate.roc"]


def test_cli_explain(capsys):
    from deepshadows_lib import cli
    assert cli.main(["figures", "--explain", "table2_metrics"]) == 0
    out = capsys.readouterr().out
    assert "notebooks/02_deepshadows.py" in out and "deepshadows_lib.tables.table2" in out


# --------------------------------------------------------------------------- smoke checks
def _empty_panel_figure():
    with plots.style() as plt:
        fig, (a, b) = plt.subplots(1, 2)
        a.plot([0, 1], [0, 1])
        b.set_title("nothing here")
    return fig


def _write_expected(report, notebook_name, *, figure=None, table=None):
    for item in runner.EXPECTED[notebook_name]["figures"]:
        report.figure(figure if figure is not None and item == "fig1_examples" else
                      plots.draw_confusion_matrix(np.array([[3, 1], [0, 4]])), item)
    for item in runner.EXPECTED[notebook_name]["tables"]:
        report.table(table if table is not None and item == "table1_data" else
                     pd.DataFrame({"objects": [3, 4]}, index=["a", "b"]), item)


def test_check_outputs_fails_on_an_empty_panel(tmp_path):
    report = manifest.Reporter(notebook="01_file_creation", figures_dir=tmp_path)
    _write_expected(report, "01_file_creation")
    notebook.check_outputs(tmp_path, notebooks=("01_file_creation",))
    _write_expected(report, "01_file_creation", figure=_empty_panel_figure())
    with pytest.raises(InputError, match=r"fig1_examples .*empty panel \(nothing here\)"):
        notebook.check_outputs(tmp_path, notebooks=("01_file_creation",))


@pytest.mark.parametrize("bad, words", [
    (pd.DataFrame({"accuracy / this run": [0.9, 1.3]}, index=["SVM", "CNN"]),
     "1.3 is outside [0, 1]"),
    (pd.DataFrame({"auc": [np.nan, 0.9]}, index=["SVM", "CNN"]), "missing value (NaN)"),
    (pd.DataFrame({"this run": [0.8, -0.1]}, index=["overall accuracy", "recall lsbg"]),
     "-0.1 is outside [0, 1]"),
    (pd.DataFrame({"objects": [10, -2]}, index=["train", "test"]), "count -2 is negative"),
])
def test_check_outputs_fails_on_impossible_numbers_in_a_table(tmp_path, bad, words):
    report = manifest.Reporter(notebook="01_file_creation", figures_dir=tmp_path)
    _write_expected(report, "01_file_creation", table=bad)
    with pytest.raises(InputError) as info:
        notebook.check_outputs(tmp_path, notebooks=("01_file_creation",))
    assert "table1_data.csv" in str(info.value) and words in str(info.value)


def test_table_checks_pass_the_papers_gaps_and_the_committed_tables():
    # the paper's columns may be empty; flags and text are not numbers
    ok = pd.DataFrame({"accuracy / this run": [0.9, 0.8], "accuracy / paper": [0.92, np.nan],
                       "met": [True, False], "note": [np.nan, np.nan]},
                      index=["DeepShadows", "plus"])
    assert checks.table_problems(ok) == []
    for csv in sorted(FIGURES.glob("*.csv")):
        assert checks.table_file_problems(csv) == [], csv.name


def test_image_problems_blank_and_small(tmp_path):
    from PIL import Image
    Image.new("RGB", (300, 300), "white").save(tmp_path / "blank.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 300, 3), np.uint8)).save(
        tmp_path / "small.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert checks.image_problems(tmp_path / "blank.png") == ["is blank"]
    assert "too small" in checks.image_problems(tmp_path / "small.png")[0]
    assert "does not open" in checks.image_problems(tmp_path / "broken.png")[0]


def test_declared_parameters_are_the_names_of_the_tagged_cell():
    import nbformat
    from deepshadows_lib.notebook import runner
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("profile = 'smoke'  # comment\nscheduler = None\n",
                                          metadata={"tags": ["parameters"]})]
    assert runner.declared_parameters(nb) == {"profile", "scheduler"}
    nb.cells[1].metadata["tags"] = []
    assert runner.declared_parameters(nb) == set()


def test_the_notebooks_with_independent_trainings_and_the_cli_take_a_scheduler():
    from deepshadows_lib.cli import build_parser
    from deepshadows_lib.notebook import runner
    args = build_parser().parse_args(["figures", "--scheduler", "tcp://host:8786"])
    assert args.scheduler == "tcp://host:8786"
    for name in ("03_uncertainty", "06_beyond"):
        assert "scheduler" in runner.declared_parameters(runner._to_notebook(name))
    assert "scheduler" not in runner.declared_parameters(runner._to_notebook("01_file_creation"))


def test_run_id_depends_on_the_parameters_not_on_where_the_build_lives(tmp_path):
    a = notebook.configure(profile="smoke", build_dir=tmp_path / "a", figures_dir=tmp_path)
    b = notebook.configure(profile="smoke", build_dir=tmp_path / "b", figures_dir=tmp_path)
    c = notebook.configure(profile="smoke", build_dir=tmp_path / "a", figures_dir=tmp_path,
                           seed=7)
    d = notebook.configure(profile="default", build_dir=tmp_path / "a", figures_dir=tmp_path)
    assert a.run_id() == b.run_id()
    assert len({a.run_id(), c.run_id(), d.run_id()}) == 3

"""The five paper notebooks: paired with their .ipynb, and executed in the smoke profile.

The execution tests run every notebook through papermill in order (as `make
paper-figures PROFILE=smoke` does), into a temporary build and figures directory, then
check each expected figure (exists, opens as an image, is not blank), each table, and
the manifest's provenance.
"""

import ast
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from deepshadows_lib import notebook
from deepshadows_lib.notebook import cells

ROOT = Path(__file__).resolve().parent.parent
NB = ROOT / "notebooks"


@pytest.mark.parametrize("name", notebook.NOTEBOOKS)
def test_pair_in_sync_and_without_outputs(name):
    import jupytext
    py, ipynb = NB / f"{name}.py", NB / f"{name}.ipynb"
    assert py.exists() and ipynb.exists(), name
    a, b = jupytext.read(py), jupytext.read(ipynb)
    assert [c.cell_type for c in a.cells] == [c.cell_type for c in b.cells], \
        f"{name}: .py and .ipynb differ; run `make sync`"
    for ca, cb in zip(a.cells, b.cells):
        assert ca.source.strip() == cb.source.strip(), \
            f"{name}: cell differs between .py and .ipynb; run `make sync`"
    raw = nbformat.read(ipynb, as_version=4)
    for cell in raw.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, \
                f"{name}.ipynb is committed with outputs"


@pytest.mark.parametrize("name", notebook.NOTEBOOKS)
def test_colab_badge_install_cell_and_parameters(name):
    nb = nbformat.read(NB / f"{name}.ipynb", as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert "colab.research.google.com/assets/colab-badge.svg" in first.source
    assert f"notebooks/{name}.ipynb" in first.source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert '"google.colab" in sys.modules' in code[0].source  # installs on Colab only
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for key in ("profile", "data", "n_per_class", "epochs", "seed", "figures_dir"):
        assert re.search(rf"^{key} = ", params[0].source, re.M), key


def _repository():
    """``[project.urls] Repository`` of pyproject.toml (read without tomllib: 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    urls = re.search(r"^\[project\.urls\]\n(.*?)(?=^\[)", text, re.M | re.S).group(1)
    return re.search(r'^Repository\s*=\s*"([^"]+)"', urls, re.M).group(1).rstrip("/")


@pytest.mark.parametrize("name", notebook.NOTEBOOKS)
def test_colab_badge_and_install_cell_use_the_repository_setting(name):
    repo = _repository()
    assert repo.startswith("https://github.com/"), repo
    slug = repo.removeprefix("https://github.com/")
    nb = nbformat.read(NB / f"{name}.ipynb", as_version=4)
    badge = nb.cells[0].source
    install = [c for c in nb.cells if c.cell_type == "code"][0].source
    assert (f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/"
            f"{name}.ipynb") in badge
    assert f'"{repo}"' in install
    # no other address left behind in either cell
    for text in (badge, install):
        for found in re.findall(r"github(?:\.com)?/([\w.-]+/[\w.-]+)", text):
            assert found.removesuffix(".git") == slug, (name, found, slug)


@pytest.mark.parametrize("name", notebook.NOTEBOOKS)
def test_cells_call_the_library(name):
    # A notebook cell is a call and a look: no function or class definitions, no loops
    # of training logic hidden in a notebook.
    nb = nbformat.read(NB / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not re.search(r"^\s*(def|class) ", cell.source, re.M), cell.source[:80]


def _computations(source):
    """Loops, comprehensions, lambdas and conditional expressions (outside f-strings)."""
    tree = ast.parse(source)
    in_fstring = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr)
                  for n in ast.walk(f)}
    kinds = (ast.For, ast.While, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp,
             ast.Lambda, ast.IfExp)
    return [type(n).__name__ for n in ast.walk(tree)
            if isinstance(n, kinds) and id(n) not in in_fstring]


def test_computation_check_can_fail():
    assert _computations("x = {k: v for k, v in d.items()}") == ["DictComp"]
    assert _computations("x = a if b else c") == ["IfExp"]
    assert _computations("print(f\"{'a' if b else 'c'}\")") == []


@pytest.mark.parametrize("name", notebook.NOTEBOOKS)
def test_cells_only_call_and_show(name):
    # score dictionaries, thresholds, slicing loops live in the library
    for cell in cells.read_cells(NB / f"{name}.py"):
        if cell.kind == "code":
            assert _computations(cell.source) == [], (name, cell.first_line)


# smoke_run (tests/conftest.py): the five notebooks run by papermill in the smoke profile,
# shared with the JupyterLab test (tests/test_lab.py).


@pytest.mark.slow
@pytest.mark.notebooks
def test_smoke_run_makes_every_figure_and_table(smoke_run):
    build, figures = smoke_run
    checked = notebook.check_outputs(figures)
    assert len(checked) >= 2 * sum(len(v["figures"]) + len(v["tables"])
                                   for v in notebook.EXPECTED.values())
    for name in notebook.NOTEBOOKS:
        assert (build / f"{name}.ipynb").exists()


@pytest.mark.slow
@pytest.mark.notebooks
def test_smoke_run_manifest_provenance(smoke_run):
    _, figures = smoke_run
    manifest = json.loads((figures / "MANIFEST.json").read_text())
    for nb, expected in notebook.EXPECTED.items():
        for item in expected["figures"] + expected["tables"]:
            entry = manifest["items"][item]
            assert entry["notebook"] == nb
            assert cells.check_item(item, entry) == [], item  # .py line, tag, .ipynb id
            assert not str(entry["parameters"]["build_dir"]).startswith("/")
            assert entry["parameters"]["profile"]["name"] == "smoke"
            assert entry["seed"] == 42
            assert "numpy" in entry["versions"] and "tensorflow-cpu" in entry["versions"] \
                or "tensorflow" in entry["versions"]
            assert "git_commit" in entry
            if item not in ("data_sky_distribution", "fig2_architecture"):  # no simulated data
                assert entry["simulated"] is True
                assert re.fullmatch(r"[0-9a-f]{64}", str(entry["data"].get("sha256", [""])[0]
                                    if isinstance(entry["data"].get("sha256"), list)
                                    else entry["data"].get("sha256")))
            else:
                assert entry["simulated"] is False


@pytest.mark.slow
@pytest.mark.notebooks
def test_smoke_tables_show_the_papers_numbers(smoke_run):
    _, figures = smoke_run
    t2 = (figures / "table2_metrics.md").read_text()
    assert "0.920" in t2 and "0.819" in t2 and "simulated" in t2
    t6 = (figures / "table6_hsc_transfer.md").read_text()
    assert "0.876" in t6


@pytest.mark.slow
@pytest.mark.notebooks
def test_simulated_figures_carry_the_stamp(smoke_run):
    # The stamp is a dark red box at the top of the figure: compare the top strip of a
    # simulated figure with the real-data sky map, which has none.
    from PIL import Image
    _, figures = smoke_run

    def red_pixels(path):
        arr = np.asarray(Image.open(path).convert("RGB")).astype(int)
        top = arr[: max(8, arr.shape[0] // 12)]
        return int(((top[..., 0] > 120) & (top[..., 1] < 60) & (top[..., 2] < 60)).sum())

    assert red_pixels(figures / "fig4_roc.png") > 50
    assert red_pixels(figures / "data_sky_distribution.png") == 0


@pytest.mark.slow
@pytest.mark.notebooks
def test_failing_notebook_is_reported_by_name_and_cell(tmp_path):
    src = tmp_path / "broken.py"
    src.write_text("# %% tags=[\"parameters\"]\nprofile = 'smoke'\n\n# %%\nx = 1\n\n"
                   "# %%\nraise ValueError('boom in the third cell')\n")
    with pytest.raises(notebook.NotebookFailed) as info:
        notebook.run_notebook(str(src), profile="smoke", build_dir=tmp_path / "b",
                              figures_dir=tmp_path / "f", progress=False)
    msg = str(info.value)
    assert "broken" in msg and "cell" in msg and "boom in the third cell" in msg


@pytest.mark.slow
@pytest.mark.notebooks
def test_smoke_run_saves_plus_with_its_provenance(smoke_run):
    from deepshadows_lib import predict, provenance
    build, _ = smoke_run
    side = provenance.verify_model_file(build / "plus.keras")
    assert side["recipe"] == "plus" and side["tta"] is True and side["n_members"] == 2
    assert side["profile"] == "smoke" and side["data"]["simulated"] is True
    assert side["split"]["n_test"] > 0 and 0 <= side["metrics"]["test"]["accuracy"] <= 1
    pred = predict.Predictor.from_path(build / "plus.keras")
    assert pred.temperature == pytest.approx(side["temperature"]) and pred.n_views == 8


@pytest.mark.slow
@pytest.mark.notebooks
def test_smoke_run_writes_a_complete_verdict_table(smoke_run):
    from deepshadows_lib import conclusions
    _, figures = smoke_run
    table = conclusions.check_complete(figures)
    assert list(table.index) == [c.claim for c in conclusions.CLAIMS.values()]
    assert set(table["holds"]) <= {"yes", "no"}
    assert (figures / "conclusions.md").read_text().count("\n|") >= len(table) + 1

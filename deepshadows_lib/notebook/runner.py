"""Run the notebooks (the paper's five, and 06 beyond it) with papermill; check their outputs.

``make paper-figures`` calls ``deepshadows figures`` once per notebook (so that make can
skip what is up to date) and then ``deepshadows figures --check``.  The notebooks' source
is the jupytext percent-format ``notebooks/NN_name.py``; it is converted in memory (with
the cell ids of the paired ``.ipynb``) and executed by papermill into
``build/PROFILE/NN_name.ipynb`` (kept, ignored by git), with the run's parameters injected
into the cell tagged ``parameters``.  After the run, each saved item's manifest entry gets
the cell that saved it (:mod:`.cells`).
"""

import ast
import time
from pathlib import Path


from .. import conclusions
from .._io import atomic_write_json
from ..errors import InputError
from ..manifest import MANIFEST, MARKER, read_manifest
from .cells import cell_provenance
from .checks import image_problems, panel_problems, table_file_problems
from .session import NOTEBOOK_DIR

__all__ = ["NOTEBOOKS", "EXPECTED", "CONCLUSIONS", "CONCLUSION_NOTEBOOKS", "run_notebook",
           "run_all", "check_outputs", "NotebookFailed"]

NOTEBOOKS = ("01_file_creation", "02_deepshadows", "03_uncertainty", "04_gradcam",
             "05_three_class", "06_beyond")

#: What each notebook must produce in the figures directory (figures: PNG + PDF; tables:
#: CSV + Markdown).  The names follow the paper's numbering.
EXPECTED = {
    "01_file_creation": {"figures": ["fig1_examples", "data_sky_distribution",
                                     "realism_examples"],
                         "tables": ["table1_data", "realism_statistics"]},
    "02_deepshadows": {"figures": ["fig2_architecture", "fig3_training", "fig4_roc",
                                   "fig4_confusion", "fig5_probabilities", "fig7_hsc_transfer"],
                       "tables": ["table2_metrics", "table3_bootstrap", "table6_hsc_transfer"]},
    "03_uncertainty": {"figures": ["fig8_roc_uncertainty", "fig9_tpr_ratio"],
                       "tables": ["table4_random_seeds", "table5_label_noise"]},
    "04_gradcam": {"figures": ["fig6_gradcam"], "tables": []},
    "05_three_class": {"figures": ["figA10_type1_examples", "figA11_three_class"],
                       "tables": ["tableA_three_class"]},
    # beyond the paper: the augmented, calibrated ensemble "plus" (issue 16)
    "06_beyond": {"figures": ["beyond_roc", "beyond_reliability", "beyond_hsc_transfer",
                              "beyond_gradcam"],
                  "tables": ["beyond_ablation", "beyond_calibration", "beyond_uncertainty",
                             "beyond_seeds", "beyond_targets", "beyond_hsc_table"]},
}


#: The verdict table (``conclusions.csv`` and ``.md``): each of these notebooks records the
#: verdicts of its claims and rewrites the table (:mod:`deepshadows_lib.conclusions`).
CONCLUSIONS = "conclusions"
CONCLUSION_NOTEBOOKS = ("02_deepshadows", "03_uncertainty", "04_gradcam", "05_three_class")


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook and the cell."""



# --------------------------------------------------------------------------- running
def _to_notebook(name):
    src = Path(name) if str(name).endswith(".py") else NOTEBOOK_DIR / f"{name}.py"
    if not src.exists():
        raise InputError(f"no notebook {name!r}; known: {', '.join(NOTEBOOKS)}", path=src)
    # jupytext and nbformat take about a second to import: only a run pays for them
    import jupytext
    from jupytext.combine import combine_inputs_with_outputs

    nb = jupytext.read(src)
    paired = src.with_suffix(".ipynb")
    if paired.exists():
        # keep the committed cell ids, so that the manifest names cells of the .ipynb
        nb = combine_inputs_with_outputs(nb, jupytext.read(paired))
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)",
                                          "language": "python", "name": "python3"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def _record_cells(executed, figures_dir, name, source):
    """Record the cell (``.py`` line, tag and id) that saved each item in the manifest."""
    manifest = read_manifest(figures_dir)
    items = manifest.get("items", {})
    for cell in executed.cells:
        tags = [t for t in cell.get("metadata", {}).get("tags", [])
                if t not in ("parameters", "injected-parameters")]
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in str(text).splitlines():
                if not line.startswith(MARKER):
                    continue
                item = line[len(MARKER):].split(":", 1)[0].strip()
                if item in items and items[item].get("notebook") == name:
                    record = cell_provenance(source, item, tag=tags[0] if tags else None,
                                             cell_id=cell.get("id"))
                    if record is not None:
                        record["execution_count"] = cell.get("execution_count")
                    items[item]["cell"] = record
    if items:
        atomic_write_json(Path(figures_dir) / MANIFEST, manifest)


def declared_parameters(nb):
    """The names assigned in a notebook's cell tagged ``parameters``.

    Parameters
    ----------
    nb : nbformat.NotebookNode

    Returns
    -------
    set of str
        Empty when the notebook has no such cell (or it does not parse).
    """
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return set()
            return {t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
    return set()


def run_notebook(name, *, profile="default", data="synthetic", build_dir=None,
                 figures_dir=None, seed=42, parameters=None, kernel_name="python3",
                 progress=True):
    """Execute one notebook with papermill; return the path of the executed copy.

    Parameters
    ----------
    name : str
        A notebook of :data:`NOTEBOOKS` (``"02_deepshadows"``), or the path of any
        jupytext percent-format ``.py`` notebook.
    profile, data, seed : optional
        Injected into the cell tagged ``parameters``.
    build_dir, figures_dir : str or path-like, optional
        Default ``build/PROFILE`` and ``figures``.
    parameters : dict, optional
        Further parameters (e.g. ``{"n_per_class": 50}``).  Those the notebook's
        parameters cell does not declare are left out (e.g. ``scheduler``, which only the
        notebooks with independent trainings take), so one set serves every notebook.

    Raises
    ------
    NotebookFailed
        With the notebook's name, the failing cell's index and the error, in one line.
    """
    import nbformat
    import papermill as pm  # imports a kernel manager: only when a notebook runs
    root = NOTEBOOK_DIR.parent
    build = Path(build_dir) if build_dir else root / "build" / str(profile)
    figs = Path(figures_dir) if figures_dir else root / "figures"
    build.mkdir(parents=True, exist_ok=True)
    nb = _to_notebook(name)
    py = Path(name) if str(name).endswith(".py") else NOTEBOOK_DIR / f"{name}.py"
    name = Path(name).stem
    source = build / f".{name}.source.ipynb"
    nbformat.write(nb, source)
    params = {"profile": str(profile), "data": str(data), "seed": int(seed),
              "build_dir": str(build.resolve()), "figures_dir": str(figs.resolve())}
    declared = declared_parameters(nb)
    params.update({k: v for k, v in (parameters or {}).items() if not declared or k in declared})
    out = build / f"{name}.ipynb"
    partial = build / f".{name}.running.ipynb"
    start = time.time()
    try:
        pm.execute_notebook(str(source), str(partial), parameters=params,
                            kernel_name=kernel_name, cwd=str(NOTEBOOK_DIR),
                            progress_bar=progress, log_output=False)
    except pm.PapermillExecutionError as exc:
        raise NotebookFailed(f"notebook {name} failed in cell {exc.cell_index} "
                             f"(execution count {exc.exec_count}): {exc.ename}: "
                             f"{str(exc.evalue).splitlines()[0] if exc.evalue else ''} "
                             f"(executed copy: {partial})") from None
    finally:
        source.unlink(missing_ok=True)
    executed = nbformat.read(partial, as_version=4)
    executed.metadata["deepshadows"] = {"seconds": round(time.time() - start, 1),
                                        "parameters": params}
    nbformat.write(executed, partial)
    partial.replace(out)
    _record_cells(executed, figs, name, py)
    return out


def run_all(*, profile="default", data="synthetic", build_dir=None, figures_dir=None,
            seed=42, parameters=None, notebooks=NOTEBOOKS, progress=True):
    """Execute the notebooks in order and check their outputs; return seconds per notebook."""
    times = {}
    for name in notebooks:
        t = time.time()
        run_notebook(name, profile=profile, data=data, build_dir=build_dir,
                     figures_dir=figures_dir, seed=seed, parameters=parameters,
                     progress=progress)
        times[name] = round(time.time() - t, 1)
    root = NOTEBOOK_DIR.parent
    check_outputs(Path(figures_dir) if figures_dir else root / "figures", notebooks=notebooks)
    return times


def check_outputs(figures_dir, *, notebooks=NOTEBOOKS):
    """Check that every expected figure and table exists, opens, is not blank, has no
    empty panel, and holds no impossible number (:mod:`.checks`).

    Returns
    -------
    list of pathlib.Path
        The files checked.

    Raises
    ------
    InputError
        Listing every missing, unreadable, blank or wrong file, with the notebook that
        makes it.
    """
    figures_dir = Path(figures_dir)
    problems, checked = [], []
    manifest = read_manifest(figures_dir)
    manifest.setdefault("items", {})
    for nb in notebooks:
        for kind, exts in (("figures", ("png", "pdf")), ("tables", ("csv", "md"))):
            for item in EXPECTED[nb][kind]:
                for ext in exts:
                    p = figures_dir / f"{item}.{ext}"
                    checked.append(p)
                    if not p.exists() or p.stat().st_size == 0:
                        problems.append(f"{p.name} (from {nb}) is missing")
                    elif ext == "png":
                        problems += [f"{p.name} (from {nb}) {bad}" for bad in image_problems(p)]
                    elif ext == "csv":
                        problems += [f"{p.name} (from {nb}): {bad}"
                                     for bad in table_file_problems(p)]
                if item not in manifest["items"]:
                    problems.append(f"{item} (from {nb}) is not in MANIFEST.json")
                elif kind == "figures":
                    problems += [f"{item} (from {nb}) {bad}"
                                 for bad in panel_problems(manifest["items"][item])]
    if set(CONCLUSION_NOTEBOOKS) <= set(notebooks):
        # the verdict table: present, recorded, one verdict per claim of the paper
        checked += [figures_dir / f"{CONCLUSIONS}.{ext}" for ext in ("csv", "md")]
        try:
            conclusions.check_complete(figures_dir)
        except InputError as exc:
            problems.append(f"{CONCLUSIONS}.csv (from notebooks 02-05): {exc}")
        if not (figures_dir / f"{CONCLUSIONS}.md").exists():
            problems.append(f"{CONCLUSIONS}.md (from notebooks 02-05) is missing")
        if CONCLUSIONS not in manifest["items"]:
            problems.append(f"{CONCLUSIONS} (from notebooks 02-05) is not in MANIFEST.json")
    if problems:
        raise InputError("; ".join(problems), path=figures_dir)
    return checked

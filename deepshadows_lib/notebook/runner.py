"""Run the notebooks (the paper's five, and 06 beyond it) with papermill; check their outputs.

``make paper-figures`` calls ``deepshadows figures`` once per notebook (so that make can
skip what is up to date) and then ``deepshadows figures --check``.  The notebooks' source
is the jupytext percent-format ``notebooks/NN_name.py``; it is converted in memory and
executed by papermill into ``build/PROFILE/NN_name.ipynb`` (kept, ignored by git), with the
run's parameters injected into the cell tagged ``parameters``.

Inside a notebook, :func:`configure` turns those parameters into a :class:`RunConfig`:
the profile's sizes, the paths where notebooks pass results to each other, and a
:class:`~deepshadows_lib.manifest.Reporter` that saves figures and tables with their
provenance.
"""

import dataclasses
import json
import time
import typing
from pathlib import Path

import numpy as np

from . import profiles as _profiles
from .errors import InputError

__all__ = ["NOTEBOOKS", "EXPECTED", "CONCLUSIONS", "CONCLUSION_NOTEBOOKS", "NOTEBOOK_DIR", "RunConfig", "configure", "start",
           "NotebookStart", "run_notebook", "run_all", "check_outputs", "NotebookFailed"]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
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


@dataclasses.dataclass
class RunConfig:
    """Everything a notebook needs to know about its run.

    Attributes
    ----------
    profile : deepshadows_lib.profiles.Profile
        Sizes (with ``n_per_class`` and ``epochs`` overridden when given).
    data : str
        ``"synthetic"`` or the path of a store of real DES cutouts.
    seed : int
        Seed of the run.
    build_dir : pathlib.Path
        Where notebooks pass results to each other (stores, models, predictions).
    figures_dir : pathlib.Path
        Where figures, tables and ``MANIFEST.json`` go.
    """

    profile: _profiles.Profile
    data: str
    seed: int
    build_dir: Path
    figures_dir: Path

    @property
    def simulated(self):
        """True when the run uses the synthetic survey."""
        return self.data == "synthetic"

    def path(self, name):
        """Path of an intermediate result in the build directory."""
        return self.build_dir / name

    @property
    def des_store(self):
        """The DES store (LSBGs, type-2 and type-1 artifacts) of this run."""
        return self.path("des.zarr") if self.simulated else Path(self.data)

    @property
    def hsc_store(self):
        """The HSC store (LSBGs and artifacts) for the transfer study."""
        return self.path("hsc.zarr")

    def parameters(self):
        """The run's parameters as a plain dict (for the manifest)."""
        return {"profile": self.profile.as_parameters(), "data": self.data,
                "seed": self.seed, "build_dir": str(self.build_dir)}

    def run_id(self, store=None):
        """A short identifier of this run: its parameters and its data's content hash
        (:func:`deepshadows_lib.conclusions.run_id`).  Notebooks reuse one another's
        results only when made under the same identifier."""
        from .conclusions import run_id
        sha = store.attrs.get("content_sha256") if store is not None else None
        return run_id(self.parameters(), sha)

    def reporter(self, notebook, *, data=None, simulated=None):
        """A :class:`~deepshadows_lib.manifest.Reporter` for ``notebook`` of this run.

        ``simulated`` defaults to true for a synthetic run, otherwise to the flag of the
        data (a real DES store with a simulated HSC store is marked simulated).
        """
        from .manifest import Reporter
        if data is None:
            data = {"source": self.data, "simulated": self.simulated}
        if simulated is None and self.simulated:
            simulated = True
        return Reporter(notebook=notebook, figures_dir=self.figures_dir,
                        parameters=self.parameters(), data=data, seed=self.seed,
                        simulated=simulated)


def configure(*, profile="default", data="synthetic", seed=42, build_dir=None,
              figures_dir=None, n_per_class=None, epochs=None, **overrides):
    """Turn a notebook's parameters into a :class:`RunConfig`.

    Parameters
    ----------
    profile : str
        ``smoke``, ``default`` or ``paper``.
    data : str
        ``"synthetic"`` or the path of a store of real cutouts.
    seed : int
        Seed of the run.
    build_dir, figures_dir : str or path-like, optional
        Default ``build/PROFILE`` and ``figures`` at the top of the project.
    n_per_class, epochs : int, optional
        Override the profile's sizes (None keeps them).
    **overrides
        Any other field of :class:`~deepshadows_lib.profiles.Profile`.

    Notes
    -----
    Points :func:`deepshadows_lib.training.set_checkpoint_root` at
    ``build_dir/checkpoints``: every training of the notebook then saves its state after
    each epoch, and a notebook run again after a kill resumes where it stopped.
    """
    prof = _profiles.get_profile(profile)
    changes = {k: v for k, v in dict(n_per_class=n_per_class, epochs=epochs, **overrides).items()
               if v is not None}
    if epochs is not None and "train_steps" not in overrides:
        changes["train_steps"] = None  # epochs asked for: they replace the step budget
    if changes:
        prof = dataclasses.replace(prof, **changes)
    root = NOTEBOOK_DIR.parent
    build = Path(build_dir) if build_dir else root / "build" / prof.name
    figs = Path(figures_dir) if figures_dir else root / "figures"
    if data != "synthetic" and not Path(data).exists():
        raise InputError("data must be 'synthetic' or the path of a cutout store",
                         path=data)
    build.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    # every training of the notebook checkpoints each epoch: a killed run resumes
    from . import training
    training.set_checkpoint_root(build / "checkpoints")
    return RunConfig(profile=prof, data=str(data), seed=int(seed), build_dir=build,
                     figures_dir=figs)


# --------------------------------------------------------------------------- running
def _to_notebook(name):
    import jupytext
    src = Path(name) if str(name).endswith(".py") else NOTEBOOK_DIR / f"{name}.py"
    if not src.exists():
        raise InputError(f"no notebook {name!r}; known: {', '.join(NOTEBOOKS)}", path=src)
    nb = jupytext.read(src)
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)",
                                          "language": "python", "name": "python3"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def _record_cells(executed, figures_dir, name):
    """Add the cell (index and id) that saved each item to the manifest."""
    from ._io import atomic_write_json
    from .manifest import MARKER, read_manifest
    manifest = read_manifest(figures_dir)
    items = manifest.get("items", {})
    for index, cell in enumerate(executed.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in str(text).splitlines():
                if line.startswith(MARKER):
                    item = line[len(MARKER):].split(":", 1)[0].strip()
                    if item in items and items[item].get("notebook") == name:
                        items[item]["cell"] = {"index": index, "id": cell.get("id"),
                                               "execution_count": cell.get("execution_count")}
    if items:
        atomic_write_json(Path(figures_dir) / "MANIFEST.json", manifest)


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
        Further parameters (e.g. ``{"n_per_class": 50}``).

    Raises
    ------
    NotebookFailed
        With the notebook's name, the failing cell's index and the error, in one line.
    """
    import nbformat
    import papermill as pm
    root = NOTEBOOK_DIR.parent
    build = Path(build_dir) if build_dir else root / "build" / str(profile)
    figs = Path(figures_dir) if figures_dir else root / "figures"
    build.mkdir(parents=True, exist_ok=True)
    nb = _to_notebook(name)
    name = Path(name).stem
    source = build / f".{name}.source.ipynb"
    nbformat.write(nb, source)
    params = {"profile": str(profile), "data": str(data), "seed": int(seed),
              "build_dir": str(build.resolve()), "figures_dir": str(figs.resolve())}
    params.update(parameters or {})
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
    _record_cells(executed, figs, name)
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


def _image_ok(path):
    from PIL import Image
    with Image.open(path) as im:
        im.load()
        arr = np.asarray(im.convert("L"), dtype=float)
    if arr.size == 0 or arr.std() < 2.0:
        return "is blank"
    if min(arr.shape) < 100:
        return f"is too small ({arr.shape[1]}x{arr.shape[0]})"
    return None


def check_outputs(figures_dir, *, notebooks=NOTEBOOKS):
    """Check that every expected figure and table exists, opens and is not blank.

    Returns
    -------
    list of pathlib.Path
        The files checked.

    Raises
    ------
    InputError
        Listing every missing, unreadable or blank file, with the notebook that makes it.
    """
    figures_dir = Path(figures_dir)
    problems, checked = [], []
    manifest_path = figures_dir / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"items": {}}
    for nb in notebooks:
        for kind, exts in (("figures", ("png", "pdf")), ("tables", ("csv", "md"))):
            for item in EXPECTED[nb][kind]:
                for ext in exts:
                    p = figures_dir / f"{item}.{ext}"
                    checked.append(p)
                    if not p.exists() or p.stat().st_size == 0:
                        problems.append(f"{p.name} (from {nb}) is missing")
                    elif ext == "png":
                        try:
                            bad = _image_ok(p)
                        except Exception as exc:  # PIL raises several types
                            bad = f"does not open as an image ({type(exc).__name__})"
                        if bad:
                            problems.append(f"{p.name} (from {nb}) {bad}")
                if item not in manifest["items"]:
                    problems.append(f"{item} (from {nb}) is not in MANIFEST.json")
    if set(CONCLUSION_NOTEBOOKS) <= set(notebooks):
        # the verdict table: present, recorded, one verdict per claim of the paper
        from . import conclusions
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


# --------------------------------------------------------------------------- data
#: Store attributes that identify a simulation (a store with the same values is reused).
_SIM_KEYS = ("survey", "seed", "classes", "n_per_class", "generator_version")


def simulated_store(path, *, n_per_class, survey, classes, seed, chunk_size=1024,
                    progress=True):
    """The synthetic store at ``path``: reused when it holds exactly this simulation,
    simulated (or resumed) otherwise.

    Returns
    -------
    deepshadows_lib.store.Store
        Opened lazily.
    """
    from . import simulate
    from .store import open_store, store_info
    want = {"survey": survey, "seed": int(seed), "classes": list(classes),
            "n_per_class": int(n_per_class), "generator_version": simulate.GENERATOR_VERSION}
    try:
        info = store_info(path)
    except InputError:
        info = None
    if info is not None and all(info.get(k) == v for k, v in want.items()):
        if info.get("complete"):
            return open_store(path, lazy=True)
        overwrite = False  # same job, interrupted: resume it
    else:
        overwrite = info is not None
    return simulate.simulate_survey(path, n_per_class=n_per_class, survey=survey,
                                    classes=classes, seed=seed, chunk_size=chunk_size,
                                    overwrite=overwrite, progress=progress)


def prepare_data(cfg, *, progress=True):
    """The stores of a run: ``{"des": Store, "hsc": Store}``.

    For ``data="synthetic"`` the DES-like store holds LSBGs and both artifact types
    (``cfg.profile.n_per_class`` each) and the HSC-like store LSBGs and artifacts
    (``cfg.profile.n_hsc_per_class`` each), both simulated with the run's seed (HSC with
    seed + 1 so the two surveys do not share objects).  Otherwise ``cfg.data`` is the
    path of a store of real DES cutouts with ``label`` and ``class_name`` columns, and the
    HSC store is ``build_dir/hsc.zarr`` when the user put real HSC cutouts there
    (``deepshadows download --catalog Datasets/hsc_LSBGs.dat --layer hsc2 ...``), else a
    simulated one (and the HSC figures then say so).
    """
    from .store import open_store, store_info
    p = cfg.profile
    if cfg.simulated:
        des = simulated_store(cfg.des_store, n_per_class=p.n_per_class, survey="des",
                              classes=("lsbg", "artifact2", "artifact1"), seed=cfg.seed,
                              chunk_size=p.chunk_size, progress=progress)
    else:
        des = open_store(cfg.des_store, lazy=True)
        missing = {"label", "class_name"} - set(des.catalog.columns)
        if missing:
            raise InputError(f"store has no {', '.join(sorted(missing))} column: label the "
                             "objects (LSBG = 1) before training", path=cfg.des_store)
    hsc_path = cfg.hsc_store
    try:
        real_hsc = not store_info(hsc_path).get("simulated", False)
    except InputError:
        real_hsc = False
    if real_hsc:
        hsc = open_store(hsc_path, lazy=True)
    else:
        hsc = simulated_store(hsc_path, n_per_class=p.n_hsc_per_class, survey="hsc",
                              classes=("lsbg", "artifact2"), seed=cfg.seed + 1,
                              chunk_size=p.chunk_size, progress=progress)
    return {"des": des, "hsc": hsc}


@dataclasses.dataclass
class Problem:
    """The cutouts, labels and split of one classification problem.

    Attributes
    ----------
    images : numpy.ndarray
        (N, 64, 64, 3) uint8 cutouts of the classes of the problem.
    catalog : pandas.DataFrame
        Their catalog rows (index 0..N-1).
    labels : numpy.ndarray
        Binary labels (1 = LSBG) or, for three classes, ``class_index``.
    split : dict
        ``train``, ``validation``, ``test`` index arrays into ``images``, and ``kind``
        (``baseline`` or ``random``).
    classes : tuple of str
    store : deepshadows_lib.store.Store
        The store the problem was read from (for provenance).
    """

    images: np.ndarray
    catalog: object
    labels: np.ndarray
    split: dict
    classes: tuple
    store: object

    @property
    def simulated(self):
        return bool(self.store.attrs.get("simulated", False))

    def subset(self, name):
        """``(rows, labels)`` of the train, validation or test set."""
        rows = self.split[name]
        return rows, self.labels[rows]


def load_problem(store, *, classes=("lsbg", "artifact2"), seed=42):
    """Select a problem's classes from a store and split it as the paper did.

    Parameters
    ----------
    store : deepshadows_lib.store.Store
        A store with ``class_name`` (and ``label``) columns.
    classes : tuple of str
        ``("lsbg", "artifact2")`` for the binary problem of the main text, all three for
        Appendix A (labels are then ``class_index``).
    seed : int
        Seed of the random split used when the objects are not the paper's (see
        :func:`deepshadows_lib.catalogs.paper_split`).
    """
    from .catalogs import CLASS_INDEX, paper_split
    cat = store.catalog
    if "class_name" not in cat.columns:
        raise InputError("store has no class_name column", path=store.path)
    mask = cat["class_name"].isin(classes).to_numpy()
    if not mask.any():
        raise InputError(f"store holds none of the classes {', '.join(classes)}",
                         path=store.path)
    rows = np.flatnonzero(mask)
    images = np.asarray(store.images[:])[rows] if len(rows) < len(cat) else \
        np.asarray(store.images[:])
    sub = cat.iloc[rows].reset_index(drop=True)
    if len(classes) == 2:
        labels = (sub["class_name"] == "lsbg").to_numpy().astype(np.int64)
    else:
        labels = sub["class_name"].map(CLASS_INDEX).to_numpy().astype(np.int64)
    split = paper_split(sub, seed=seed)
    return Problem(images=images, catalog=sub, labels=labels, split=split,
                   classes=tuple(classes), store=store)


class NotebookStart(typing.NamedTuple):
    """What a paper notebook starts from (:func:`start`)."""

    cfg: RunConfig
    stores: dict
    problem: Problem
    report: object


def start(notebook, *, classes=("lsbg", "artifact2"), progress=False, **parameters):
    """The set-up of a paper notebook: configuration, data, problem and reporter.

    Parameters
    ----------
    notebook : str
        The notebook's name (``"02_deepshadows"``), under which its outputs are recorded.
    classes : tuple of str
        The classes of the notebook's problem (:func:`load_problem`).
    progress : bool
        Progress bars while the stores are simulated.
    **parameters
        The notebook's parameter cell (``profile``, ``data``, ``n_per_class``, ``epochs``,
        ``seed``, ``build_dir``, ``figures_dir``), passed to :func:`configure`.

    Returns
    -------
    NotebookStart
        ``(cfg, stores, problem, report)``: the :class:`RunConfig`, the stores of
        :func:`prepare_data`, the DES problem of ``classes`` split as the paper did, and
        the notebook's :class:`~deepshadows_lib.manifest.Reporter` (data: the DES store).
    """
    cfg = configure(**parameters)
    stores = prepare_data(cfg, progress=progress)
    problem = load_problem(stores["des"], classes=classes, seed=cfg.seed)
    return NotebookStart(cfg, stores, problem, cfg.reporter(notebook, data=stores["des"]))


def data_table(problems):
    """Table 1: objects per class in each set, beside the paper's numbers.

    Parameters
    ----------
    problems : dict
        ``{name: Problem}``, e.g. ``{"binary": ..., "three-class": ...}``.
    """
    import pandas as pd
    paper = {("binary", "train"): 30000, ("binary", "validation"): 5000,
             ("binary", "test"): 5000, ("three-class", "train"): 45000,
             ("three-class", "validation"): 7500, ("three-class", "test"): 7500}
    rows = []
    for name, prob in problems.items():
        for part in ("train", "validation", "test"):
            r = prob.split[part]
            classes = prob.catalog["class_name"].iloc[r].value_counts()
            row = {"problem": name, "set": part, "objects": len(r),
                   "objects (paper)": paper.get((name, part))}
            for c in ("lsbg", "artifact2", "artifact1"):
                row[c] = int(classes.get(c, 0)) if c in prob.classes else None
            rows.append(row)
    return pd.DataFrame(rows).set_index(["problem", "set"])


def example_images(problem, *, per_class=6, seed=0):
    """A few random cutouts of each label of a problem: ``{label: (n, 64, 64, 3)}``."""
    rng = np.random.default_rng(seed)
    out = {}
    for label in np.unique(problem.labels):
        rows = np.flatnonzero(problem.labels == label)
        pick = rng.choice(rows, size=min(per_class, len(rows)), replace=False)
        out[int(label)] = problem.images[np.sort(pick)]
    return out

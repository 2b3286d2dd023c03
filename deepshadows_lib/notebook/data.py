"""The data of the notebooks: the run's stores, each notebook's problem and its split.

:func:`prepare_data` simulates (or reuses, or resumes) the synthetic DES-like and HSC-like
stores of a run, or opens a store of real cutouts; :func:`load_problem` selects a problem's
classes and splits them as the paper did; :func:`data_table` and :func:`example_images`
are the inputs of Table 1 and Fig. 1.
"""

import dataclasses

import numpy as np
import pandas as pd

from .. import simulate
from .. import paper, schema
from ..catalogs import paper_split
from ..errors import InputError
from ..store import open_store, store_info

__all__ = ["simulated_store", "prepare_data", "Problem", "load_problem", "data_table",
           "example_images", "example_panels", "type1_examples", "test_set",
           "reusable_runs", "same_split_run", "epochs_like_binary", "split_sizes",
           "other_head", "PANEL_NAMES", "PLUS_HEADS"]

#: The two heads of plus (:func:`deepshadows_lib.plus.train_plus`): Flatten -> Dense 1024
#: as the paper, or global average pooling.
PLUS_HEADS = ("flatten", "gap")

#: Row names of the example figures (Fig. 1 and the three classes of this run).
PANEL_NAMES = {"lsbg": "LSBGs", "artifact2": "Type-2", "artifact1": "Type-1"}


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
        labels = sub["class_name"].map(schema.CLASS_INDEX).to_numpy().astype(np.int64)
    split = paper_split(sub, seed=seed)
    return Problem(images=images, catalog=sub, labels=labels, split=split,
                   classes=tuple(classes), store=store)


def data_table(problems):
    """Table 1: objects per class in each set, beside the paper's numbers.

    Parameters
    ----------
    problems : dict
        ``{name: Problem}``, e.g. ``{"binary": ..., "three-class": ...}``.
    """
    sizes = {"train": paper.N_TRAIN, "validation": paper.N_VALIDATION, "test": paper.N_TEST}
    # the paper's three-class sets hold a third class as large as each binary one
    paper_sizes = {("binary", part): n for part, n in sizes.items()}
    paper_sizes.update({("three-class", part): n * 3 // 2 for part, n in sizes.items()})
    rows = []
    for name, prob in problems.items():
        for part in ("train", "validation", "test"):
            r = prob.split[part]
            classes = prob.catalog["class_name"].iloc[r].value_counts()
            row = {"problem": name, "set": part, "objects": len(r),
                   "objects (paper)": paper_sizes.get((name, part))}
            for c in ("lsbg", "artifact2", "artifact1"):  # Table 1's column order
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


def example_panels(problem, *, per_class=6, seed=0):
    """Fig. 1's rows: ``{row name: (n, 64, 64, 3) cutouts}``, LSBGs first.

    A binary problem gives LSBGs and Artifacts; a three-class one LSBGs, Type-2 and
    Type-1 (:data:`PANEL_NAMES`).
    """
    examples = example_images(problem, per_class=per_class, seed=seed)
    if len(problem.classes) == 2:
        return {"LSBGs": examples[1], "Artifacts": examples[0]}
    order = ("lsbg", "artifact2", "artifact1")
    return {PANEL_NAMES[c]: examples[schema.CLASS_INDEX[c]] for c in order
            if schema.CLASS_INDEX[c] in examples}


def type1_examples(problem, *, n=12, seed=0):
    """Fig. A10: ``n`` type-1 artifacts of a three-class problem in two rows."""
    images = example_images(problem, per_class=n, seed=seed)[schema.CLASS_INDEX["artifact1"]]
    half = (len(images) + 1) // 2
    return {"Type-1": images[:half], "artifacts": images[half:]}


def test_set(problem, predictions):
    """The cutouts, labels and scores of saved test predictions (notebook 2's).

    Parameters
    ----------
    problem : Problem
        The problem the predictions index (their ``row`` column).
    predictions : pandas.DataFrame
        :func:`deepshadows_lib.tables.load_predictions`' result.

    Returns
    -------
    images, labels, p : numpy.ndarray
    """
    rows = predictions["row"].to_numpy()
    return (problem.images[rows], predictions["label"].to_numpy(),
            predictions["p_lsbg"].to_numpy())


def reusable_runs(run, *, seed, split):
    """``{seed: run}`` when notebook 2's CNN ``run`` (or None) is a random split of this
    seed, to reuse in the random-split study; else None (a paper split is not random)."""
    return {seed: run} if run and split["kind"] == "random" else None


def same_split_run(runs, *, seed, split):
    """The run of ``runs`` made on this seed's random split (the noise-free run of the
    label-noise study), or None."""
    same = [r for r in runs if r["seed"] == seed and split["kind"] == "random"]
    return same[0] if same else None


def epochs_like_binary(profile, *, binary_run, problem):
    """Epochs of the three-class model: under a step budget the binary CNN's (so that it
    sees each object as often as that model), from notebook 2's ``binary_run`` when it was
    made, else the profile's budget for ``problem``'s training set."""
    n = len(binary_run["train_idx"]) if binary_run else len(problem.split["train"])
    return profile.epochs_for(n)


def split_sizes(problem):
    """Objects in each set of a problem's split: ``{"train": n, "validation": n, "test": n}``."""
    return {k: len(v) for k, v in problem.split.items() if k != "kind"}


def other_head(head):
    """The plus head that is not ``head`` (the ablation's head variant)."""
    return next(h for h in PLUS_HEADS if h != head)

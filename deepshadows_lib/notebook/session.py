"""The set-up at the top of every notebook: its run configuration, data and reporter.

Inside a notebook, :func:`configure` turns the parameters papermill injected into a
:class:`RunConfig`: the profile's sizes, the paths where notebooks pass results to each
other, and a :class:`~deepshadows_lib.manifest.Reporter` that saves figures and tables with
their provenance.  :func:`start` does that and loads the notebook's stores and problem.
"""

import dataclasses
import typing
from pathlib import Path

from .. import profiles as _profiles
from .. import training
from ..conclusions import run_id
from ..errors import InputError
from ..manifest import Reporter
from .data import Problem, load_problem, prepare_data

__all__ = ["NOTEBOOK_DIR", "RunConfig", "configure", "NotebookStart", "start"]

#: The notebooks' jupytext sources (``NN_name.py``) and their paired ``.ipynb``.
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent.parent / "notebooks"


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
        sha = store.attrs.get("content_sha256") if store is not None else None
        # where the build directory lives changes no result: a checkout moved elsewhere
        # (or a colleague's) keeps its identifiers
        params = {k: v for k, v in self.parameters().items() if k != "build_dir"}
        return run_id(params, sha)

    def reporter(self, notebook, *, data=None, simulated=None):
        """A :class:`~deepshadows_lib.manifest.Reporter` for ``notebook`` of this run.

        ``simulated`` defaults to true for a synthetic run, otherwise to the flag of the
        data (a real DES store with a simulated HSC store is marked simulated).
        """
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
    training.set_checkpoint_root(build / "checkpoints")
    return RunConfig(profile=prof, data=str(data), seed=int(seed), build_dir=build,
                     figures_dir=figs)


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

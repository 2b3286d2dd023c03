"""The notebooks' side of the library: run them, set them up, feed them data, trace them.

* :mod:`.runner` -- execute the notebooks with papermill (:func:`run_notebook`,
  :func:`run_all`), what each must produce (:data:`NOTEBOOKS`, :data:`EXPECTED`) and the
  smoke check of their outputs (:func:`check_outputs`);
* :mod:`.session` -- the set-up cell of a notebook (:func:`configure`, :func:`start`,
  :class:`RunConfig`);
* :mod:`.data` -- the stores and problems of a run (:func:`prepare_data`,
  :func:`load_problem`, :func:`data_table`, :func:`example_images`);
* :mod:`.cells` -- the notebook cell behind each figure (:func:`explain`);
* :mod:`.checks` -- blank images, empty panels, impossible numbers in tables.

Layer L6: it may import every other module of the library.
"""

from .cells import check_manifest, explain, upgrade_manifest
from .data import (PANEL_NAMES, PLUS_HEADS, Problem, data_table, epochs_like_binary,
                   example_images, example_panels, load_problem, other_head, prepare_data,
                   reusable_runs, same_split_run, simulated_store, split_sizes, test_set,
                   type1_examples)
from .runner import (CONCLUSION_NOTEBOOKS, CONCLUSIONS, EXPECTED, NOTEBOOKS, NotebookFailed,
                     check_outputs, run_all, run_notebook)
from .session import NOTEBOOK_DIR, NotebookStart, RunConfig, configure, start

__all__ = ["NOTEBOOKS", "EXPECTED", "CONCLUSIONS", "CONCLUSION_NOTEBOOKS", "NOTEBOOK_DIR",
           "RunConfig", "configure", "start", "NotebookStart", "run_notebook", "run_all",
           "check_outputs", "NotebookFailed", "simulated_store", "prepare_data", "Problem",
           "load_problem", "data_table", "example_images", "example_panels", "type1_examples",
           "test_set", "reusable_runs", "same_split_run", "epochs_like_binary", "split_sizes",
           "other_head", "PANEL_NAMES", "PLUS_HEADS", "explain", "check_manifest",
           "upgrade_manifest"]

"""Former home of the notebook runner; now :mod:`deepshadows_lib.notebook`.

Kept so that ``from deepshadows_lib import pipeline; pipeline.start(...)`` in notebooks
saved before the split, the benchmarks and user scripts keep working.  New code imports
:mod:`deepshadows_lib.notebook` (or its modules ``runner``, ``session``, ``data``).
"""

from .notebook import (CONCLUSION_NOTEBOOKS, CONCLUSIONS, EXPECTED, NOTEBOOK_DIR, NOTEBOOKS,
                       NotebookFailed, NotebookStart, Problem, RunConfig, check_outputs,
                       configure, data_table, example_images, load_problem, prepare_data,
                       run_all, run_notebook, simulated_store, start)

__all__ = ["NOTEBOOKS", "EXPECTED", "CONCLUSIONS", "CONCLUSION_NOTEBOOKS", "NOTEBOOK_DIR",
           "RunConfig", "configure", "start", "NotebookStart", "run_notebook", "run_all",
           "check_outputs", "NotebookFailed", "simulated_store", "prepare_data", "Problem",
           "load_problem", "data_table", "example_images"]

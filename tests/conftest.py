"""Fixtures shared by test modules."""

import pytest

from deepshadows_lib import pipeline


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The five notebooks executed in order through papermill in the smoke profile.

    Returns ``(build, figures)``.  Shared by tests/test_notebooks.py (figures, tables,
    manifest) and tests/test_lab.py, whose JupyterLab run reuses the stores and the
    finished training checkpoints of ``build``.
    """
    base = tmp_path_factory.mktemp("smoke")
    build, figures = base / "build", base / "figures"
    for name in pipeline.NOTEBOOKS:
        try:
            pipeline.run_notebook(name, profile="smoke", build_dir=build, figures_dir=figures,
                                  progress=False)
        except pipeline.NotebookFailed as exc:
            pytest.fail(str(exc))
    return build, figures

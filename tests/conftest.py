"""Fixtures shared by test modules: small stores, untrained networks, the smoke run.

Session-scoped, so that a store is simulated and a network built once per test run;
tests must not modify what these return (copy first).
"""

import numpy as np
import pytest

from deepshadows_lib import pipeline, simulate, store

SHARED_SEED = 11


@pytest.fixture(scope="session")
def simulated_objects():
    """``(images, catalog)``: 4 simulated DES-like objects of each of the three classes."""
    return simulate.simulate_objects(n_per_class=4, classes=("lsbg", "artifact2", "artifact1"),
                                     seed=SHARED_SEED)


@pytest.fixture(scope="session")
def simulated_store(simulated_objects, tmp_path_factory):
    """The path of a cutout store holding :func:`simulated_objects` (chunks of 5)."""
    images, catalog = simulated_objects
    path = tmp_path_factory.mktemp("shared") / "simulated.zarr"
    store.write_store(path, images, catalog, chunk_size=5, attrs={"survey": "des"})
    return path


@pytest.fixture(scope="session")
def random_images():
    """Eight uint8 cutouts of uniform noise (64 x 64 x 3)."""
    return np.random.default_rng(SHARED_SEED).integers(0, 256, size=(8, 64, 64, 3),
                                                        dtype=np.uint8)


@pytest.fixture(scope="session")
def binary_model():
    """The paper's binary network, untrained (weights from seed 0)."""
    from deepshadows_lib import models, training
    training.set_seed(0)
    return models.build_deepshadows(1)


@pytest.fixture(scope="session")
def three_class_model():
    """The three-class network of Appendix A, untrained (weights from seed 0)."""
    from deepshadows_lib import models, training
    training.set_seed(0)
    return models.build_deepshadows(3)


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
